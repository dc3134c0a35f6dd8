package store

import "context"

// Broadcaster is a store that carries short messages to every process
// sharing it (PostgreSQL's NOTIFY/LISTEN), so the API and dashboard of
// any process show the runs another one executes, as they happen.
type Broadcaster interface {
	// Broadcast sends payload (at most a few kB) to every listener,
	// this process's included.
	Broadcast(ctx context.Context, payload string) error
	// Listen calls fn for every payload broadcast until ctx ends; it
	// returns ctx's error then, or the error that broke the connection
	// (the caller listens again).
	Listen(ctx context.Context, fn func(payload string)) error
}
