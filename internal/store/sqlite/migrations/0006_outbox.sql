-- Operations owed after a settlement (after: of a delivered record,
-- on_error: of a new dead letter), written in the settlement's own
-- transaction so a crash never loses them; run until done or dead.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    route           TEXT    NOT NULL,
    entry_id        INTEGER NOT NULL,
    key             TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    op              TEXT    NOT NULL,
    record          BLOB    NOT NULL,
    vars            BLOB    NOT NULL,
    idempotency_key TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    dead            INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0
);
-- Due items of a route; dead ones stay for the history and ferry retry.
CREATE INDEX outbox_due ON outbox (route, next_attempt_at) WHERE dead = 0;
-- Prune keeps the attempts of entries that still own an outbox item or a
-- dead letter: both are looked up by entry ID.
CREATE INDEX outbox_entry ON outbox (entry_id);
CREATE INDEX dead_letters_entry ON dead_letters (entry_id);
