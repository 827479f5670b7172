-- Who is booking an order's labels right now: the ship stage claims the first parcel's row
-- (claimed_at, Unix ms) before it calls the carrier, refreshes it before every call and clears it
-- when done, so a redelivered copy of the same message (the broker lost the connection while the
-- first was still buying) waits instead of buying a second label. A claim older than one call
-- chain's longest duration belongs to a worker that died and is taken over.
ALTER TABLE carrier_labels ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0;
