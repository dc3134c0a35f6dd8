-- The content hash of a dead letter (its entry's hash), so a record read
-- again with the content that died is not queued again under a new key
-- on every run: it waits in the error history for ferry retry --dead.
ALTER TABLE dead_letters ADD COLUMN hash TEXT NOT NULL DEFAULT '';
