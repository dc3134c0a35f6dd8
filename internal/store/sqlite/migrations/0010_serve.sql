-- ferry serve: several processes may share one store, so what must happen
-- once (the scheduler, the rescuer) is taken through it. Times are unix
-- milliseconds, 0 for none, as everywhere in the store.

-- Leadership of a role (e.g. "scheduler"): held by owner until a time it
-- keeps extending; like route_locks, one row per role.
CREATE TABLE leaders (
    role  TEXT PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;

-- Heartbeats of the processes sharing the store; a row whose until passed
-- is a dead process for the rescuer.
CREATE TABLE processes (
    id         TEXT PRIMARY KEY,
    host       TEXT    NOT NULL DEFAULT '',
    pid        INTEGER NOT NULL DEFAULT 0,
    version    TEXT    NOT NULL DEFAULT '',
    listen     TEXT    NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    until      INTEGER NOT NULL
) WITHOUT ROWID;

-- The scheduler's state per scheduled route: the next tick (moved by
-- compare-and-set, so two schedulers never both fire one tick), the
-- schedule it was computed from, and what became of past ticks.
CREATE TABLE ticks (
    route      TEXT PRIMARY KEY,
    spec       TEXT    NOT NULL,
    next       INTEGER NOT NULL,
    last_fired INTEGER NOT NULL DEFAULT 0,
    skipped    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- ListRuns filters by status across routes (the API's run list).
CREATE INDEX runs_status ON runs (status);
