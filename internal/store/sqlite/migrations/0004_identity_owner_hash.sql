-- The store's identity: random, created once with the store, mixed into
-- every idempotency key so two stores never hand out the same key.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));

-- What an attempt was: '' for a delivery, 'after[0]' for an outbox
-- operation, 'discard', 'resend', 'retry' for a user's command.
ALTER TABLE attempts ADD COLUMN op TEXT NOT NULL DEFAULT '';

-- The run lock owner of the worker executing a run, so the run of a dead
-- worker can be closed; and the records read again unchanged.
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0;
-- Running runs are few; AbandonRuns finds them without a scan.
CREATE INDEX runs_running ON runs (route) WHERE status = 'running';

-- The content hash given at enqueue, and the batch of a request whose
-- outcome was unknown (retried together first).
ALTER TABLE entries ADD COLUMN hash TEXT NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN batch TEXT NOT NULL DEFAULT '';
