-- Keys and routes of the queue's tables compare byte by byte (COLLATE
-- "C"), as the SQLite store's do. Every queued, leased, settled or
-- looked-up record compares them in the B-trees of entries, delivered
-- and dead_letters; under the database's locale each comparison went
-- through strcoll (10% of the server's CPU on the hot path, with C.UTF-8,
-- the cheapest locale). Equality is the same under any deterministic
-- collation; only ORDER BY key changes, to byte order. The indexes on
-- these columns are rebuilt once; the tables are not rewritten.
ALTER TABLE entries ALTER COLUMN route TYPE text COLLATE "C", ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE delivered ALTER COLUMN route TYPE text COLLATE "C", ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE dead_letters ALTER COLUMN route TYPE text COLLATE "C", ALTER COLUMN key TYPE text COLLATE "C";
