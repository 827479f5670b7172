-- ordergate store, SQLite dialect. Times are milliseconds since the Unix epoch (UTC).

-- Every ingested document, byte for byte.
CREATE TABLE raw_documents (
    id          TEXT PRIMARY KEY,
    connector   TEXT NOT NULL,
    format      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    source_name TEXT,
    received_at BIGINT NOT NULL,
    content     BLOB NOT NULL,
    UNIQUE (connector, sha256)
);

-- One canonical order per connector + external id.
CREATE TABLE orders (
    id            TEXT PRIMARY KEY,
    connector     TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    state         TEXT NOT NULL,
    source_status TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    canonical     TEXT NOT NULL,
    raw_id        TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (connector, external_id)
);
CREATE INDEX orders_state ON orders (state, updated_at);

-- The audit trail: append-only.
CREATE TABLE order_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id   TEXT NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    cause      TEXT NOT NULL,
    data       TEXT
);
CREATE INDEX order_events_order ON order_events (order_id, seq);
CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;

-- Exceptions: something a person owns until it is resolved.
CREATE TABLE exceptions (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    status      TEXT NOT NULL,
    order_id    TEXT,
    raw_id      TEXT,
    message_id  TEXT,
    stage       TEXT,
    connector   TEXT,
    department  TEXT NOT NULL,
    owner       TEXT,
    due_at      BIGINT,
    reason      TEXT NOT NULL,
    root_cause  TEXT,
    resolution  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX exceptions_status ON exceptions (status, created_at);

-- The dead-letter store: messages a stage gave up on, kept for `ordergate dlq replay`.
CREATE TABLE parked_messages (
    id           TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    envelope     TEXT NOT NULL,
    error        TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    exception_id TEXT NOT NULL,
    parked_at    BIGINT NOT NULL,
    replayed_at  BIGINT
);
CREATE INDEX parked_pending ON parked_messages (replayed_at, parked_at);

-- Events committed with a stage's effects, published after commit.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope_id   TEXT NOT NULL UNIQUE,
    envelope      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    claimed_until BIGINT
);

-- Messages a consumer has already applied: a redelivery has no second effect.
CREATE TABLE inbox (
    consumer     TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX inbox_age ON inbox (processed_at);

-- Per-connector cursor, health and polling lease.
CREATE TABLE connector_state (
    connector            TEXT PRIMARY KEY,
    cursor               TEXT,
    health               TEXT NOT NULL,
    last_success_at      BIGINT,
    last_error           TEXT,
    last_error_at        BIGINT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    lease_owner          TEXT,
    lease_until          BIGINT,
    updated_at           BIGINT NOT NULL
);

-- The embedded bus: one row per message per queue.
CREATE TABLE bus_messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue          TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    body           TEXT NOT NULL,
    visible_at     BIGINT NOT NULL,
    lease_token    TEXT,
    lease_until    BIGINT,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    enqueued_at    BIGINT NOT NULL
);
CREATE INDEX bus_messages_ready ON bus_messages (queue, visible_at, seq);
