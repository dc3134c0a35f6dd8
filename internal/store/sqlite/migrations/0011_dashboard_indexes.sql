-- Indexes for the dashboard's pages, none on the hot path.
--
-- Errors are few among many pending entries: the queue browser's error
-- tab and the errors page read them alone in ID order instead of walking
-- the whole route (or table): the errors page of all routes went from
-- 6.8 s to 0.45 s with 1,000,000 entries (internal/dashboard/bench_test.go).
-- Entries enter and leave E only on a failed attempt or a retry: these
-- cost the core nothing measurable.
CREATE INDEX entries_error_id ON entries (route, id) WHERE status = 'E';
CREATE INDEX entries_errors ON entries (id) WHERE status = 'E';
-- A route's newest run of a status (the service's last success, for every
-- route on the overview): runs_status walked every route's runs of that
-- status back to the route's newest, all of them when it has none (20 ms a
-- route with 2,400 runs). Runs are written a few times per run: free.
CREATE INDEX runs_route_status ON runs (route, status);
--
-- Not here, on purpose: an index of every entry by (route, id). It makes
-- a page deep in one route of 1,000,000 pending entries fast (0.6 s ->
-- 0.1 s) but costs every enqueue and settle about 7% of the core's
-- throughput (go run ./bench, three pairs). Routes of 10,000 entries page
-- in 2-11 ms without it. The hot statements (lease, counts, coalescing,
-- settle) keep their partial indexes (TestQueryPlansUseIndexes).
