package httpconn

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/ferry-dev/ferry/internal/redact"
)

// Redacted replaces a secret's value wherever it would be shown.
const Redacted = redact.Mark

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

// credentialHeader tells whether a header must stay at the system's
// origin: its name looks like a credential, or its value holds a secret
// (a harmless name given a ${env:} value).
func (s *system) credentialHeader(name, value string) bool {
	return secretHeaderName(name) || s.secrets.String(value) != value
}

// stripCredentials removes everything secret from a request leaving the
// system's origin: auth, the system's static headers, headers named like
// credentials or holding a secret value, the API key parameter, and the Referer (it names the
// previous URL, which may hold the API key).
func (s *system) stripCredentials(req *http.Request) {
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	req.Header.Del("Referer")
	for k := range s.headers {
		req.Header.Del(k)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			if s.credentialHeader(k, v) {
				req.Header.Del(k)
				break
			}
		}
	}
	if s.auth.keyHeader != "" {
		req.Header.Del(s.auth.keyHeader)
	}
	s.stripKeyParam(req)
}

// stripKeyParam removes the API key parameter from a request's URL: an
// API that builds its next link from the request's query copies the key
// into a URL that may point elsewhere.
func (s *system) stripKeyParam(req *http.Request) {
	if p := s.auth.keyQuery; p != "" {
		q := req.URL.Query()
		if q.Has(p) {
			q.Del(p)
			req.URL.RawQuery = q.Encode()
		}
	}
}
