package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// Problem types (RFC 9457 "type"), documented in docs/api.md.
const (
	probNotFound      = "urn:ferry:problem:not-found"
	probBadParameter  = "urn:ferry:problem:bad-parameter"
	probBadBody       = "urn:ferry:problem:bad-body"
	probUnauthorized  = "urn:ferry:problem:unauthorized"
	probConflict      = "urn:ferry:problem:conflict"
	probTooLarge      = "urn:ferry:problem:too-large"
	probInvalidConfig = "urn:ferry:problem:invalid-config"
	probStopping      = "urn:ferry:problem:stopping"
	probNotReady      = "urn:ferry:problem:not-ready"
	probInternal      = "urn:ferry:problem:internal"
	probBadGateway    = "urn:ferry:problem:bad-gateway"
	probNotAllowed    = "urn:ferry:problem:method-not-allowed"
)

// Problem is an RFC 9457 problem document. Parameter, Errors and
// Superseded are extension members set by some problems.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Parameter names the bad query parameter, path parameter or body field.
	Parameter string `json:"parameter,omitempty"`
	// Errors lists config errors (a refused reload).
	Errors []string `json:"errors,omitempty"`
	// Superseded lists keys whose dead letters were not replayed.
	Superseded []string `json:"superseded,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, typ, detail string) {
	writeProblemDoc(w, r, Problem{Type: typ, Status: status, Detail: detail})
}

func writeProblemDoc(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Instance == "" {
		p.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// badParam answers 400 naming the parameter at fault.
func badParam(w http.ResponseWriter, r *http.Request, name, detail string) {
	writeProblemDoc(w, r, Problem{Type: probBadParameter, Status: http.StatusBadRequest, Parameter: name, Detail: detail})
}

// writeError maps an error of the service or the store to a problem;
// anything unexpected is a 500 whose detail is logged, not sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, service.ErrUnknownRoute), errors.Is(err, service.ErrNotWebhook), errors.Is(err, store.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, probNotFound, err.Error())
	case errors.Is(err, service.ErrNotRunning):
		writeProblem(w, r, http.StatusConflict, probConflict, err.Error())
	case errors.Is(err, service.ErrStopping):
		w.Header().Set("Retry-After", "5")
		writeProblem(w, r, http.StatusServiceUnavailable, probStopping, err.Error())
	case errors.Is(err, store.ErrSyncFailed):
		// Every webhook would log it: once is enough, /readyz says it on.
		if s.syncFaultLogged.CompareAndSwap(false, true) {
			s.log.Error("the store refuses durable commits until ferry restarts", "err", err)
		}
		w.Header().Set("Retry-After", "60")
		writeProblem(w, r, http.StatusServiceUnavailable, probNotReady, "the store cannot make writes durable (a failed sync); ferry must be restarted")
	case r.Context().Err() != nil:
		// The caller went away; nobody reads the answer.
		writeProblem(w, r, http.StatusServiceUnavailable, probInternal, "request cancelled")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, r, http.StatusInternalServerError, probInternal, "internal error (logged by the server)")
	}
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
