package rules

import (
	"context"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// PruneSteps are a store's ways of carrying out each part of a
// store.PruneRequest; Run applies the request with them.
type PruneSteps struct {
	Dead      func(ctx context.Context, cutoff int64) (deadLetters, attempts int, err error)
	Attempts  func(ctx context.Context, cutoff int64) (int, error)
	Runs      func(ctx context.Context, cutoff int64) (int, error)
	Delivered func(ctx context.Context, cutoff int64) (int, error)
	Vacuum    func(ctx context.Context) error
}

// Run applies req: dead letters (with their attempts) first, then
// attempts, runs and delivered content older than their cutoffs (a zero
// cutoff skips the part), then the vacuum when asked. It stops at the
// first error, returning what was done so far.
func (p PruneSteps) Run(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	var res store.PruneResult
	if !req.DeadBefore.IsZero() {
		n, attempts, err := p.Dead(ctx, MS(req.DeadBefore))
		res.DeadLetters, res.Attempts = n, attempts
		if err != nil {
			return res, err
		}
	}
	for _, part := range []struct {
		cutoff time.Time
		step   func(context.Context, int64) (int, error)
		count  *int
	}{
		{req.AttemptsBefore, p.Attempts, &res.Attempts},
		{req.RunsBefore, p.Runs, &res.Runs},
		{req.DeliveredBefore, p.Delivered, &res.Delivered},
	} {
		if part.cutoff.IsZero() {
			continue
		}
		n, err := part.step(ctx, MS(part.cutoff))
		*part.count += n
		if err != nil {
			return res, err
		}
	}
	if req.Vacuum {
		if err := p.Vacuum(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Repeat runs step (one chunk of a prune, in its own transaction) until
// it says it is done or fails, and sums what it deleted.
func Repeat(step func() (n int, done bool, err error)) (int, error) {
	total := 0
	for {
		n, done, err := step()
		total += n
		if err != nil || done {
			return total, err
		}
	}
}
