-- Carrier labels bought for orders, and documents kept with an order (labels, dispatch
-- documents, delivery notes). Times are Unix milliseconds (UTC).

-- One label purchase per parcel, keyed by ordergate's own key (outbound::carrier::label_key,
-- derived from order + parcel) and written BEFORE the carrier is called, so a retry whose
-- answer was never seen looks the key up at the carrier instead of buying a second label.
-- status: intended (call under way or unanswered) | bought | refused | dispatched (no API:
-- a dispatch document, tracking entered later).
CREATE TABLE carrier_labels (
    lkey            TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    warehouse       TEXT,
    status          TEXT NOT NULL,
    -- The purchase as the carrier answered it (tracking number, rate, ETA, label URL), JSON.
    result          TEXT,
    -- The pickup requested for it, if any (JSON), so it is asked for once.
    pickup          TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX carrier_labels_order ON carrier_labels (order_id);

-- Documents kept with an order: (order, kind, name) is unique, so storing one again (a
-- redelivered message) keeps the first.
CREATE TABLE order_documents (
    order_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content      BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (order_id, kind, name)
);
