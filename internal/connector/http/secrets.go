package httpconn

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// Redacted replaces a secret's value wherever it would be shown.
const Redacted = "REDACTED"

// redactor removes a system's secret values from text that leaves the
// connector: errors, request and response excerpts, URLs, log lines. It
// knows each value in the forms it may take on the way back: as is,
// URL-escaped (an echoed query), JSON-escaped (an echoed body, with or
// without HTML escapes) and, for
// basic auth, inside the base64 of "user:password" (an echoed header).
type redactor struct {
	values []string // longest first, so a value inside another is not cut in two
}

func newRedactor(secrets ...string) *redactor {
	seen := map[string]bool{}
	r := &redactor{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			r.values = append(r.values, v)
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
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

// String returns s with every secret value replaced by REDACTED, also
// the start of one that an excerpt cut off ("tok-SEC...").
func (r *redactor) String(s string) string {
	if r == nil || len(r.values) == 0 {
		return s
	}
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	if strings.Contains(s, cutMark) {
		s = r.cutSecrets(s)
	}
	return s
}

// cutMark ends an excerpt that was cut (see excerpt).
const cutMark = "..."

// minCutPrefix is the shortest start of a secret before a cut that is
// redacted; shorter ones are too likely to be ordinary text.
const minCutPrefix = 4

// cutSecrets redacts, before each cut mark, text that is the start of a
// secret value.
func (r *redactor) cutSecrets(s string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, cutMark)
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		head := rest[:i]
	values:
		for _, v := range r.values {
			for n := len(v) - 1; n >= minCutPrefix; n-- {
				if strings.HasSuffix(head, v[:n]) {
					head = head[:len(head)-n] + Redacted
					break values
				}
			}
		}
		b.WriteString(head)
		b.WriteString(cutMark)
		rest = rest[i+len(cutMark):]
	}
}

// Bytes is String for a body.
func (r *redactor) Bytes(b []byte) []byte {
	if r == nil || len(b) == 0 {
		return b
	}
	for _, v := range r.values {
		if strings.Contains(string(b), v) {
			return []byte(r.String(string(b)))
		}
	}
	return b
}

// secretHeaderName tells whether a header's value is a credential:
// Authorization, cookies and anything named like a token, key or secret.
// The Idempotency-Key ferry sets itself is not one.
func secretHeaderName(name string) bool {
	n := strings.ToLower(name)
	if n == "idempotency-key" {
		return false
	}
	for _, part := range []string{"authorization", "cookie", "token", "key", "secret", "password", "auth"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// systemSecrets lists the values a system must never show: its
// credentials, the password in its URL and the values of its static
// headers whose names look secret.
func systemSecrets(base *url.URL, auth authSettings, headers map[string]string) []string {
	var out []string
	if p, ok := base.User.Password(); ok && p != "" {
		out = append(out, p, basicToken(base.User.Username(), p))
	}
	switch {
	case auth.bearer != "":
		out = append(out, auth.bearer)
	case auth.basicUser != "" || auth.basicPassword != "":
		if auth.basicPassword != "" {
			out = append(out, auth.basicPassword)
		}
		out = append(out, basicToken(auth.basicUser, auth.basicPassword))
	case auth.keyValue != "":
		out = append(out, auth.keyValue)
	}
	for name, v := range headers {
		if secretHeaderName(name) {
			out = append(out, v)
		}
	}
	return out
}

func basicToken(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// authSettings is a system's one auth method, flattened.
type authSettings struct {
	bearer                   string
	basicUser, basicPassword string
	basic                    bool
	keyHeader, keyQuery      string
	keyValue                 string
}

// origin is scheme://host:port with the default port spelled out, so
// https://a.example and https://A.example:443 are the same origin.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// ownOrigin tells whether u is the system's own scheme, host and port:
// the only place its credentials may go.
func (s *system) ownOrigin(u *url.URL) bool {
	return u != nil && origin(u) == s.origin
}

// applyAuth sets the system's auth on a request to its own origin.
func (s *system) applyAuth(req *http.Request) {
	a := s.auth
	switch {
	case a.bearer != "":
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	case a.basic:
		req.SetBasicAuth(a.basicUser, a.basicPassword)
	case a.keyHeader != "":
		req.Header.Set(a.keyHeader, a.keyValue)
	case a.keyQuery != "":
		q := req.URL.Query()
		q.Set(a.keyQuery, a.keyValue)
		req.URL.RawQuery = q.Encode()
	}
}

// stripCredentials removes everything secret from a request leaving the
// system's origin: auth, the system's static headers, headers named like
// credentials, the API key parameter, and the Referer (it names the
// previous URL, which may hold the API key).
func (s *system) stripCredentials(req *http.Request) {
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	req.Header.Del("Referer")
	for k := range s.headers {
		req.Header.Del(k)
	}
	for k := range req.Header {
		if secretHeaderName(k) {
			req.Header.Del(k)
		}
	}
	if s.auth.keyHeader != "" {
		req.Header.Del(s.auth.keyHeader)
	}
	if p := s.auth.keyQuery; p != "" {
		q := req.URL.Query()
		if q.Has(p) {
			q.Del(p)
			req.URL.RawQuery = q.Encode()
		}
	}
}
