package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// TestWebhook202IsDurable posts to a webhook of a server in another
// process, SIGKILLs that process right after the 202, and finds the
// entry in the store: the 202 comes only once the record is stored.
func TestWebhook202IsDurable(t *testing.T) {
	if dir := os.Getenv("FERRY_SERVER_TEST_CHILD"); dir != "" {
		serveChild(t, dir, os.Getenv("FERRY_SERVER_TEST_SYS"))
		return
	}
	sys := newSystems(t)
	release := sys.hold("hook") // the record stays queued: nothing delivers it before the kill
	defer release()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWebhook202IsDurable$")
	cmd.Env = append(os.Environ(), "FERRY_SERVER_TEST_CHILD="+dir, "FERRY_SERVER_TEST_SYS="+sys.srv.URL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				addr <- a
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("the child server did not start")
	}

	hr, _ := http.NewRequest("POST", base+"/hooks/hook", strings.NewReader(`{"id": "K-1", "total": 12.5}`))
	hr.Header.Set("Authorization", "Bearer "+hookToken)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Entries []store.Accepted
	}
	err = json.NewDecoder(res.Body).Decode(&a)
	res.Body.Close()
	if err != nil || res.StatusCode != 202 || len(a.Entries) != 1 {
		t.Fatalf("push: %d %+v %v", res.StatusCode, a, err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no clean shutdown
		t.Fatal(err)
	}
	_ = cmd.Wait()

	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := st.Entry(context.Background(), a.Entries[0].EntryID)
	if err != nil {
		t.Fatalf("entry %d of the 202 after the kill: %v", a.Entries[0].EntryID, err)
	}
	if e.Route != "hook" || e.Key != "K-1" || !strings.Contains(string(e.Payload), "12.5") {
		t.Errorf("entry after the kill: %+v", e)
	}
}

// serveChild runs the server until the parent kills the process.
func serveChild(t *testing.T, dir, sysURL string) {
	cfg, err := config.Parse([]byte(testYAML(sysURL, dir)), filepath.Join(dir, "ferry.yaml"), all.Set())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Options{Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := server.New(svc, server.Options{Tokens: []string{apiToken}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("LISTEN " + ln.Addr().String() + "\n")
	t.Fatal(http.Serve(ln, srv.Handler()))
}
