package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
)

// serveYAML is a config with one webhook route and the given extra
// top-level lines (server: ...).
func serveYAML(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	yaml := extra + `
systems:
  erp: { url: "http://127.0.0.1:9" }
routes:
  hook:
    webhook: { key: id, token: hook-token-unit }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestListenAddress(t *testing.T) {
	for _, c := range []struct {
		name, flag, cfg, want string
	}{
		{"flag wins", "127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9000"},
		{"config", "", "127.0.0.1:9001", "127.0.0.1:9001"},
		{"default", "", "", config.DefaultListen},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &config.Config{Server: config.Server{Listen: c.cfg}}
			if got := listenAddress(c.flag, cfg); got != c.want {
				t.Errorf("listenAddress(%q, %q) = %q, want %q", c.flag, c.cfg, got, c.want)
			}
		})
	}
}

// Addresses ferry must not listen on exit 2 with the reason, before the
// store is created.
func TestServeRefusesAddresses(t *testing.T) {
	open := serveYAML(t, "")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"every interface without a token", []string{"-c", open, "serve", "--listen", "0.0.0.0:8080"}, "is not loopback and no API token is configured"},
		{"no host without a token", []string{"-c", open, "serve", "--listen", ":8080"}, "is not loopback"},
		{"config's address without a token", []string{"-c", serveYAML(t, "server: { listen: \"192.0.2.1:8080\" }"), "serve"}, `"192.0.2.1:8080" is not loopback`},
		{"no port", []string{"-c", open, "serve", "--listen", "127.0.0.1"}, "missing port"},
		{"empty", []string{"-c", open, "serve", "--listen", ""}, "expected host:port"},
		{"an argument", []string{"-c", open, "serve", "orders"}, "unknown command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := ferry(t, c.args...)
			if code != ExitUsage || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s%s", code, ExitUsage, c.want, out, errOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(open), "ferry.db")); err == nil {
		t.Errorf("a refused serve created the store")
	}
}

// With a token, any address is allowed (here: every interface, port 0).
func TestServeListensBeyondLoopbackWithToken(t *testing.T) {
	cfg := serveYAML(t, `server: { tokens: ["api-token-unit"] }`)
	s := startServeApp(t, cfg, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(s.addr)
	res, err := http.Get("http://127.0.0.1:" + port + "/api/v1/routes")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/v1/routes without the token: %d, want 401", res.StatusCode)
	}
	s.stop(t, syscall.SIGTERM)
}

// A taken address is a clear error (exit 1).
func TestServeBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, out, errOut := ferry(t, "-c", serveYAML(t, ""), "serve", "--listen", ln.Addr().String())
	if code != ExitFailed || !strings.Contains(errOut, "listen on "+ln.Addr().String()) || !strings.Contains(errOut, "--listen") {
		t.Fatalf("serve on a taken address: exit %d:\n%s%s", code, out, errOut)
	}
}

// servedApp is serve running in this process with signals from the test.
type servedApp struct {
	addr string
	out  *syncBuffer
	sigs chan os.Signal
	done chan error
}

func startServeApp(t *testing.T, cfg, listen string) *servedApp {
	t.Helper()
	s := &servedApp{out: &syncBuffer{}, sigs: make(chan os.Signal, 2), done: make(chan error, 1)}
	ready := make(chan string, 1)
	a := &app{stdout: s.out, stderr: s.out, configPath: cfg, logLevel: "warn", logFormat: "text"}
	go func() {
		s.done <- a.serve(context.Background(), serveOptions{listen: listen, signals: s.sigs, ready: func(_ *service.Service, addr string) { ready <- addr }})
	}()
	select {
	case s.addr = <-ready:
	case err := <-s.done:
		t.Fatalf("serve ended before listening: %v\n%s", err, s.out)
	}
	t.Cleanup(func() {
		select {
		case s.sigs <- syscall.SIGTERM:
		default:
		}
	})
	return s
}

// stop sends sig and returns what serve returned.
func (s *servedApp) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	s.sigs <- sig
	select {
	case err := <-s.done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute:\n%s", s.out)
	}
	return nil
}

func (s *servedApp) get(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// SIGHUP: a broken config is refused and logged, the server stays ready;
// a changed store is refused; a valid config applies. SIGTERM ends serve
// cleanly (nil: exit 0).
func TestServeSignals(t *testing.T) {
	t.Setenv("FERRY_TEST_STORE_PW", "reload-store-secret")
	cfg := serveYAML(t, "")
	good, _ := os.ReadFile(cfg)
	s := startServeApp(t, cfg, "127.0.0.1:0")
	if !strings.Contains(s.out.String(), "ferry serving on http://"+s.addr) {
		t.Fatalf("no serving line:\n%s", s.out)
	}

	for i, c := range []struct {
		name, yaml, want string
	}{
		{"broken", string(good) + "  bad: {}\n", "routes.bad"},
		{"other store", "store: other.db\n" + string(good), "a new store needs a restart"},
		{"store with a password", "store: \"postgres://ferry:${env:FERRY_TEST_STORE_PW}@127.0.0.1:5432/x\"\n" + string(good), "a new store needs a restart"},
		{"valid", string(good) + "  more:\n    webhook: { key: id, token: other-token-unit }\n    destinations:\n      default:\n        http: { system: erp, method: PUT, path: \"/m/${key}\" }\n", "config reloaded (2 routes)"},
	} {
		os.WriteFile(cfg, []byte(c.yaml), 0o644)
		s.sigs <- syscall.SIGHUP
		waitFor(t, c.name+" reload", func() bool { return strings.Count(s.out.String(), "ferry: config reload") == i+1 })
		if !strings.Contains(s.out.String(), c.want) {
			t.Fatalf("%s: the log lacks %q:\n%s", c.name, c.want, s.out)
		}
		if code, body := s.get(t, "/readyz"); code != 200 {
			t.Fatalf("%s: /readyz %d %s", c.name, code, body)
		}
	}
	if strings.Contains(s.out.String(), "reload-store-secret") {
		t.Fatalf("a refused store shows its password:\n%s", s.out)
	}
	if _, body := s.get(t, "/api/v1/routes"); !strings.Contains(body, `"name":"more"`) {
		t.Fatalf("the reloaded route is not served: %s", body)
	}

	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, s.out)
	}
	for _, want := range []string{"ferry stopping (SIGTERM)", "ferry stopped"} {
		if !strings.Contains(s.out.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, s.out)
		}
	}
}

// With --log-format json every line of the server's life is a JSON line.
func TestServeJSONNotices(t *testing.T) {
	out := &syncBuffer{}
	a := &app{stdout: out, stderr: out, configPath: serveYAML(t, ""), logLevel: "warn", logFormat: "json"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.serve(ctx, serveOptions{listen: "127.0.0.1:0", ready: func(*service.Service, string) { cancel() }})
	}()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("want serving, stopping and stopped lines:\n%s", out)
	}
	notices := 0
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("not a JSON log line: %s", l)
		}
		if msg, _ := v["msg"].(string); strings.HasPrefix(msg, "ferry s") {
			notices++
		}
	}
	if notices != 3 {
		t.Errorf("want the serving, stopping and stopped lines as JSON:\n%s", out)
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// /feeds/ is served by the feeds handler: a route without feeds lists
// none, an unknown route is 404.
func TestServeMountsFeeds(t *testing.T) {
	s := startServeApp(t, serveYAML(t, ""), "127.0.0.1:0")
	if code, body := s.get(t, "/feeds/hook"); code != 200 || !strings.Contains(body, `"feeds": []`) {
		t.Errorf("/feeds/hook: %d %s; want an empty list", code, body)
	}
	if code, body := s.get(t, "/feeds/nosuch/latest"); code != 404 || !strings.Contains(body, `unknown route`) {
		t.Errorf("/feeds/nosuch/latest: %d %s; want 404 unknown route", code, body)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// A reload rotates the API tokens at once; one that would leave an API
// beyond loopback without a token is refused and the old tokens stay.
func TestServeReloadRotatesTokens(t *testing.T) {
	cfg := serveYAML(t, `server: { tokens: ["first-token-unit"] }`)
	s := startServeApp(t, cfg, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(s.addr)
	status := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/api/v1/routes", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if status("first-token-unit") != http.StatusOK {
		t.Fatal("the first token is refused")
	}
	good, _ := os.ReadFile(cfg)
	reload := func(n int, yaml string) {
		t.Helper()
		os.WriteFile(cfg, []byte(yaml), 0o644)
		s.sigs <- syscall.SIGHUP
		waitFor(t, "reload", func() bool { return strings.Count(s.out.String(), "ferry: config reload") == n })
	}
	reload(1, strings.Replace(string(good), "first-token-unit", "second-token-unit", 1))
	if status("second-token-unit") != http.StatusOK || status("first-token-unit") != http.StatusUnauthorized {
		t.Fatalf("after the rotation: second %d, first %d", status("second-token-unit"), status("first-token-unit"))
	}
	reload(2, strings.Replace(string(good), `server: { tokens: ["first-token-unit"] }`, "", 1))
	if !strings.Contains(s.out.String(), "server.tokens") || status("second-token-unit") != http.StatusOK || status("") != http.StatusUnauthorized {
		t.Fatalf("a reload without tokens on 0.0.0.0 was not refused:\n%s", s.out)
	}
	s.stop(t, syscall.SIGTERM)
}
