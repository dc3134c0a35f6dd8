// Package redact removes secret values from text that is shown or stored:
// errors, request and response excerpts, URLs, log lines, dry-run output.
// One Redactor is built from the values that must never appear; it knows
// each value in the forms it may take on the way back.
package redact

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// Mark replaces a secret's value wherever it would be shown.
const Mark = "REDACTED"

// Redactor replaces secret values by Mark: as is, URL-escaped (an echoed
// query or path), JSON-escaped (an echoed body, with or without HTML
// escapes), and the start of a value that an excerpt cut off
// ("tok-SEC..."). A nil *Redactor redacts nothing.
type Redactor struct {
	secrets []string // as given, for With
	values  []string // every form, longest first, so a value inside another is not cut in two
}

// New returns a redactor for the given values; empty ones are ignored.
func New(secrets ...string) *Redactor {
	seen := map[string]bool{}
	r := &Redactor{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			r.values = append(r.values, v)
		}
	}
	kept := map[string]bool{}
	for _, s := range secrets {
		if s == "" || kept[s] {
			continue
		}
		kept[s] = true
		r.secrets = append(r.secrets, s)
		add(s)
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		if b, err := jsonx.Marshal(s); err == nil {
			add(strings.Trim(string(b), `"`))
		}
		if b, err := json.Marshal(s); err == nil { // escapes <, > and & too
			add(strings.Trim(string(b), `"`))
		}
	}
	sort.SliceStable(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// With returns a redactor for r's values and more.
func (r *Redactor) With(more ...string) *Redactor {
	if r == nil {
		return New(more...)
	}
	return New(append(append([]string(nil), r.secrets...), more...)...)
}

// Empty reports whether r redacts nothing.
func (r *Redactor) Empty() bool { return r == nil || len(r.values) == 0 }

// String returns s with every secret value replaced by Mark, also the
// start of one that an excerpt cut off.
func (r *Redactor) String(s string) string {
	if r.Empty() || s == "" {
		return s
	}
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Mark)
		}
	}
	for _, mark := range cutMarks {
		if strings.Contains(s, mark) {
			s = r.cutSecrets(s, mark)
		}
	}
	return s
}

// cutMarks end an excerpt that was cut (the connector's "...", the
// store's "…").
var cutMarks = [...]string{"...", "…"}

// minCutPrefix is the shortest start of a secret before a cut that is
// redacted; shorter ones are too likely to be ordinary text.
const minCutPrefix = 4

// cutSecrets redacts, before each cut mark, text that is the start of a
// secret value.
func (r *Redactor) cutSecrets(s, mark string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, mark)
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		head := rest[:i]
	values:
		for _, v := range r.values {
			for n := len(v) - 1; n >= minCutPrefix; n-- {
				if strings.HasSuffix(head, v[:n]) {
					head = head[:len(head)-n] + Mark
					break values
				}
			}
		}
		b.WriteString(head)
		b.WriteString(mark)
		rest = rest[i+len(mark):]
	}
}

// Bytes is String for a body; b itself is returned when it holds no
// secret.
func (r *Redactor) Bytes(b []byte) []byte {
	if r.Empty() || len(b) == 0 {
		return b
	}
	if s := string(b); r.String(s) != s {
		return []byte(r.String(s))
	}
	return b
}

// Error returns err with the secrets removed from its message; errors.Is
// and errors.As still see the cause.
func (r *Redactor) Error(err error) error {
	if err == nil || r.Empty() {
		return err
	}
	msg := err.Error()
	if clean := r.String(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Value returns v (a decoded JSON value) with every string in it, keys
// included, redacted. Maps and slices that hold a secret are copied, so
// v itself is never changed; v is returned as is when it holds none.
func (r *Redactor) Value(v any) any {
	if r.Empty() {
		return v
	}
	out, _ := r.value(v)
	return out
}

// value returns the redacted value and whether anything changed.
func (r *Redactor) value(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		c := r.String(t)
		return c, c != t
	case map[string]any:
		var copied map[string]any
		for k, e := range t {
			ck := r.String(k)
			ce, changed := r.value(e)
			if !changed && ck == k {
				continue
			}
			if copied == nil {
				copied = make(map[string]any, len(t))
				for k2, e2 := range t {
					copied[k2] = e2
				}
			}
			delete(copied, k)
			copied[ck] = ce
		}
		if copied == nil {
			return t, false
		}
		return copied, true
	case []any:
		var copied []any
		for i, e := range t {
			ce, changed := r.value(e)
			if !changed {
				continue
			}
			if copied == nil {
				copied = append([]any(nil), t...)
			}
			copied[i] = ce
		}
		if copied == nil {
			return t, false
		}
		return copied, true
	}
	return v, false
}
