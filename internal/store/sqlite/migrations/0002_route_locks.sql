-- One run of a route at a time: the run lock, held by a worker until a
-- time it keeps extending while it runs.
CREATE TABLE route_locks (
    route TEXT PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;

-- Leased entries by key: a failed older version of a record must not be
-- retried when a newer version of it is already in flight (it would
-- overwrite the newer data at the destination). Expired-lease scans read
-- the route's few leased rows through this index too.
DROP INDEX entries_leased;
CREATE INDEX entries_leased ON entries (route, key) WHERE status = 'L';
