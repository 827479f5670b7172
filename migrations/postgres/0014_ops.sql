-- Operations (issue 15): the KPI rollup, rebuilt from the event log, and dashboard sessions.
--
-- kpi_orders holds one row of facts per order, derived only from order_events (times of
-- received, fulfilment requested, shipped, delivered; correction, change, return, rating) and
-- the order's own tables (channel, total, promised date, warehouse, carrier). It is never
-- counted into: `crate::kpi::refresh` recomputes the row of every order whose events are new,
-- and `ordergate report rebuild` recomputes them all. The reports group it by period.
CREATE TABLE kpi_orders (
    order_id                TEXT PRIMARY KEY,
    received_at             BIGINT NOT NULL,
    -- Days since 1970-01-01 (UTC) and the month as yyyymm: the periods group on them.
    day                     BIGINT NOT NULL,
    month                   BIGINT NOT NULL,
    state                   TEXT NOT NULL,
    channel                 TEXT NOT NULL,
    connector               TEXT NOT NULL,
    warehouse               TEXT,
    carrier                 TEXT,
    currency                TEXT,
    -- The grand total in thousandths of the currency unit.
    total_milli             BIGINT,
    fulfilment_requested_at BIGINT,
    shipped_at              BIGINT,
    delivered_at            BIGINT,
    promised_at             BIGINT,
    corrected               BIGINT NOT NULL,
    changed                 BIGINT NOT NULL,
    returned                BIGINT NOT NULL,
    rating                  BIGINT
);
CREATE INDEX kpi_orders_received ON kpi_orders (received_at);

-- How far into order_events the rollup has read.
CREATE TABLE kpi_watermark (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);

-- Dashboard sessions: the SHA-256 of the cookie's value (the value itself is never stored),
-- who signed in with which token role, and the CSRF token every form carries.
CREATE TABLE ui_sessions (
    id_hash    TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    role       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
CREATE INDEX exceptions_kind ON exceptions (kind, order_id);
-- The connectors page: each connector's newest order.
CREATE INDEX orders_connector_created ON orders (connector, created_at);
-- The order list, newest first (the dashboard's orders page, `GET /api/orders`).
CREATE INDEX orders_created ON orders (created_at, id);
-- (orders by external_id: indexed by 0012.)
