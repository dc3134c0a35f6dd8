-- The queue. AUTOINCREMENT so an entry ID is never reused: the idempotency
-- key of a delivery includes it, and a reused ID could make a destination
-- mistake a new record for one it already has.
CREATE TABLE entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    route           TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0
);

-- At most one queued (P or E) entry per key: coalescing is an upsert on it.
CREATE UNIQUE INDEX entries_queued_key ON entries (route, key) WHERE status IN ('P', 'E');
-- The main pass: pending entries, highest priority first, then oldest.
CREATE INDEX entries_pending ON entries (route, priority DESC, id) WHERE status = 'P';
-- The error pass: due errors.
CREATE INDEX entries_due ON entries (route, next_attempt_at) WHERE status = 'E';
-- Leased entries: counts, owners, expired leases. Small: bounded by workers x batch.
CREATE INDEX entries_leased ON entries (route, lease_until) WHERE status = 'L';

-- Attempts outlive their entries: they are the history of done and dead ones.
CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id        INTEGER NOT NULL,
    route           TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    run_id          INTEGER NOT NULL DEFAULT 0,
    at              INTEGER NOT NULL,
    outcome         TEXT    NOT NULL,
    status_code     INTEGER NOT NULL DEFAULT 0,
    error           TEXT    NOT NULL DEFAULT '',
    request         TEXT    NOT NULL DEFAULT '',
    response        TEXT    NOT NULL DEFAULT '',
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX attempts_entry ON attempts (entry_id);
CREATE INDEX attempts_route ON attempts (route); -- rowid is the implicit second column

CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id   INTEGER NOT NULL,
    route      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    payload    BLOB    NOT NULL,
    priority   INTEGER NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    died_at    INTEGER NOT NULL
);
CREATE INDEX dead_letters_route_key ON dead_letters (route, key);

CREATE TABLE cursors (
    route      TEXT PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    route      TEXT    NOT NULL,
    trigger    TEXT    NOT NULL DEFAULT '',
    mode       TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER NOT NULL DEFAULT 0,
    iterations INTEGER NOT NULL DEFAULT 0,
    collected  INTEGER NOT NULL DEFAULT 0,
    sent       INTEGER NOT NULL DEFAULT 0,
    done       INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    dead       INTEGER NOT NULL DEFAULT 0,
    skipped    INTEGER NOT NULL DEFAULT 0,
    error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_route ON runs (route);
