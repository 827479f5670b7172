-- Push-backs of shipment and tracking to the marketplace an order came from (stage
-- `pushback`). A row is written BEFORE the platform is called (status `intended`, claimed
-- until `claimed_until` by the one worker calling), so a retry whose answer was never seen
-- looks the platform's fulfilments up instead of creating a second one; the platform's proof
-- (fulfilment / shipment id, or `accepted:<request id>`) is stored with status `pushed`.
-- unit_key: `order` (one push-back per order) or the shipment id (one per parcel).
-- status: intended | pushed | failed (refused: an exception was raised).
-- how: created | found | already_fulfilled | repushed (reconciliation).
CREATE TABLE pushbacks (
    order_id      TEXT NOT NULL,
    unit_key      TEXT NOT NULL,
    connector     TEXT NOT NULL,
    status        TEXT NOT NULL,
    proof         TEXT,
    how           TEXT,
    tracking      TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    claimed_until BIGINT NOT NULL,
    checked_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (order_id, unit_key)
);
CREATE INDEX pushbacks_connector ON pushbacks (connector, status, updated_at);
