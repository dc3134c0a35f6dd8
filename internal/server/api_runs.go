package server

import (
	"fmt"
	"net/http"

	"github.com/ferry-dev/ferry/internal/store"
)

var runStatuses = []store.RunStatus{
	store.RunRunning, store.RunSucceeded, store.RunPartiallyFailed,
	store.RunFailed, store.RunCancelled, store.RunAbandoned,
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	before, ok := idQuery(w, r, "before")
	if !ok {
		return
	}
	f := store.RunFilter{Route: q.Get("route"), BeforeID: before, Limit: limit + 1}
	if st := q.Get("status"); st != "" {
		f.Status = store.RunStatus(st)
		if !validRunStatus(f.Status) {
			badParam(w, r, "status", fmt.Sprintf("status must be one of %v, got %q", runStatuses, st))
			return
		}
	}
	runs, err := s.svc.Store().ListRuns(r.Context(), f)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("list runs: %w", err))
		return
	}
	p := paginate(runs, limit, func(r store.Run) int64 { return r.ID })
	writeJSON(w, http.StatusOK, page[runView]{Items: mapSlice(p.Items, viewRun), Next: p.Next})
}

func validRunStatus(st store.RunStatus) bool {
	for _, s := range runStatuses {
		if s == st {
			return true
		}
	}
	return false
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, viewRun(run))
}

// loadRun reads the {id} run. A run going on in this process is taken
// from the service, whose counters are newer than the row's (flushed
// every few seconds).
func (s *Server) loadRun(w http.ResponseWriter, r *http.Request) (store.Run, bool) {
	id, ok := idPath(w, r)
	if !ok {
		return store.Run{}, false
	}
	run, err := s.svc.Store().GetRun(r.Context(), id)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("run %d: %w", id, err))
		return store.Run{}, false
	}
	if run.Status == store.RunRunning {
		if st, err := s.svc.Route(r.Context(), run.Route); err == nil && st.Running != nil && st.Running.ID == run.ID {
			run = *st.Running
		}
	}
	return run, true
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	if run.Status != store.RunRunning {
		writeProblem(w, r, http.StatusConflict, probConflict, fmt.Sprintf("run %d is not running (%s)", run.ID, run.Status))
		return
	}
	if err := s.svc.Cancel(r.Context(), run.ID); err != nil {
		s.writeError(w, r, fmt.Errorf("run %d: %w", run.ID, err))
		return
	}
	writeJSON(w, http.StatusAccepted, viewRun(run))
}
