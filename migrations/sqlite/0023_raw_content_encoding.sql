-- How a raw document's bytes are kept: NULL as received, 'deflate' as a raw DEFLATE stream of
-- them (written when that saves a tenth or more). `size` and `sha256` are always those of the
-- bytes as received, which reading gives back.
ALTER TABLE raw_documents ADD COLUMN content_encoding TEXT;
