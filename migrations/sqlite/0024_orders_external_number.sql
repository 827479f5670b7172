-- The order number customers know (`#1042`, the status page's look-up) as a column of its own,
-- written with the canonical order, instead of an index on an expression over the canonical
-- JSON (computed again for every row version written, every state transition included).
ALTER TABLE orders ADD COLUMN external_number TEXT;
UPDATE orders SET external_number = json_extract(canonical, '$.source.external_number');
DROP INDEX orders_external_number;
CREATE INDEX orders_external_number ON orders (external_number);
