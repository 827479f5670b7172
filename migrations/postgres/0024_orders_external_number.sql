-- The order number customers know (`#1042`, the status page's look-up) as a column of its own,
-- written with the canonical order. Its index used to be on an expression that parsed the
-- whole canonical JSON as jsonb, and PostgreSQL computes an expression index on every row
-- version it writes: every state transition paid for parsing the order again.
ALTER TABLE orders ADD COLUMN external_number TEXT;
UPDATE orders SET external_number = (canonical::jsonb) #>> '{source,external_number}';
DROP INDEX orders_external_number;
CREATE INDEX orders_external_number ON orders (external_number);
