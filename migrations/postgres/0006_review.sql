-- Review (issue 12 step 3) and change/cancel (step 6).
--
-- The duplicates rule asks for earlier orders of the same customer with the same lines: both
-- keys are derived from the canonical order when it is stored (crate::rules::review), so the
-- question is one indexed lookup that finds nothing for almost every order.
ALTER TABLE orders ADD COLUMN customer_key TEXT;
ALTER TABLE orders ADD COLUMN lines_key TEXT;
CREATE INDEX orders_by_customer ON orders (customer_key, lines_key, created_at);

-- A customer's reply in the thread of the message an order came in names that message's
-- Message-ID (In-Reply-To / References): found by this column.
ALTER TABLE orders ADD COLUMN origin_message_id TEXT;
CREATE INDEX orders_by_origin_message ON orders (origin_message_id);

-- Changes and cancels asked for through the API, by their Idempotency-Key: the same key again
-- is the same change (its first answer), never a second one; the key with another request is
-- refused.
CREATE TABLE order_changes (
    order_id     TEXT NOT NULL,
    change_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (order_id, change_id)
);
