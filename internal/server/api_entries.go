package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/ferry-dev/ferry/internal/store"
)

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.routeConfig(w, r); !ok {
		return
	}
	q := r.URL.Query()
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	after, ok := idQuery(w, r, "after")
	if !ok {
		return
	}
	f := store.EntryFilter{Route: r.PathValue("route"), Key: q.Get("key"), AfterID: after, Limit: limit + 1}
	if st := q.Get("status"); st != "" {
		code, ok := statusNames[st]
		if !ok {
			badParam(w, r, "status", fmt.Sprintf("status must be pending, error or leased, got %q", st))
			return
		}
		f.Status = code
	}
	entries, err := s.svc.Store().Entries(r.Context(), f)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("route %q: list entries: %w", f.Route, err))
		return
	}
	p := paginate(entries, limit, func(e store.Entry) int64 { return e.ID })
	writeJSON(w, http.StatusOK, page[entryView]{Items: mapSlice(p.Items, viewEntry), Next: p.Next})
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) {
	id, ok := idPath(w, r)
	if !ok {
		return
	}
	st := s.svc.Store()
	e, err := st.Entry(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.writeError(w, r, fmt.Errorf("entry %d: %w", id, err))
		return
	}
	attempts, aerr := st.Attempts(r.Context(), id)
	if aerr != nil {
		s.writeError(w, r, fmt.Errorf("entry %d: attempts: %w", id, aerr))
		return
	}
	d := entryDetail{ID: id, Attempts: mapSlice(attempts, viewAttempt)}
	if err == nil {
		ev := viewEntry(e)
		d.InQueue, d.Entry = true, &ev
	} else if len(attempts) == 0 {
		s.writeError(w, r, fmt.Errorf("entry %d: %w", id, store.ErrNotFound))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// errorEntry loads the {id} entry and checks it waits in error: retry and
// discard act on those (409 otherwise).
func (s *Server) errorEntry(w http.ResponseWriter, r *http.Request, what string) (store.Entry, bool) {
	id, ok := idPath(w, r)
	if !ok {
		return store.Entry{}, false
	}
	e, err := s.svc.Store().Entry(r.Context(), id)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("entry %d: %w", id, err))
		return store.Entry{}, false
	}
	if e.Status != store.StatusError {
		writeProblem(w, r, http.StatusConflict, probConflict,
			fmt.Sprintf("entry %d is %s, not in error: only entries in error can be %s", id, statusName(e.Status), what))
		return store.Entry{}, false
	}
	if e.Key == "" {
		// The store selects by key, and an empty key selects every key:
		// this one entry cannot be picked out.
		writeProblem(w, r, http.StatusConflict, probConflict,
			fmt.Sprintf("entry %d has an empty key, so it cannot be %s on its own; use the route's bulk operation", id, what))
		return store.Entry{}, false
	}
	return e, true
}

func (s *Server) retryEntry(w http.ResponseWriter, r *http.Request) {
	e, ok := s.errorEntry(w, r, "retried")
	if !ok {
		return
	}
	res, err := s.svc.Store().Replay(r.Context(), store.ReplaySelector{Route: e.Route, Key: e.Key, Errors: true, Now: s.opts.Now()})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("entry %d: retry: %w", e.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, viewReplay(res))
}

func (s *Server) retryRouteErrors(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.routeConfig(w, r); !ok {
		return
	}
	route := r.PathValue("route")
	res, err := s.svc.Store().Replay(r.Context(), store.ReplaySelector{Route: route, Errors: true, Now: s.opts.Now()})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("route %q: retry errors: %w", route, err))
		return
	}
	writeJSON(w, http.StatusOK, viewReplay(res))
}

type discardBody struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

func (s *Server) discardEntry(w http.ResponseWriter, r *http.Request) {
	var body discardBody
	if !readBody(w, r, &body) {
		return
	}
	if body.Key != "" {
		badParam(w, r, "key", "key is not taken here: the entry's own key is discarded")
		return
	}
	e, ok := s.errorEntry(w, r, "discarded")
	if !ok {
		return
	}
	n, err := s.svc.Store().Discard(r.Context(), store.DiscardSelector{
		Route: e.Route, Key: e.Key, Errors: true, Who: "api", Why: reason(body.Reason), Now: s.opts.Now(),
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("entry %d: discard: %w", e.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, discardView{Discarded: n})
}

func reason(r string) string {
	if r == "" {
		return "no reason given"
	}
	return r
}

type replayBody struct {
	Key string `json:"key"`
}

func (s *Server) listDead(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.routeConfig(w, r); !ok {
		return
	}
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	after, ok := idQuery(w, r, "after")
	if !ok {
		return
	}
	f := store.DeadFilter{Route: r.PathValue("route"), Key: r.URL.Query().Get("key"), AfterID: after, Limit: limit + 1}
	dead, err := s.svc.Store().DeadLetters(r.Context(), f)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("route %q: list dead letters: %w", f.Route, err))
		return
	}
	p := paginate(dead, limit, func(d store.DeadLetter) int64 { return d.ID })
	writeJSON(w, http.StatusOK, page[deadView]{Items: mapSlice(p.Items, viewDead), Next: p.Next})
}

func (s *Server) replayDead(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.routeConfig(w, r); !ok {
		return
	}
	var body replayBody
	if !readBody(w, r, &body) {
		return
	}
	route := r.PathValue("route")
	res, err := s.svc.Store().Replay(r.Context(), store.ReplaySelector{Route: route, Key: body.Key, Dead: true, Now: s.opts.Now()})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("route %q: replay dead letters: %w", route, err))
		return
	}
	if body.Key != "" && res.Replayed == 0 {
		if slices.Contains(res.Superseded, body.Key) {
			writeProblemDoc(w, r, Problem{Type: probConflict, Status: http.StatusConflict, Superseded: res.Superseded,
				Detail: fmt.Sprintf("key %q was not replayed: a newer version of it was queued or delivered after it died", body.Key)})
			return
		}
		writeProblemDoc(w, r, Problem{Type: probNotFound, Status: http.StatusNotFound, Parameter: "key",
			Detail: fmt.Sprintf("route %q has no dead letter of key %q", route, body.Key)})
		return
	}
	writeJSON(w, http.StatusOK, viewReplay(res))
}

func (s *Server) discardDead(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.routeConfig(w, r); !ok {
		return
	}
	var body discardBody
	if !readBody(w, r, &body) {
		return
	}
	route := r.PathValue("route")
	n, err := s.svc.Store().Discard(r.Context(), store.DiscardSelector{
		Route: route, Key: body.Key, Dead: true, Who: "api", Why: reason(body.Reason), Now: s.opts.Now(),
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("route %q: discard dead letters: %w", route, err))
		return
	}
	if body.Key != "" && n == 0 {
		writeProblemDoc(w, r, Problem{Type: probNotFound, Status: http.StatusNotFound, Parameter: "key",
			Detail: fmt.Sprintf("route %q has no dead letter of key %q", route, body.Key)})
		return
	}
	writeJSON(w, http.StatusOK, discardView{Discarded: n})
}
