-- A route's queue in ID order, for the dashboard's queue browser and
-- Entries (route = ? [AND status = ?] [AND key = ?] AND id > ? ORDER BY id
-- LIMIT n: keyset pages). Without these a page of one route scanned the
-- table from the start through every route's entries, or sorted all the
-- route's entries of that status: 0.15 to 0.6 s a page with 1,000,000
-- entries (internal/dashboard/bench_test.go).
--
-- All statuses: key is in the index so a key filter is checked without
-- reading the rows; neither column changes, so leasing and settling
-- (status changes) leave the index alone. It costs the core about 7% (go
-- run ./bench, bench/README.md "Dashboard").
CREATE INDEX entries_route_id ON entries (route, id, key);
-- Errors are few among many pending entries: their pages read them alone
-- instead of walking the whole route (or table) in ID order. Error entries
-- are not on the hot path, so these cost nothing measurable.
CREATE INDEX entries_error_id ON entries (route, id) WHERE status = 'E';
CREATE INDEX entries_errors ON entries (id) WHERE status = 'E';
-- A route's newest run of a status (the service's last success, for every
-- route on the overview): runs_status walked every route's runs of that
-- status back to the route's newest, all of them when it has none (20 ms a
-- route with 2,400 runs). Runs are written a few times per run: free.
CREATE INDEX runs_route_status ON runs (route, status);
-- The hot statements (lease, counts, coalescing, settle) keep their
-- indexes or move to one of the same status (TestQueryPlansUseIndexes);
-- an index on (route, id) or (route, status) alone would take some of them
-- over from their partial indexes and scan the route. Leased entries have
-- no such index: one costs the core another 3-4% for the "sending" tab.
