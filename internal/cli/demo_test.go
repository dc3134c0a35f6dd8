package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/demo"
)

// demo --dir never overwrites a file the user changed: a ferry.yaml of
// the user's own stays as it is, with its queue, and the demo runs from
// demo.yaml and demo.db beside it.
func TestDemoKeepsTheUsersFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo waits for its retries")
	}
	dir := t.TempDir()
	mine := []byte("# my own routes\nroutes: {}\n")
	os.WriteFile(filepath.Join(dir, "ferry.yaml"), mine, 0o644)
	os.WriteFile(filepath.Join(dir, "ferry.db"), []byte("my queue"), 0o644)
	code, out, errOut := ferry(t, "demo", "--dir", dir, "--no-progress", "--orders", "10", "--once")
	if code != 0 {
		t.Fatalf("demo exit %d:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "kept "+filepath.Join(dir, "ferry.yaml")+": you changed it") {
		t.Errorf("the demo does not say it kept ferry.yaml:\n%s", out)
	}
	for name, want := range map[string]string{"ferry.yaml": string(mine), "ferry.db": "my queue"} {
		if got, _ := os.ReadFile(filepath.Join(dir, name)); string(got) != want {
			t.Errorf("%s overwritten: %q", name, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.db")); err != nil {
		t.Errorf("the demo's queue is not demo.db: %v", err)
	}
	code, out, _ = ferry(t, "-c", filepath.Join(dir, "demo.yaml"), "history", "orders")
	if code != 0 || !strings.Contains(out, "succeeded") && !strings.Contains(out, "partially_failed") {
		t.Fatalf("history of the demo's own config (exit %d):\n%s", code, out)
	}
}

// A ferry.db with no ferry.yaml beside it is not the demo's to start
// afresh: the demo keeps it and uses demo.yaml and demo.db.
func TestDemoKeepsALoneQueueOfTheUser(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ferry.db"), []byte("my queue"), 0o644)
	f, err := demo.OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, db, kept, err := demoFiles(f)
	if err != nil || cfg != "demo.yaml" || db != "demo.db" || len(kept) != 1 || !strings.HasPrefix(kept[0], "ferry.db: the demo did not make it") {
		t.Fatalf("demoFiles: %q %q %q %v; want demo.yaml, demo.db, ferry.db kept", cfg, db, kept, err)
	}
	// Once the demo wrote ferry.yaml, its ferry.db is the demo's own.
	dir = t.TempDir()
	f, _ = demo.OpenFolder(dir)
	if _, err := f.Write("ferry.yaml", []byte("routes: {}\n")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ferry.db"), []byte("the demo's queue"), 0o644)
	if cfg, db, kept, err := demoFiles(f); err != nil || cfg != "ferry.yaml" || db != "ferry.db" || len(kept) != 0 {
		t.Fatalf("demoFiles after the demo wrote ferry.yaml: %q %q %q %v", cfg, db, kept, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the mock servers' goroutines.
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

// demo --serve keeps the mock systems up and writes a route file that
// works against them as written: a new user's first run succeeds
// (partly: the ERP refuses one country on purpose).
func TestDemoServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	out, stop := startServe(t, dir)
	shopURL := regexp.MustCompile(`shop  (http://127\.0\.0\.1:\d+)/api`).FindStringSubmatch(out.String())
	if shopURL == nil {
		t.Fatalf("no shop URL:\n%s", out.String())
	}
	req, _ := http.NewRequest("GET", shopURL[1]+"/api/orders?size=1", nil)
	req.Header.Set("Authorization", "Bearer demo-shop-token")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("shop not serving: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	cfg := filepath.Join(dir, "ferry.yaml")
	if code, o, e := ferry(t, "-c", cfg, "validate"); code != 0 {
		t.Fatalf("the route file does not validate:\n%s%s", o, e)
	}
	code, o, e := ferry(t, "-c", cfg, "run", "my_orders", "--no-progress")
	if code != ExitOK && code != ExitPartial || !strings.Contains(o, "delivered ") {
		t.Fatalf("first run of the route file exit %d:\n%s%s", code, o, e)
	}
	if !strings.Contains(out.String(), "erp  POST /erp/orders/") || !strings.Contains(out.String(), "shop GET  /api/orders?") {
		t.Errorf("requests are not listed:\n%s", out.String())
	}
	stop()

	// A second serve (after Ctrl-C) keeps the file once the user changed it.
	edited := append([]byte("# edited\n"), mustRead(t, cfg)...)
	os.WriteFile(cfg, edited, 0o644)
	out, stop = startServe(t, dir)
	defer stop()
	if !strings.Contains(out.String(), "kept: you changed it") || !bytes.Equal(mustRead(t, cfg), edited) {
		t.Fatalf("the edited route file was not kept:\n%s", out.String())
	}
}

// startServe runs demo --serve on free ports until stop, and waits until
// it listens.
func startServe(t *testing.T, dir string) (*syncBuffer, func()) {
	t.Helper()
	out := &syncBuffer{}
	a := &app{stdout: out, stderr: out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serveDemo(ctx, dir, 0, 20) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Requests to the mock systems:") {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("serve did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out, stop
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The README gets ferry onto the PATH before its first `ferry ...`
// command, and keeps the two commands (demo, tests) at the top.
func TestReadmeInstallsFerryFirst(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	install := strings.Index(readme, "go install ./cmd/ferry")
	firstUse := regexp.MustCompile("(?m)^ferry ").FindStringIndex(readme)
	two := strings.Index(readme, "## Two commands")
	if install < 0 || firstUse == nil || install > firstUse[0] {
		t.Fatalf("README: go install ./cmd/ferry at %d, first ferry command at %v", install, firstUse)
	}
	if two < 0 || two > install || strings.Index(readme, "\n## ") != two-1 {
		t.Fatalf("README: '## Two commands' must be the first section, before the install")
	}
}

// docs/cli.md documents every command and every flag.
func TestCLIDocCoversEveryCommandAndFlag(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	flagName := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z-]+)`)
	documented := func(name string) bool {
		return regexp.MustCompile("`(-\\w, )?--" + name + "[ `=]").MatchString(doc)
	}
	root := (&app{}).rootCommand()
	for _, m := range flagName.FindAllStringSubmatch(root.PersistentFlags().FlagUsages(), -1) {
		if !documented(m[1]) {
			t.Errorf("docs/cli.md lacks the global flag --%s", m[1])
		}
	}
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(doc, "## `ferry "+c.Name()) {
			t.Errorf("docs/cli.md lacks a section for ferry %s", c.Name())
		}
		for _, m := range flagName.FindAllStringSubmatch(c.LocalFlags().FlagUsages(), -1) {
			if m[1] != "help" && !documented(m[1]) {
				t.Errorf("docs/cli.md lacks ferry %s --%s", c.Name(), m[1])
			}
		}
	}
}

// A busy port is a clear error that says how to pick another.
func TestDemoServeBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var out syncBuffer
	a := &app{stdout: &out, stderr: &out}
	err = a.serveDemo(context.Background(), t.TempDir(), port, 10)
	if err == nil || !strings.Contains(err.Error(), "--port 0 for free ports") {
		t.Fatalf("serve on a busy port: %v", err)
	}
}

// After its first runs the demo serves its routes like ferry serve: the
// webhook route answers a pushed order with the ERP's reply, a run starts
// over the API and is listed as it ends, and Ctrl-C (the context) stops
// it cleanly.
func TestDemoServesItsRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo waits for its retries")
	}
	out := &syncBuffer{}
	a := &app{stdout: out, stderr: out, logLevel: "warn", logFormat: "text"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	done := make(chan error, 1)
	go func() { done <- a.runDemo(cmd, t.TempDir(), 20, true, "127.0.0.1:0") }()

	var base string
	waitFor(t, "the demo to serve", func() bool {
		m := regexp.MustCompile(`ferry serves the demo on (http://\S+) until Ctrl-C`).FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("the demo ended before serving: %v\n%s", err, out)
		default:
		}
		return m != nil && strings.Contains(out.String(), "What ferry does:")
	})
	if !strings.Contains(out.String(), "The ERP holds ") {
		t.Errorf("the first runs' story is missing:\n%s", out)
	}
	if !strings.Contains(out.String(), "Open the dashboard: "+base+"/") {
		t.Errorf("the demo does not print the dashboard's URL:\n%s", out)
	}
	// The dashboard opens on the demo's routes, orders failing with the
	// dead letters of the country the ERP refuses, to explore.
	for path, want := range map[string]string{
		"/":                                `<tr data-route="orders" data-state="failing"`,
		"/errors?route=orders":             "unknown country",
		"/routes/orders/queue?status=dead": demo.RareCountry,
	} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("dashboard %s: %d, want %q in it", path, res.StatusCode, want)
		}
	}

	// The curl the demo prints, as Go: the caller gets the ERP's answer.
	for _, c := range []struct {
		country string
		status  int
		body    string
	}{
		{"DE", http.StatusCreated, `"status":"in_review"`},
		{demo.RareCountry, http.StatusUnprocessableEntity, "unknown country " + demo.RareCountry},
	} {
		body := strings.Replace(demoHookBody, `"country": "DE"`, `"country": "`+c.country+`"`, 1)
		body = strings.Replace(body, `"id": 9001`, `"id": "900`+c.country+`"`, 1)
		req, _ := http.NewRequest("POST", base+"/hooks/"+demo.HookRoute, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+demo.HookToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || !strings.Contains(string(b), c.body) {
			t.Errorf("pushed order to %s: %d %s; want %d with %q", c.country, res.StatusCode, b, c.status, c.body)
		}
	}

	res, err := http.Post(base+"/api/v1/routes/orders/runs", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("start a run over the API: %d", res.StatusCode)
	}
	waitFor(t, "the API run and the pushed orders in the listing", func() bool {
		s := out.String()
		return regexp.MustCompile(`orders: run #\d+ \(api\) succeeded`).MatchString(s) &&
			strings.Contains(s, "pushed order 900DE: done (201)") && strings.Contains(s, "pushed order 900"+demo.RareCountry+": dead (422)")
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the demo after Ctrl-C: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "ferry stopped") {
		t.Errorf("the demo did not stop cleanly:\n%s", out)
	}
}

// The demo's flags that do not go together are refused.
func TestDemoFlagConflicts(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--serve", "--once"}, "--serve and --once cannot be used together"},
		{[]string{"demo", "--once", "--listen", "127.0.0.1:0"}, "--listen only applies without --once and --serve"},
		{[]string{"demo", "--serve", "--listen", "127.0.0.1:0"}, "--listen only applies without --once and --serve"},
		{[]string{"demo", "--listen", "0.0.0.0:0"}, "is not loopback"},
	} {
		code, out, errOut := ferry(t, c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", c.args, code, ExitUsage, c.want, out, errOut)
		}
	}
}

// A taken --listen port fails before the demo runs anything.
func TestDemoBusyListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, out, errOut := ferry(t, "demo", "--listen", ln.Addr().String())
	if code != ExitFailed || !strings.Contains(errOut, "--listen 127.0.0.1:0 for a free port") || strings.Contains(out, "collected") {
		t.Fatalf("demo on a taken port: exit %d:\n%s%s", code, out, errOut)
	}
}
