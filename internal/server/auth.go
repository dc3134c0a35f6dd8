package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// Authorized returns a check that a request carries one of tokens as
// "Authorization: Bearer TOKEN"; with no tokens every request passes.
// The feeds handler takes it for its non-public downloads.
func Authorized(tokens []string) func(*http.Request) bool {
	sums := make([][sha256.Size]byte, 0, len(tokens))
	for _, t := range tokens {
		if t != "" {
			sums = append(sums, sha256.Sum256([]byte(t)))
		}
	}
	if len(sums) == 0 {
		return func(*http.Request) bool { return true }
	}
	return func(r *http.Request) bool {
		got, ok := bearer(r)
		return ok && matchAny(sums, got)
	}
}

// AuthorizedFrom is Authorized over tokens that may change (a config
// reload rotates them): tokens is asked on every request, and the check
// is rebuilt when its answer changed.
func AuthorizedFrom(tokens func() []string) func(*http.Request) bool {
	type built struct {
		tokens []string
		check  func(*http.Request) bool
	}
	var cur atomic.Pointer[built]
	return func(r *http.Request) bool {
		t := tokens()
		b := cur.Load()
		if b == nil || !slices.Equal(b.tokens, t) {
			b = &built{tokens: slices.Clone(t), check: Authorized(t)}
			cur.Store(b)
		}
		return b.check(r)
	}
}

// matchAny compares got with every token in constant time. Hashing first
// makes the comparison independent of the tokens' lengths too, and every
// token is compared so the time says nothing about which one matched.
func matchAny(sums [][sha256.Size]byte, got string) bool {
	sum := sha256.Sum256([]byte(got))
	match := 0
	for i := range sums {
		match |= subtle.ConstantTimeCompare(sums[i][:], sum[:])
	}
	return match == 1
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// requireToken refuses requests without a valid API token (401).
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.auth(r) {
			unauthorized(w, r, "a valid API token is required: Authorization: Bearer TOKEN")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// unauthorized writes a 401 problem with its WWW-Authenticate challenge.
func unauthorized(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
	writeProblem(w, r, http.StatusUnauthorized, probUnauthorized, detail)
}

// CheckListen refuses to listen on addr beyond loopback when no API token
// is configured: the API would be open to the network. Loopback is
// 127.0.0.0/8, ::1 and "localhost"; an empty host (":8080") listens on
// every interface, so it is not.
func CheckListen(addr string, tokens []string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	for _, t := range tokens {
		if t != "" {
			return nil
		}
	}
	if isLoopback(host) {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback and no API token is configured: set server.tokens (e.g. tokens: [\"${env:FERRY_API_TOKEN}\"]) or listen on 127.0.0.1", addr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}
