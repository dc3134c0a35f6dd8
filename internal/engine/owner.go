package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// NewOwner returns a worker identity "host:pid:nonce". Host and pid let a
// restarted ferry on the same machine see at once that a lease's owner
// died (kill -9, crash) instead of waiting for the lease to expire.
func NewOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), nonce())
}

// nonce is 8 random hex digits.
func nonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ownerDead reports whether owner names a process on this host that no
// longer exists. Owners on other hosts are never judged dead here: their
// leases expire by time.
func ownerDead(owner string) bool {
	parts := strings.SplitN(owner, ":", 3)
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	if parts[0] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	err = syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}
