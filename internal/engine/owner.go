package engine

import "github.com/ferry-dev/ferry/internal/liveness"

// NewOwner returns a worker identity "host:pid:nonce" (see liveness).
func NewOwner() string { return liveness.NewOwner() }

func nonce() string { return liveness.Nonce() }

func ownerDead(owner string) bool { return liveness.Dead(owner) }
