-- The delivered content, split by how it is used. The rows read on the hot
-- path (a record read again is compared by hash) stay small, keyed by
-- route and key; the payloads (read only by ferry resend) go to their own
-- table keyed by entry ID, which grows at its end as entries are
-- delivered. Keys arrive in no order on most sources, and every page a
-- transaction touches is written whole to the WAL: with the payload inline,
-- 500 scattered keys touched nearly 500 pages of a tree 5x as large,
-- settling 10x slower than with sequential keys.
CREATE TABLE delivered_payloads (
    entry_id INTEGER PRIMARY KEY,
    payload  BLOB NOT NULL
);
INSERT INTO delivered_payloads (entry_id, payload) SELECT entry_id, payload FROM delivered;

CREATE TABLE delivered_keys (
    route        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    entry_id     INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    hash         TEXT    NOT NULL DEFAULT '',
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (route, key)
) WITHOUT ROWID;
INSERT INTO delivered_keys (route, key, entry_id, version, hash, delivered_at)
    SELECT route, key, entry_id, version, hash, delivered_at FROM delivered;
DROP TABLE delivered;
ALTER TABLE delivered_keys RENAME TO delivered;

-- A payload exists exactly for each delivered row. Settle writes delivered
-- rows while the delivered entry still exists (it is deleted after), so
-- the payload is copied from it here, set-based, inside SQLite.
CREATE TRIGGER delivered_payload_insert AFTER INSERT ON delivered BEGIN
    INSERT OR REPLACE INTO delivered_payloads (entry_id, payload)
        SELECT id, payload FROM entries WHERE id = new.entry_id;
END;
CREATE TRIGGER delivered_payload_update AFTER UPDATE OF entry_id ON delivered
    WHEN old.entry_id != new.entry_id BEGIN
    DELETE FROM delivered_payloads WHERE entry_id = old.entry_id;
    INSERT OR REPLACE INTO delivered_payloads (entry_id, payload)
        SELECT id, payload FROM entries WHERE id = new.entry_id;
END;
CREATE TRIGGER delivered_payload_delete AFTER DELETE ON delivered BEGIN
    DELETE FROM delivered_payloads WHERE entry_id = old.entry_id;
END;
