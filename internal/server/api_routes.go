package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
)

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	states, err := s.svc.Routes(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[routeView]{Items: mapSlice(states, viewRoute)})
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("route")
	rc, ok := s.routeConfig(w, r)
	if !ok {
		return
	}
	st, err := s.svc.Route(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, routeDetail{routeView: viewRoute(st), Config: viewRouteConfig(rc)})
}

// routeConfig returns the {route} path parameter's config, answering 404
// when the loaded config has no such route.
func (s *Server) routeConfig(w http.ResponseWriter, r *http.Request) (*config.Route, bool) {
	name := r.PathValue("route")
	if cfg := s.svc.Config(); cfg != nil {
		if rc, ok := cfg.Routes[name]; ok && rc != nil {
			return rc, true
		}
	}
	writeProblemDoc(w, r, Problem{Type: probNotFound, Status: http.StatusNotFound, Parameter: "route",
		Detail: fmt.Sprintf("route %q: %v", name, service.ErrUnknownRoute)})
	return nil, false
}

type startRunBody struct {
	Mode string `json:"mode"`
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("route")
	if _, ok := s.routeConfig(w, r); !ok {
		return
	}
	var body startRunBody
	if !readBody(w, r, &body) {
		return
	}
	var full bool
	switch body.Mode {
	case "", "incremental":
	case "full":
		full = true
	default:
		badParam(w, r, "mode", fmt.Sprintf("mode must be incremental or full, got %q", body.Mode))
		return
	}
	tickets, err := s.svc.Trigger(r.Context(), service.StartRequest{Routes: []string{name}, Full: full, Trigger: "api"})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, t := range tickets {
		if t.Route == name {
			writeJSON(w, http.StatusAccepted, t)
			return
		}
	}
	s.writeError(w, r, fmt.Errorf("route %q: trigger returned no ticket for it", name))
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	err := s.svc.Reload(r.Context())
	if err == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
		return
	}
	var cerrs *config.Errors
	var cerr *config.Error
	switch {
	case errors.As(err, &cerrs):
		p := Problem{Type: probInvalidConfig, Status: http.StatusUnprocessableEntity,
			Detail: "the new config is invalid; the old one stays in force"}
		for _, e := range *cerrs {
			p.Errors = append(p.Errors, e.Error())
		}
		writeProblemDoc(w, r, p)
	case errors.As(err, &cerr):
		writeProblemDoc(w, r, Problem{Type: probInvalidConfig, Status: http.StatusUnprocessableEntity,
			Detail: "the new config is invalid; the old one stays in force", Errors: []string{cerr.Error()}})
	case errors.Is(err, service.ErrStopping):
		s.writeError(w, r, err)
	default:
		// A config that cannot be read at all (file gone, unreadable)
		// is refused like an invalid one: the old config stays.
		writeProblemDoc(w, r, Problem{Type: probInvalidConfig, Status: http.StatusUnprocessableEntity,
			Detail: "the new config could not be loaded; the old one stays in force", Errors: []string{err.Error()}})
	}
}

// maxAPIBody bounds the JSON bodies of API calls (small commands).
const maxAPIBody = 64 << 10

// readBody decodes an optional JSON object body into v (an empty body
// leaves v as it is), answering 400 when it is not one.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, probTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxAPIBody))
			return false
		}
		writeProblem(w, r, http.StatusBadRequest, probBadBody, "reading the body: "+err.Error())
		return false
	}
	if len(data) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeProblem(w, r, http.StatusBadRequest, probBadBody, "the body must be a JSON object: "+describeJSONError(data, err))
		return false
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		writeProblem(w, r, http.StatusBadRequest, probBadBody, "the body must be one JSON object: data after it at "+position(data, dec.InputOffset()))
		return false
	}
	return true
}
