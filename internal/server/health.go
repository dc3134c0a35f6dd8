package server

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds a readiness check (a stuck store is not ready).
const readyTimeout = 5 * time.Second

// healthz answers 200 while the process serves requests at all.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the service can take work (store reachable,
// config loaded), else 503 with the reason.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", "5")
		detail := err.Error()
		if !s.auth(r) {
			// /readyz is open: a store error may name a host or a user.
			s.log.Warn("not ready", "err", err)
			detail = "not ready: the reason is in the log, and here with an API token"
		}
		writeProblem(w, r, http.StatusServiceUnavailable, probNotReady, detail)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
