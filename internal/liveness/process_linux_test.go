//go:build linux

package liveness

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startSleeper starts a child that would live for a minute and returns
// the owner string naming it.
func startSleeper(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	host, _ := os.Hostname()
	return cmd, fmt.Sprintf("%s:%d:0123abcd", host, cmd.Process.Pid)
}

// eventually polls cond for up to 5 s: a signal is delivered
// asynchronously, so the child turns into a zombie a moment after kill.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestDeadSeesLiveZombieAndReapedWorkers(t *testing.T) {
	live, liveOwner := startSleeper(t)
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	if Dead(liveOwner) {
		t.Fatalf("Dead(%q) = true for a running process", liveOwner)
	}

	// Killed but not reaped: kill(pid, 0) still succeeds on the zombie,
	// and its run lock must be taken back at once all the same.
	zombie, zombieOwner := startSleeper(t)
	if err := zombie.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return Dead(zombieOwner) }) {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", zombie.Process.Pid))
		t.Fatalf("Dead(%q) = false for a killed, unreaped child (stat: %s)", zombieOwner, stat)
	}
	if err := syscall.Kill(zombie.Process.Pid, 0); err != nil {
		t.Fatalf("the child is no zombie (kill 0: %v): the test proves nothing", err)
	}

	// Reaped: the pid no longer exists.
	zombie.Wait()
	if !Dead(zombieOwner) {
		t.Fatalf("Dead(%q) = false for a reaped child", zombieOwner)
	}
	if Dead(liveOwner) {
		t.Fatalf("Dead(%q) = true for a running process after another child died", liveOwner)
	}
}

func TestStatState(t *testing.T) {
	for _, tc := range []struct {
		stat  string
		state byte
		ok    bool
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1", 'S', true},
		{"1234 (sleep) Z 1 1234 1234 0 -1", 'Z', true},
		{"1234 (a) R (b) X 1 2 3", 'X', true}, // COMM with ") R (" in it
		{"1234 (my prog) R 1", 'R', true},
		{"1234 (sleep)", 0, false},
		{"garbage", 0, false},
		{"", 0, false},
	} {
		state, ok := statState([]byte(tc.stat))
		if state != tc.state || ok != tc.ok {
			t.Errorf("statState(%q) = %q, %v; want %q, %v", tc.stat, state, ok, tc.state, tc.ok)
		}
	}
}
