package rules

import (
	"bytes"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// LastOfKeys keeps the last record of each key, in page order: an earlier
// record of a key is replaced within the page before it reaches the store.
// dups counts the dropped ones. It returns entries itself when no key
// repeats.
func LastOfKeys(entries []store.NewEntry) (kept []store.NewEntry, dups int) {
	seen := make(map[string]int, len(entries)) // key -> index of its last record
	for i, e := range entries {
		if _, ok := seen[e.Key]; ok {
			dups++
		}
		seen[e.Key] = i
	}
	if dups == 0 {
		return entries, 0
	}
	kept = make([]store.NewEntry, 0, len(entries)-dups)
	for i, e := range entries {
		if seen[e.Key] == i {
			kept = append(kept, e)
		}
	}
	return kept, dups
}

// Ref is what a record read again is compared with when its key has no
// entry: the key's last delivered content or its newest dead letter.
type Ref struct {
	Hash    string
	EntryID int64
	Version int64
}

// Leased is a key's newest leased entry.
type Leased struct {
	ID, Version int64
	Hash        string
}

// Queued is a queued (P/E) entry's content, to tell a record read again
// unchanged.
type Queued struct {
	ID, Version int64
	Payload     []byte
	Hash        string
	Deleted     bool
}

// Same is the upsert's test of a record that changes nothing of the
// queued entry: the same payload (as stored, see NullPayload) and delete
// flag, or the same hash.
func (q Queued) Same(payload []byte, deleted bool, hash string) bool {
	return (bytes.Equal(q.Payload, payload) && q.Deleted == deleted) || (hash != "" && q.Hash == hash)
}

// Content is what a store holds of some keys of a route: their queued
// entries, newest leased entries, last delivered content and newest dead
// letters. The stores fill it from one look-up with Add.
type Content struct {
	Queued    map[string]Queued
	Leased    map[string]Leased
	Delivered map[string]Ref
	Dead      map[string]Ref
}

// Row kinds of a content look-up, for Add.
const (
	KindQueued    = "Q"
	KindLeased    = "L"
	KindDelivered = "D"
	KindDead      = "X"
)

// Add records one row of a content look-up: kind (Q, L, D or X) of key,
// the entry's ID (the dead letter's or delivered row's entry ID), version
// and hash; payload and deleted matter for Q only. Of several leased
// entries or dead letters of a key the highest ID wins.
func (c *Content) Add(kind, key string, id, version int64, payload []byte, hash string, deleted bool) {
	switch kind {
	case KindQueued:
		if c.Queued == nil {
			c.Queued = map[string]Queued{}
		}
		c.Queued[key] = Queued{ID: id, Version: version, Payload: payload, Hash: hash, Deleted: deleted}
	case KindLeased:
		if c.Leased == nil {
			c.Leased = map[string]Leased{}
		}
		if id > c.Leased[key].ID {
			c.Leased[key] = Leased{ID: id, Version: version, Hash: hash}
		}
	case KindDelivered:
		if c.Delivered == nil {
			c.Delivered = map[string]Ref{}
		}
		c.Delivered[key] = Ref{Hash: hash, EntryID: id, Version: version}
	case KindDead:
		if c.Dead == nil {
			c.Dead = map[string]Ref{}
		}
		if id >= c.Dead[key].EntryID {
			c.Dead[key] = Ref{Hash: hash, EntryID: id, Version: version}
		}
	}
}

// Beyond says whether any key has leased, delivered or dead content:
// when none does, every record is queued by the queued-entry rules alone.
func (c Content) Beyond() bool {
	return c.Leased != nil || c.Delivered != nil || c.Dead != nil
}

// Verdict is what becomes of one record.
type Verdict int

const (
	QueueIt          Verdict = iota // queued as usual (the queued-entry rules apply)
	InFlight                        // the same content is leased: nothing to do
	AlreadyDelivered                // no entry, and the newest delivered or dead content is this one: record it
)

// Judge decides what becomes of a record of key with hash, by the rules
// of store.NewEntry.Hash. The comparison with the delivered or dead
// content applies only to a key with no entry at all: a queued or leased
// entry may have reached the destination (an unknown outcome, a crash
// mid-send), so the destination is not known to hold the delivered
// content any more (it would be the ABA of A delivered, B timed out, A
// read again). ref is the content the record matched, for its attempt.
func (c Content) Judge(key, hash string) (Verdict, Ref) {
	if hash == "" {
		return QueueIt, Ref{}
	}
	if _, ok := c.Queued[key]; ok {
		return QueueIt, Ref{}
	}
	if l, ok := c.Leased[key]; ok {
		if l.Hash == hash {
			return InFlight, Ref{}
		}
		return QueueIt, Ref{}
	}
	newest, ok := c.Delivered[key]
	if d, dok := c.Dead[key]; dok && (!ok || d.EntryID > newest.EntryID) {
		newest, ok = d, true
	}
	if ok && newest.Hash == hash {
		return AlreadyDelivered, newest
	}
	return QueueIt, Ref{}
}

// UnchangedAttempt records that key was read again with the content last
// delivered (or that died), under that entry, so the key's history shows
// it.
func UnchangedAttempt(route, key string, d Ref, now time.Time) store.Attempt {
	return store.Attempt{EntryID: d.EntryID, Route: route, Key: key, Version: d.Version, At: now, Outcome: store.OutcomeUnchanged}
}

// NullPayload is the payload as stored: a record without one is JSON null.
func NullPayload(p []byte) []byte {
	if p == nil {
		return []byte("null")
	}
	return p
}
