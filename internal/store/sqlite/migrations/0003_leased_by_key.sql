-- Leased entries by key: a failed older version of a record must not be
-- retried when a newer version of it is already in flight (it would
-- overwrite the newer data at the destination). Expired-lease scans read
-- the route's few leased rows through this index too.
DROP INDEX entries_leased;
CREATE INDEX entries_leased ON entries (route, key) WHERE status = 'L';
