-- Shipments (one row per parcel), their carrier history, tracking updates nobody shipped yet,
-- and registrations with tracking aggregators. Times are Unix milliseconds (UTC).

-- A parcel of an order, as a warehouse or carrier reported it. One parcel per carrier +
-- tracking number, whoever reports it again.
CREATE TABLE shipments (
    id                 TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL,
    warehouse          TEXT,
    carrier            TEXT NOT NULL,
    carrier_name       TEXT,
    tracking_number    TEXT NOT NULL,
    service            TEXT,
    items              TEXT NOT NULL,
    -- The canonical tracking status on the lattice (pre_transit … delivered); exception,
    -- failed_attempt and returned are kept beside it in side_status.
    status             TEXT NOT NULL,
    side_status        TEXT,
    raw_code           TEXT,
    location           TEXT,
    description        TEXT,
    first_scan_at      BIGINT,
    last_scan_at       BIGINT,
    eta                BIGINT,
    promised_at        BIGINT,
    delivered_at       BIGINT,
    -- What the sweep found (late, lost) and the one open exception it raised for it.
    delay              TEXT,
    delay_exception_id TEXT,
    -- The open exception raised for the carrier's own exception / failed attempt / return.
    alert_exception_id TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (carrier, tracking_number)
);
CREATE INDEX shipments_order ON shipments (order_id);
CREATE INDEX shipments_open ON shipments (delivered_at, updated_at);

-- Each parcel's carrier history; an event is kept once whatever callbacks repeat it.
CREATE TABLE shipment_events (
    shipment_id  TEXT NOT NULL,
    event_key    TEXT NOT NULL,
    occurred_at  BIGINT,
    status       TEXT,
    raw_code     TEXT,
    location     TEXT,
    description  TEXT,
    raw_id       TEXT,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (shipment_id, event_key)
);

-- Tracking updates for a carrier + tracking number no shipment has (yet): kept, and attached
-- when the shipment appears.
CREATE TABLE tracking_unattached (
    id              TEXT PRIMARY KEY,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    connector       TEXT NOT NULL,
    raw_id          TEXT NOT NULL,
    update_json     TEXT NOT NULL,
    exception_id    TEXT,
    received_at     BIGINT NOT NULL,
    shipment_id     TEXT,
    attached_at     BIGINT,
    UNIQUE (carrier, tracking_number, raw_id)
);
CREATE INDEX tracking_unattached_number ON tracking_unattached (carrier, tracking_number);

-- A parcel's registration with a tracking aggregator (or its polling schedule): written
-- before the aggregator is called, so a retry looks up instead of creating twice.
CREATE TABLE tracking_subscriptions (
    connector       TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    shipment_id     TEXT NOT NULL,
    status          TEXT NOT NULL,
    external_id     TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_poll_at    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (connector, carrier, tracking_number)
);
CREATE INDEX tracking_subscriptions_due ON tracking_subscriptions (status, next_poll_at);
