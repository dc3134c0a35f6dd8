-- The last delivered content of each key: its hash tells a record read
-- again unchanged (not sent again), its payload is what ferry resend
-- sends, and its entry ID keeps an older version from being replayed
-- or retried over it.
CREATE TABLE delivered (
    route        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    entry_id     INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    hash         TEXT    NOT NULL DEFAULT '',
    payload      BLOB    NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (route, key)
) WITHOUT ROWID;
