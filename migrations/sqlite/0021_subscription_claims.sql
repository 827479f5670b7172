-- Who is registering a parcel with its tracker right now (Unix ms; 0: nobody): a copy of
-- `shipment.created` redelivered while the first is still registering waits instead of making a
-- second tracker at an aggregator that does not dedupe (EasyPost, Shippo). A claim older than
-- one registration's longest duration belongs to a worker that died and is taken over.
ALTER TABLE tracking_subscriptions ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0;
