// Package connector declares what ferry reads from and writes to. Each kind
// of outside system lives in its own sub-package (http/, later sql/, file/).
// A connector never touches the store: the engine owns the queue.
package connector

import (
	"context"
	"time"
)

// Record is one record as decoded from JSON.
type Record = map[string]any

// SourceRecord is a record read from a source with its business key and
// cursor value extracted.
type SourceRecord struct {
	Key    string
	Cursor string // value of the cursor field, "" when the route has none
	Data   Record
	// Deleted: the source reports that the record of Key was deleted
	// (change capture); Data holds what is known of it (at least the key).
	Deleted bool
}

// Page is one page read from a source.
type Page struct {
	Number  int    // 1-based page number within this read
	URL     string // what was requested, for messages (a file and line range, a queue)
	Records []SourceRecord
	// Ack, when set, acknowledges the page's input at the source (a
	// broker's messages, a file moved to done/). The engine calls it only
	// after every record of the page is durably queued (or settled as
	// filtered or unchanged); input never acknowledged is read again.
	// The engine queues one page behind the read, so the last pages may
	// be acknowledged after Read has returned: keep what Ack needs (a
	// broker channel) open until then or until the source is closed.
	Ack func(ctx context.Context) error
}

// ReadRequest tells a source where to start.
type ReadRequest struct {
	Cursor string // incremental watermark; "" in full mode or on first run
	Full   bool
}

// Source reads records page by page. Read calls fn for each page in order
// and stops at the end of the data, at the first error, or when fn returns
// an error (which Read returns unchanged). ErrStop from fn ends the read
// without error.
type Source interface {
	Read(ctx context.Context, req ReadRequest, fn func(context.Context, Page) error) error
}

// ErrStop may be returned by a page callback to end a read early.
var ErrStop = stopError{}

type stopError struct{}

func (stopError) Error() string { return "stop reading" }

// Delivery is one record handed to a destination.
type Delivery struct {
	EntryID        int64
	Key            string
	IdempotencyKey string         // stable across retries of one entry version
	Record         Record         // after the route's steps
	Vars           map[string]any // key, entry... for templates in paths and headers
	// Deleted: deliver a delete of Key (a route with deletes: send).
	Deleted bool
}

// Result is the outcome of one delivery, read per record.
type Result struct {
	OK         bool
	Retryable  bool // false: retrying cannot help (e.g. HTTP 422)
	StatusCode int
	Error      string
	Request    string        // excerpt of what was sent for this record
	Response   string        // excerpt of what came back for this record
	RetryAfter time.Duration // from a Retry-After header, 0 when none
	Duration   time.Duration
	// Skipped: an answer rule settled the record as skipped (OK is false,
	// nothing is retried, it leaves the queue as skipped).
	Skipped bool
	// Unknown: the request may have been applied though no usable answer
	// came back (timeout, dropped connection, 5xx, a short result array).
	// The engine retries such a batch first with the same composition, so
	// it carries the same batch idempotency key.
	Unknown bool
}

// Destination delivers a batch. Send returns exactly one Result per
// Delivery, in the same order; a failure of the whole request fails every
// record with the same reason. It returns an error only when ctx ended,
// together with the results when it has them (the OK ones were delivered;
// the others may not have been tried).
type Destination interface {
	Send(ctx context.Context, batch []Delivery) ([]Result, error)
}

// Preview is what a destination would send for one record, rendered
// exactly as Send renders it (paths, headers, body encoding), for dry runs.
type Preview struct {
	Method string // HTTP: the method; other kinds: the action ("UPSERT", "PUBLISH", "WRITE")
	URL    string // where, with secrets redacted: a URL, a table, a file, an exchange
	Body   []byte // this record's part of the body (its element, for array bodies)
}

// Previewer is implemented by destinations that can render a delivery
// without sending it. An error is what Send would fail the record with
// (a template that fails, a value JSON cannot encode such as NaN).
type Previewer interface {
	Preview(ctx context.Context, d Delivery) (Preview, error)
}

// Operation is a follow-up call for one record (after: / on_error:).
type Operation interface {
	Do(ctx context.Context, d Delivery, vars map[string]any) Result
}
