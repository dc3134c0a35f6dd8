package httpconn

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// serve starts a real HTTP server on 127.0.0.1 for the test.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// systemsFor prepares one system named "api" at url; mods adjust it.
func systemsFor(t *testing.T, url string, mods ...func(*SystemConfig)) *Systems {
	t.Helper()
	sys := &SystemConfig{URL: url}
	for _, m := range mods {
		m(sys)
	}
	s, err := NewSystems(map[string]*SystemConfig{"api": sys})
	if err != nil {
		t.Fatalf("NewSystems: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// hang answers nothing until the client gives up. The body is read
// first: only then does the server notice the client hanging up.
func hang(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(3 * time.Second):
	}
}

// refusedURL is a URL nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
