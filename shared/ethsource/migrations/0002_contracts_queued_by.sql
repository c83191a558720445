-- The submission batch that queued the contract's current scan: a batch inserts (or re-opens) many rows in
-- one statement and reads back which of them it queued, so concurrent batches still queue an address once.
ALTER TABLE contracts ADD COLUMN queued_by BINARY(16) NULL;
