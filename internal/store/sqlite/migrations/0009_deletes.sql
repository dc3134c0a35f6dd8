-- Deletes (change capture reports deleted keys): an entry, a dead letter
-- or a key's delivered content can be a delete of its key, delivered as
-- such when the route sends deletes. Rare, so 0 costs nothing on the
-- hot path (SQLite stores a 0 in the record header alone).
ALTER TABLE entries ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE delivered ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
-- Records dropped before sending because their key no longer exists at
-- the source (deleted after capture), or deletes of a route that ignores
-- them.
ALTER TABLE runs ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;
