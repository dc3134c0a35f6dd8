package connector

import (
	"context"
	"time"
)

// FeedPublisher is implemented by destinations whose output can be
// downloaded: the file destination's run files (see internal/feeds, which
// serves them at /feeds/{route}/...). Feed lists what is published now;
// it never lists output still being written.
type FeedPublisher interface {
	Feed(ctx context.Context) (Feed, error)
}

// Feed is what one destination publishes.
type Feed struct {
	Route string
	// Destination is the destination's name in the route; the engine
	// fills it in (a connector does not know its name).
	Destination string
	// Format is csv, ndjson or json.
	Format string
	// Files are the published run files, newest first.
	Files []FeedFile
	// Latest is the newest complete file: the constant `latest` file
	// when the destination has one, else the newest run file of a
	// completed run; nil when there is none.
	Latest *FeedFile
	// PublicToken, when set, lets a caller without an API token
	// download this feed with ?token=<it>. A secret: never shown.
	PublicToken string
}

// FeedFile is one published file.
type FeedFile struct {
	// RunID is the run that wrote it (0: unknown, e.g. a file recovered
	// after a crash before its run was recorded).
	RunID int64
	// Name is the file name, Path where it is (dir joined with Name).
	Name, Path string
	Size       int64
	Records    int
	// Published is when the file got its final name.
	Published time.Time
	// Complete: the run that wrote it completed. A failed or cancelled
	// run, or one that died and was recovered, publishes its file too
	// (its records were delivered), with Complete false.
	Complete bool
}
