// Package liveness tells whether the worker named by an owner string
// ("host:pid:nonce...") is gone, so its leases, locks and runs can be
// taken back at once instead of waiting for them to expire.
package liveness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// NewOwner returns a worker identity "host:pid:nonce". Host and pid let a
// restarted ferry on the same machine see at once that a lease's owner
// died (kill -9, crash) instead of waiting for the lease to expire.
func NewOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), Nonce())
}

// Nonce is 8 random hex digits.
func Nonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Dead reports whether owner names a process on this host that no longer
// exists. Owners on other hosts are never judged dead here: their leases
// expire by time.
func Dead(owner string) bool {
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
	return processGone(pid)
}
