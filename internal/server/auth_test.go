package server_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/internal/server"
)

// TestNoTokensLeavesTheAPIOpen: without tokens (loopback only, see
// CheckListen) the API and metrics need none; webhooks still do.
func TestNoTokensLeavesTheAPIOpen(t *testing.T) {
	f := newFixture(t, func(o *server.Options) { o.Tokens = nil })
	f.do(t, req{method: "GET", path: "/api/v1/routes", token: "-", want: 200})
	f.do(t, req{method: "GET", path: "/metrics", token: "-", want: 200})
	f.do(t, req{method: "POST", path: "/hooks/hook", token: "-", body: `{"id":1}`, want: 401})
	f.queuedNothing(t, "hook")
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTokensNeverLogged: requests are logged by path and status, never
// with their headers or query (a feed token may sit there).
func TestTokensNeverLogged(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, func(o *server.Options) { o.Logger = log })
	f.do(t, req{method: "GET", path: "/api/v1/routes?token=feed-secret-in-query", want: 200})
	f.do(t, req{method: "GET", path: "/api/v1/routes", token: "a-wrong-token-value", want: 401})
	f.do(t, req{method: "POST", path: "/hooks/hook", token: hookToken, body: `{"id":1}`, want: 202})
	f.do(t, req{method: "POST", path: "/hooks/hook", token: "wrong-hook-token", body: `{"id":1}`, want: 401})
	out := buf.String()
	if !strings.Contains(out, "path=/api/v1/routes") || !strings.Contains(out, "status=401") {
		t.Fatalf("requests not logged:\n%s", out)
	}
	for _, secret := range []string{apiToken, hookToken, "a-wrong-token-value", "wrong-hook-token", "feed-secret-in-query"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q:\n%s", secret, out)
		}
	}
}

// TestCloseEndsEventStreams: Close ends open event streams, which
// http.Server.Shutdown would otherwise wait for.
func TestCloseEndsEventStreams(t *testing.T) {
	f := newFixture(t)
	hr, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/events", nil)
	hr.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	if _, err := rd.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	f.srv.Close()
	if _, err := io.Copy(io.Discard, rd); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}
