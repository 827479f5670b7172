-- Fulfilment orders placed with warehouses. A row is written with ordergate's own key
-- (outbound::warehouse::fulfilment_key) BEFORE the warehouse is called, so a retry whose
-- answer was never seen looks the key up at the warehouse instead of creating it again.
-- status: intended (call under way or unanswered) | requested | packed | shipped | cancelled.
CREATE TABLE fulfilments (
    fkey        TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    warehouse   TEXT NOT NULL,
    remote_id   TEXT,
    status      TEXT NOT NULL,
    lines       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX fulfilments_order ON fulfilments (order_id);
CREATE INDEX fulfilments_remote ON fulfilments (warehouse, remote_id);

-- Orders waiting for stock: which SKUs they lack (a JSON array) and the one shortage
-- exception raised for them, resolved when they are allocated.
CREATE TABLE backorders (
    order_id     TEXT PRIMARY KEY,
    skus         TEXT NOT NULL,
    exception_id TEXT NOT NULL,
    since        BIGINT NOT NULL
);

-- Warehouse messages already acted on, by the partner's own dedupe id (Qimen outBizCode, a
-- webhook id): a repeated confirmation adds nothing.
CREATE TABLE warehouse_messages (
    warehouse   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (warehouse, message_id)
);
