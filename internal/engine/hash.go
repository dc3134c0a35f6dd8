package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
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
func (r *route) enqueueHash(payload []byte, deleted bool) string {
	if r.cfg.ResendUnchanged {
		return ""
	}
	return r.hashOf(payload, deleted)
}

// deleteSeed returns the seed of a delete's hash: the route's seed and a
// mark, so a delete never has the hash of an upsert of the same payload.
func deleteSeed(seed []byte) []byte {
	return append(append([]byte(nil), seed...), "\x00ferry delete"...)
}

func (r *route) hashOf(payload []byte, deleted bool) string {
	if deleted {
		return contentHash(r.deleteSeed, payload)
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
	return r.hashOf(en.Payload, en.Deleted)
}

// sendFingerprint sums up what a route sends for a record: its steps and,
// per destination, the system, method, path, body mode and map. Headers
// and answer rules are left out (they do not change the content, and
// headers may hold secrets).
func sendFingerprint(rc *config.Route) []byte {
	type dest struct {
		name string
		json json.RawMessage
	}
	var dests []dest
	for name, d := range rc.Destinations {
		dests = append(dests, dest{name, destFingerprint(name, d)})
	}
	sort.Slice(dests, func(i, j int) bool { return dests[i].name < dests[j].name })
	list := make([]json.RawMessage, len(dests))
	for i, d := range dests {
		list[i] = d.json
	}
	b, err := json.Marshal(struct {
		Steps        []config.Step
		Destinations []json.RawMessage
	}{rc.Steps, list})
	if err != nil {
		// Not expected (config values come from YAML); without a
		// fingerprint a changed mapping needs ferry resend.
		b = nil
	}
	sum := sha256.Sum256(b)
	return sum[:8]
}

// destFingerprint is one destination's part: {"Name": name, ...what the
// kind declares (Fingerprinter), or its kind and config}.
func destFingerprint(name string, d *config.Destination) json.RawMessage {
	nameJSON, _ := json.Marshal(name)
	var body []byte
	switch {
	case d == nil:
	case d.Config != nil:
		if f, ok := d.Config.(connector.Fingerprinter); ok {
			body = f.Fingerprint()
		} else if b, err := json.Marshal(struct {
			Kind   string
			Config any
		}{d.Kind, d.Config}); err == nil {
			body = b
		}
	}
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return json.RawMessage(`{"Name":` + string(nameJSON) + `}`)
	}
	if len(body) == 2 {
		return json.RawMessage(`{"Name":` + string(nameJSON) + `}`)
	}
	return json.RawMessage(`{"Name":` + string(nameJSON) + `,` + string(body[1:]))
}
