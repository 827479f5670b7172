-- When ordergate asked the warehouse to cancel a fulfilment order (Unix ms; NULL: it did not,
-- or the warehouse refused). Recorded before the call, so the warehouse's "cancelled" callback
-- that overtakes its answer is known as the echo of ordergate's own cancel, not the warehouse
-- dropping its part of an order that goes on.
ALTER TABLE fulfilments ADD COLUMN cancel_asked_at BIGINT;
