-- Customer and department e-mails, feedback links, department webhook deliveries, and the
-- lookup of an order by the number people see (status page). Times are Unix milliseconds.

-- One e-mail, recorded (rendered, with the Message-ID we generated) before any SMTP
-- transaction. status: pending → sending (claimed, before DATA) → data (DATA under way) →
-- sent; a definite refusal goes back to pending with next_at, or to parked; a send whose
-- outcome was never seen (crash or broken connection during DATA) becomes unknown and is
-- never sent again by itself (an exception names the Message-ID).
CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    -- One e-mail per order and event: `<notice>:<order>:<scope>`.
    dedupe_key  TEXT NOT NULL UNIQUE,
    order_id    TEXT,
    notice      TEXT NOT NULL,
    lang        TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    sender      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    -- The whole RFC 5322 message as it is sent.
    raw         TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    claimed_at  BIGINT,
    last_error  TEXT,
    smtp_reply  TEXT,
    exception_id TEXT,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX notices_due ON notices (status, next_at);
CREATE INDEX notices_order ON notices (order_id);

-- Feedback links of delivered e-mails: the SHA-256 of the token (the token itself is only in
-- the e-mail); a token works once.
CREATE TABLE feedback_tokens (
    token_hash TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL,
    notice_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    rating     BIGINT
);

-- Department webhook deliveries: one per subscriber and event; the id is the delivery id
-- the receiver dedupes on. status: pending → sending → delivered | parked.
CREATE TABLE subscriber_deliveries (
    id           TEXT PRIMARY KEY,
    subscriber   TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    body         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    claimed_at   BIGINT,
    last_error   TEXT,
    last_status  BIGINT,
    exception_id TEXT,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    updated_at   BIGINT NOT NULL,
    UNIQUE (subscriber, event_id)
);
CREATE INDEX subscriber_deliveries_due ON subscriber_deliveries (status, next_at);

-- The order number customers know (`#1042`), for the status page.
CREATE INDEX orders_external_number ON orders (json_extract(canonical, '$.source.external_number'));
CREATE INDEX orders_external_id ON orders (external_id);
