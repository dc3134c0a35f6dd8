package sqlconn

const postgresDoc = "A PostgreSQL database that `sql` sources, destinations and operations\n" +
	"name with `system:`. The pool opens on first use (an example config loads\n" +
	"without the database) and is shared by every route using the system.\n\n" +
	"```yaml\nsystems:\n  erp:\n    postgres:\n      dsn: ${env:ERP_DSN}     # postgres://ferry:secret@db:5432/erp\n      max_connections: 8\n```\n\n" +
	"The DSN and its password never appear in a message, log line or stored\n" +
	"excerpt. `ferry` pings the database for health checks.\n"

const mysqlDoc = "A MariaDB or MySQL database for `sql` sources, destinations and operations.\n" +
	"The DSN is go-sql-driver's form; ferry reads and writes times in UTC (it\n" +
	"sets the session's `time_zone` to `+00:00` unless the DSN sets `loc` or\n" +
	"`time_zone`).\n\n" +
	"```yaml\nsystems:\n  shopdb:\n    mysql:\n      dsn: ${env:SHOP_DSN}    # ferry:secret@tcp(db:3306)/shop\n```\n\n" +
	"MariaDB reports JSON columns as text: list them in the source's `json:`\n" +
	"to read them as JSON values.\n"

const sqliteDoc = "A SQLite database file for `sql` sources, destinations and operations,\n" +
	"relative to the config file's folder.\n\n" +
	"```yaml\nsystems:\n  local:\n    sqlite:\n      path: data/stock.db\n```\n\n" +
	"SQLite has no real types: integers, reals, text and blobs come back as\n" +
	"they are stored. Columns declared `DATETIME`/`TIMESTAMP` are shown in\n" +
	"RFC 3339 (text without a zone is taken as UTC), but a cursor on such a\n" +
	"column keeps the stored text, because SQLite compares it as text.\n"

const sqlDoc = "Reads a query, writes a table, runs statements: on PostgreSQL, MariaDB/MySQL\n" +
	"and SQLite (`system:` names a `postgres`, `mysql` or `sqlite` system).\n\n" +
	"**Source.** Your `query` is wrapped as a subquery and read page by page with\n" +
	"keyset pagination, `ORDER BY cursor, key` starting strictly after the last\n" +
	"(cursor, key) read, so rows sharing one `updated_at` are neither skipped nor\n" +
	"repeated and memory holds one page, however many rows there are. An\n" +
	"incremental run starts after the cursor value stored by the run before. Give\n" +
	"the table an index on (cursor, key) for large tables. Rows whose key is NULL\n" +
	"are not read; rows whose cursor is NULL are read by full reads only.\n" +
	"Values map to JSON faithfully: NUMERIC/DECIMAL exact (strings by default,\n" +
	"numbers with `decimals: number`, never through a float), integers beyond\n" +
	"2^53 exact, timestamps in RFC 3339 (UTC, full precision), DATE as\n" +
	"YYYY-MM-DD, bytes as base64, json/jsonb as JSON values, PostgreSQL arrays as\n" +
	"JSON arrays, NULL as null.\n" +
	"The source can tell which keys still exist, so records deleted after\n" +
	"capture are pruned before sending.\n\n" +
	"```yaml\nsource:\n  sql:\n    system: erp\n    query: SELECT id, customer, total, updated_at FROM orders WHERE status = 'paid'\n" +
	"    key: id\n    cursor: updated_at\n```\n\n" +
	"**Change capture.** With a `capture:` block (PostgreSQL, MariaDB/MySQL) the\n" +
	"source reads the keys that triggers on a watched table wrote into an\n" +
	"integration table (`ferry capture install ROUTE` creates both), in order,\n" +
	"a page at a time: the last change of each key wins, its current row comes\n" +
	"from the query, a deleted row is reported as a delete (`deletes: send`),\n" +
	"and a page's changes are cleared only after it is queued, so a crash in\n" +
	"between loses nothing. On PostgreSQL the trigger also notifies the route.\n" +
	"See [change capture](../capture.md).\n\n" +
	"```yaml\nsource:\n  sql:\n    system: erp\n    query: SELECT id, status, total FROM orders\n    key: id\n" +
	"    capture: { table: orders, when: \"NEW.status <> 'draft'\" }\n```\n\n" +
	"**Destination.** `table:` upserts each batch in one transaction\n" +
	"(`INSERT … ON CONFLICT (key) DO UPDATE` on PostgreSQL and SQLite,\n" +
	"`ON DUPLICATE KEY UPDATE` on MariaDB/MySQL); the record's fields are the\n" +
	"columns (or `columns:`), the key columns need a unique index. A replay\n" +
	"changes nothing. A delete (`deletes: send`) deletes the key's row. Or\n" +
	"`statement:` runs your statement per record with named parameters\n" +
	"(`:field`, `:key`). When the database refuses a row (constraint, type,\n" +
	"length), only that row fails, with the database's message; the others are\n" +
	"written (savepoints isolate it). Data errors are not retried; connection\n" +
	"errors, deadlocks and timeouts are.\n\n" +
	"```yaml\ndestinations:\n  default:\n    sql: { system: erp, table: public.orders, key: id }\n```\n\n" +
	"**Operation.** `statement:` with named parameters, for `after:` and\n" +
	"`on_error:` (`:error` is the error there).\n\n" +
	"```yaml\nafter:\n  - sql: { system: shop, statement: \"UPDATE orders SET status = 'Delivered' WHERE id = :key\" }\n```\n"
