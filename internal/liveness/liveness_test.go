package liveness

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestNewOwnerNamesThisProcess(t *testing.T) {
	host, _ := os.Hostname()
	owner := NewOwner()
	want := fmt.Sprintf("%s:%d:", host, os.Getpid())
	if !strings.HasPrefix(owner, want) || len(owner) != len(want)+8 {
		t.Fatalf("NewOwner() = %q, want %q followed by 8 hex digits", owner, want)
	}
	if Dead(owner) {
		t.Fatalf("Dead(%q) = true for this very process", owner)
	}
}

// Owners Dead cannot judge are never dead: their leases expire by time.
func TestDeadNeverGuessesAboutOthers(t *testing.T) {
	host, _ := os.Hostname()
	for _, owner := range []string{
		"",
		"no-colons",
		host + ":12",                      // no nonce
		host + ":abc:nonce",               // pid is not a number
		host + ":0:nonce",                 // no such pid
		host + ":-4:nonce",                // negative pid
		"some-other-host.example:1:nonce", // another machine's worker
		fmt.Sprintf("%s:%d:nonce", host, os.Getpid()), // this process
	} {
		if Dead(owner) {
			t.Errorf("Dead(%q) = true, want false", owner)
		}
	}
}
