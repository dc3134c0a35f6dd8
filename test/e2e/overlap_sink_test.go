package e2e

// Parts of the multi-process test (multiprocess_test.go): a sink that
// catches two deliveries of one key at the same time, a source that
// notes when it is read, and `ferry serve` started without waiting, so
// that several processes start at the same moment.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// delivery is one request that carried a key: when it reached the sink
// and when the sink answered.
type delivery struct{ start, end time.Time }

// overlapSink takes batches (a JSON array of records with an "id"),
// holds each for delay, and records every delivery per key. A key that
// arrives while another request with it is still being held is an
// overlap: two workers sending one record at the same time.
type overlapSink struct {
	delay time.Duration

	mu       sync.Mutex
	inFlight map[string]int
	byKey    map[string][]delivery
	overlaps []string // "key: when", for the failure message
	requests int
	starts   []time.Time // when each request came in
}

func newOverlapSink(delay time.Duration) *overlapSink {
	return &overlapSink{delay: delay, inFlight: map[string]int{}, byKey: map[string][]delivery{}}
}

func (s *overlapSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var recs []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
		http.Error(w, "want a JSON array of records: "+err.Error(), http.StatusBadRequest)
		return
	}
	keys := make([]string, 0, len(recs))
	for _, rec := range recs {
		keys = append(keys, fmt.Sprint(rec["id"]))
	}
	start := time.Now()
	s.mu.Lock()
	s.starts = append(s.starts, start)
	for _, k := range keys {
		if s.inFlight[k] > 0 {
			s.overlaps = append(s.overlaps, fmt.Sprintf("%s at %s", k, start.Format("15:04:05.000")))
		}
		s.inFlight[k]++
	}
	s.mu.Unlock()
	time.Sleep(s.delay) // a slow destination: kills land mid-batch
	end := time.Now()
	s.mu.Lock()
	for _, k := range keys {
		s.inFlight[k]--
		s.byKey[k] = append(s.byKey[k], delivery{start, end})
	}
	s.requests++
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// stats are the distinct keys received, the deliveries in all (repeats
// after a kill included), and the overlaps seen.
func (s *overlapSink) stats() (keys, deliveries int, overlaps []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.byKey {
		deliveries += len(d)
	}
	return len(s.byKey), deliveries, append([]string(nil), s.overlaps...)
}

// firstAfter is when the first request after t came in (zero for none).
func (s *overlapSink) firstAfter(t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.starts {
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// readLog notes when a source was read: each read is one run of its
// route.
type readLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *readLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"data":[]}`)
}

// around returns the last read at or before t and the first one after
// it (zero when there is none).
func (l *readLog) around(t time.Time) (before, after time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.times {
		if !at.After(t) {
			before = at
		} else if after.IsZero() {
			after = at
		}
	}
	return before, after
}

// launchServe starts `ferry -c cfg serve --listen 127.0.0.1:0` and
// returns at once; waitServing waits until it listens. With a host name
// the process runs in a UTS namespace of its own under that name
// (unshare, root only), so processes on this machine see each other as
// on other hosts: no pid check, only heartbeats and terms, as across
// machines. unshare and sh exec, so the pid is ferry's. The process is
// killed when the test ends, if it still runs.
func launchServe(t *testing.T, cfg, host string) *served {
	t.Helper()
	s := &served{log: &serveLog{}, done: make(chan struct{})}
	args := []string{"-c", cfg, "serve", "--listen", "127.0.0.1:0"}
	if host == "" {
		s.cmd = exec.Command(ferryBin, args...)
	} else {
		s.cmd = exec.Command("unshare", append([]string{"--uts", "sh", "-c",
			`echo "$0" > /proc/sys/kernel/hostname && exec "$@"`, host, ferryBin}, args...)...)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start ferry serve: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func waitServing(t *testing.T, s *served) {
	t.Helper()
	waitFor(t, "ferry serve to listen", time.Minute, func() bool {
		if m := servingLine.FindStringSubmatch(s.log.String()); m != nil {
			s.url = m[1]
			return true
		}
		select {
		case <-s.done:
			t.Fatalf("ferry serve (pid %d) exited %d before listening:\n%s", s.cmd.Process.Pid, s.code, s.log)
		default:
		}
		return false
	})
}

// canUnshare reports whether launchServe can give a process a host name
// of its own.
func canUnshare() error {
	out, err := exec.Command("unshare", "--uts", "sh", "-c", `echo ferry-probe > /proc/sys/kernel/hostname`).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unshare --uts: %v: %s", err, out)
	}
	return nil
}

// waitFor polls cond every 50ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}
