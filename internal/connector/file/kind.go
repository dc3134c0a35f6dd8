// Package fileconn is the file connector: a source that consumes the CSV,
// NDJSON or JSON files of a folder, and a destination that writes one
// file per run (a feed), published atomically.
package fileconn

import (
	"context"
	"fmt"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Kind is the `file` connector module.
func Kind() connector.Kind {
	return connector.Kind{
		Name:    "file",
		Summary: "CSV, NDJSON and JSON files: consume a folder's files; write one file per run (a feed with a constant latest name)",
		Doc:     doc,
		Source: &connector.SourcePart{
			Spec: connector.Spec{
				Config:   func() any { return &SourceConfig{} },
				Defaults: func(cfg any) { cfg.(*SourceConfig).defaults() },
				Validate: func(c connector.Checker, cfg any) { report(c, cfg.(*SourceConfig).check()) },
				Caps:     []connector.Capability{connector.CapAck},
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Source, error) {
				c, ok := cfg.(*SourceConfig)
				if !ok {
					return nil, fmt.Errorf("file source: config is %T, expected *fileconn.SourceConfig", cfg)
				}
				return NewSource(env, *c)
			},
		},
		Destination: &connector.DestinationPart{
			Spec: connector.Spec{
				Config:   func() any { return &DestinationConfig{} },
				Defaults: func(cfg any) { cfg.(*DestinationConfig).defaults() },
				Validate: func(c connector.Checker, cfg any) { report(c, cfg.(*DestinationConfig).check()) },
				Caps:     []connector.Capability{connector.CapRunFile, connector.CapPreview},
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Destination, error) {
				c, ok := cfg.(*DestinationConfig)
				if !ok {
					return nil, fmt.Errorf("file destination: config is %T, expected *fileconn.DestinationConfig", cfg)
				}
				return NewDestination(env, *c)
			},
		},
	}
}

func report(c connector.Checker, ps problems) {
	for _, p := range ps {
		c.Errorf(p.field, "%s", p.msg)
	}
}

const doc = "The `file` connector reads and writes CSV, NDJSON and JSON files in a folder.\n" +
	"No system is needed; a relative `dir` is relative to the config file.\n" +
	`
## Source: consume the files of a folder

` + "```yaml" + `
routes:
  orders:
    source:
      file:
        dir: inbox/orders
        glob: "orders-*.csv"
        format: csv
        key: order_id
        types: { total: number, quantity: int, paid: bool }
    destinations:
      default:
        http: { system: erp, path: /orders/batch, body: array }
` + "```" + `

Every file matching ` + "`glob`" + ` is read in name order, streamed (a file larger
than memory is fine), ` + "`page_size`" + ` records per page. A file is
*acknowledged* only after all its records are durably queued: then it is
moved into ` + "`done/`" + ` under ` + "`dir`" + ` (created if needed; a file of the same
name already there is kept, the new one becomes ` + "`name-2.csv`" + `) or deleted
(` + "`after_read: delete`" + `). A file that is not acknowledged (ferry stopped in
between) is read again next time; its records are queued again by key,
which makes that harmless.

- **csv**: the first line names the columns (spaces around the names are
  trimmed), or ` + "`header: false`" + ` and ` + "`columns:`" + ` do; every value is a string unless ` + "`types:`" + ` converts it
  (` + "`number`" + `, ` + "`int`" + `, ` + "`bool`" + ` accepting true/false, yes/no, 1/0; an empty cell
  becomes null). A UTF-8 byte order mark is skipped.
- **ndjson**: one JSON object per line; blank lines are skipped.
- **json**: one array of objects per file, or an object around it:
  ` + "`records: data`" + ` reads ` + "`{\"data\": [...], \"meta\": {...}}`" + ` (the other fields are
  skipped). Either way the array is streamed, not loaded whole.

A file whose name ends in ` + "`.gz`" + ` is decompressed as it is read
(` + "`glob: \"orders-*.csv.gz\"`" + `).

A malformed line or record fails the read with the file and line
(` + "`orders-1.csv line 57: 3 fields, expected 4`" + `) and leaves that file in
place, not acknowledged; the files after it wait, so files are always
consumed in name order (a price list of the 29th never lands before the
28th's). Fix or remove it and the next run goes on. With ` + "`invalid: move`" + `
the file goes to ` + "`failed/`" + ` under ` + "`dir`" + ` instead, with the reason beside it
in ` + "`<name>.error`" + `, and the read goes on with the next file. Either way,
records of the file's pages before the bad line may already be queued;
they are queued again, by key, when the file is read again.

**Files being copied in.** A reader cannot tell a file that is still
being written from a finished one. Producers should write to a name the
glob does not match (` + "`orders-1.csv.tmp`" + `, or a name starting with a dot:
such files are never read) and rename it when complete; a rename is
atomic. Where producers cannot, ` + "`settle: 30s`" + ` skips files modified in the
last 30 seconds. A file replaced under the same name while it was read is
left in place and read again next time.

## Destination: one file per run (a feed)

` + "```yaml" + `
    destinations:
      default:
        file:
          dir: feeds
          name: "{route}-{run}.{ext}"     # orders-20261130T043839Z.csv
          format: csv
          columns: [sku, name, price]
          latest: products-latest.csv    # always the last completed run's file
` + "```" + `

Each run's records are appended to ` + "`<name>.part`" + `, streamed; every batch is
synced to disk before its records count as delivered. When the run ends
the file is closed and renamed to ` + "`<name>`" + `: a reader never sees half a
file, only a ` + "`.part`" + ` (skip those). ` + "`latest`" + `, when set, is then replaced
atomically by the run's file (a hard link, or a copy, renamed over it).

Placeholders of ` + "`name`" + `: ` + "`{route}`" + ` the route, ` + "`{run}`" + ` the run's start time
in UTC (` + "`20261130T043839Z`" + `), ` + "`{run_id}`" + ` the run's number, ` + "`{date}`" + ` its
start date (` + "`2026-11-30`" + `), ` + "`{ext}`" + ` the format (` + "`csv`" + `, ` + "`ndjson`" + `, ` + "`json`" + `). If
that name is taken (two runs in one second) the file is numbered
(` + "`orders-20261130T043839Z-2.csv`" + `). A name without ` + "`{run}`" + `, ` + "`{run_id}`" + ` or
` + "`{date}`" + ` is replaced by each run's file. Two file destinations must not
share a folder and a name; several routes sharing a folder need
` + "`{route}`" + ` in the name.

- **csv**: a header line from ` + "`columns`" + `, then each record's columns in that
  order; a missing field or null is an empty cell, objects and arrays are
  written as JSON.
- **ndjson**: one object per line.
- **json**: one array, one object per line.

` + "`keep: 30`" + ` removes the oldest run files of the route after each run,
keeping the 30 newest (` + "`latest`" + ` is not counted; by default every file is
kept).

**The feed manifest.** Beside the files the destination keeps
` + "`.<name>.feed.json`" + ` (e.g. ` + "`.orders-{run}.csv.feed.json`" + `): which run wrote
each published file, its size and records, and whether the run
completed. ` + "`ferry serve`" + ` lists and serves the files from it at
` + "`/feeds/<route>`" + ` (see [Feeds](../feeds.md)); ` + "`public_token`" + ` lets a shop
download them without an API token. Readers of the folder skip dot
files as they skip ` + "`.part`" + `s.

**A run without records** writes no file and leaves ` + "`latest`" + ` as it is
(` + "`empty: skip`" + `, the default: a route polled every minute does not fill the
folder with empty files). With ` + "`empty: write`" + ` it writes a file holding only
the CSV header, an empty NDJSON file or ` + "`[]`" + `, and replaces ` + "`latest`" + `.

**A run that did not complete** (failed, cancelled) is still published:
its records were delivered. ` + "`latest`" + ` keeps the last completed run's file.
**A run that died** (ferry was killed) leaves its ` + "`.part`" + `; the next run of
the route finishes it first: a torn last record (never reported
delivered) is cut off, a JSON array is closed, and the file is published
under its name. Records written but not yet settled when ferry died are
sent again, so a feed may hold a record twice across two files; dedupe
by key if that matters.

Files cannot delete: a delete delivery fails without retry.
`
