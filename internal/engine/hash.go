package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/store"
)

// contentHash is the content hash of one payload for unchanged detection:
// the first 16 bytes of SHA-256 over the route's seed and the payload, in
// hex: 128 bits keep collisions out of reach and the stored hash short.
func contentHash(seed, payload []byte) string {
	h := sha256.New()
	h.Write(seed)
	h.Write(payload)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// enqueueHash is the hash given to a record at enqueue: "" when the
// route resends unchanged records (the store then does not compare).
func (r *route) enqueueHash(payload []byte) string {
	if r.cfg.ResendUnchanged {
		return ""
	}
	return contentHash(r.hashSeed, payload)
}

// entryHash is the hash of a delivered entry's payload, recorded as the
// key's last delivered content even when the route resends unchanged
// records, so turning resend_unchanged off later works at once.
func (r *route) entryHash(en store.Entry) string {
	if en.Hash != "" {
		return en.Hash
	}
	return contentHash(r.hashSeed, en.Payload)
}

// sendFingerprint sums up what a route sends for a record: its steps and,
// per destination, the system, method, path, body mode and map. Headers
// and answer rules are left out (they do not change the content, and
// headers may hold secrets).
func sendFingerprint(rc *config.Route) []byte {
	type dest struct {
		Name, System, Method, Path, Body, Wrap string
		Map                                    map[string]any
	}
	var dests []dest
	for name, d := range rc.Destinations {
		if d == nil || d.HTTP == nil {
			dests = append(dests, dest{Name: name})
			continue
		}
		h := d.HTTP
		dests = append(dests, dest{Name: name, System: h.System, Method: h.Method, Path: h.Path, Body: h.Body, Wrap: h.Wrap, Map: h.Map})
	}
	sort.Slice(dests, func(i, j int) bool { return dests[i].Name < dests[j].Name })
	b, err := json.Marshal(struct {
		Steps        []config.Step
		Destinations []dest
	}{rc.Steps, dests})
	if err != nil {
		// Not expected (config values come from YAML); without a
		// fingerprint a changed mapping needs ferry resend.
		b = nil
	}
	sum := sha256.Sum256(b)
	return sum[:8]
}
