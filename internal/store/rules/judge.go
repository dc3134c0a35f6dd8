package rules

import (
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Sift sorts the records (keys distinct) of an EnqueuePage by Judge:
// those whose content is leased or was delivered are counted unchanged
// in res, the delivered ones' attempts appended to unchanged; the rest
// are returned to upsert by the queued-entry rules. It returns records
// itself when no key has content beyond a queued entry.
func (c Content) Sift(route string, records []store.NewEntry, now time.Time, res *store.EnqueueResult, unchanged []store.Attempt) ([]store.NewEntry, []store.Attempt) {
	if !c.Beyond() {
		return records, unchanged
	}
	queue := make([]store.NewEntry, 0, len(records))
	for _, e := range records {
		switch v, ref := c.Judge(e.Key, e.Hash); v {
		case InFlight:
			res.Unchanged++
		case AlreadyDelivered:
			res.Unchanged++
			unchanged = append(unchanged, UnchangedAttempt(route, e.Key, ref, now))
		default:
			queue = append(queue, e)
		}
	}
	return queue, unchanged
}

// Accept decides a record of an Accept by EnqueuePage's rules, naming
// the entry that holds its content when that is known already: settled
// says acc is the answer and no upsert is needed; attempt, when not nil,
// is the unchanged attempt to record. A record not settled is upserted.
func (c Content) Accept(route string, e store.NewEntry, now time.Time) (acc store.Accepted, attempt *store.Attempt, settled bool) {
	q, isQueued := c.Queued[e.Key]
	switch v, ref := c.Judge(e.Key, e.Hash); {
	case v == InFlight:
		l := c.Leased[e.Key]
		return store.Accepted{EntryID: l.ID, Version: l.Version, Unchanged: true}, nil, true
	case v == AlreadyDelivered:
		a := UnchangedAttempt(route, e.Key, ref, now)
		return store.Accepted{EntryID: ref.EntryID, Version: ref.Version, Unchanged: true}, &a, true
	case isQueued && q.Same(NullPayload(e.Payload), e.Deleted, e.Hash):
		return store.Accepted{EntryID: q.ID, Version: q.Version, Unchanged: true}, nil, true
	}
	return store.Accepted{}, nil, false
}

// LeaseAction is what EnqueueLeased does with one record.
type LeaseAction int

const (
	LeaseKeep    LeaseAction = iota // unchanged: nothing written (an attempt, if any, is recorded)
	LeaseInsert                     // no queued entry: insert it leased
	LeaseReplace                    // a queued entry with other content: replace it and lease it
)

// Lease decides a record of EnqueueLeased (e as it would be leased, its
// payload as stored): unchanged when its content is leased, delivered or
// queued already (a queued one stays queued, for the normal passes);
// attempt, when not nil, is the unchanged attempt to record.
func (c Content) Lease(route string, e *store.Entry, now time.Time) (LeaseAction, *store.Attempt) {
	switch v, ref := c.Judge(e.Key, e.Hash); v {
	case InFlight:
		return LeaseKeep, nil
	case AlreadyDelivered:
		a := UnchangedAttempt(route, e.Key, ref, now)
		return LeaseKeep, &a
	}
	q, ok := c.Queued[e.Key]
	if !ok {
		return LeaseInsert, nil
	}
	if q.Same(e.Payload, e.Deleted, e.Hash) {
		return LeaseKeep, nil
	}
	return LeaseReplace, nil
}
