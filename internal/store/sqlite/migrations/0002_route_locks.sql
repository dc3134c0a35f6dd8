-- One run of a route at a time: the run lock, held by a worker until a
-- time it keeps extending while it runs.
CREATE TABLE route_locks (
    route TEXT PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;

