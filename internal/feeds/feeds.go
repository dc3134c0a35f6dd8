// Package feeds serves the files that destinations publish per run (the
// file destination's feed) over HTTP: a JSON list of a route's feeds,
// the newest complete file at one constant URL, and each run's file.
//
//	GET /feeds/{route}              the route's feeds and their files (JSON)
//	GET /feeds/{route}/latest       the newest complete file (?destination= when several)
//	GET /feeds/{route}/runs/{id}    the file of run id
//
// A caller is let in when Options.Authorized says so (an API token) or
// with ?token= equal to the feed's public token; it then sees only the
// feeds with that token. Files are served with ETag, Last-Modified,
// conditional requests (304), ranges and gzip. Only published files are
// served, never one being written, and each response comes from one
// opened file: a file replaced meanwhile does not mix into it.
package feeds

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Source lists a route's feeds; the service implements it by asking the
// engine (engine.Engine.Feeds). An unknown route is an error that
// Options.NotFound recognises (by default one wrapping ErrUnknownRoute).
type Source interface {
	Feeds(ctx context.Context, route string) ([]connector.Feed, error)
}

// ErrUnknownRoute is what a Source wraps for a route that does not exist
// (unless Options.NotFound says otherwise).
var ErrUnknownRoute = errors.New("unknown route")

// Options configure the handler.
type Options struct {
	// Authorized reports whether the request carries valid API
	// credentials: such a caller sees every feed. nil: nobody is (only
	// public tokens let callers in).
	Authorized func(*http.Request) bool
	// NotFound reports whether an error of the Source means the route
	// does not exist (answered 404, or 401 to callers with only a public
	// token, so routes cannot be probed). Default: it wraps ErrUnknownRoute.
	NotFound func(error) bool
	// Prefix is where the handler is mounted (default "/feeds"); links
	// in the list start with it.
	Prefix string
	// Logger gets server-side failures (never a token: queries are not
	// logged). Default: discarded.
	Logger *slog.Logger
}

type handler struct {
	src  Source
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// Handler serves the feeds of src under opts.Prefix.
func Handler(src Source, opts Options) http.Handler {
	if opts.Authorized == nil {
		opts.Authorized = func(*http.Request) bool { return false }
	}
	if opts.NotFound == nil {
		opts.NotFound = func(err error) bool { return errors.Is(err, ErrUnknownRoute) }
	}
	opts.Prefix = "/" + strings.Trim(opts.Prefix, "/")
	if opts.Prefix == "/" {
		opts.Prefix = "/feeds"
	}
	h := &handler{src: src, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET "+opts.Prefix+"/{route}", h.list)
	h.mux.HandleFunc("GET "+opts.Prefix+"/{route}/latest", h.latest)
	h.mux.HandleFunc("GET "+opts.Prefix+"/{route}/runs/{id}", h.run)
	h.mux.HandleFunc(opts.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && feedPath(strings.TrimPrefix(r.URL.Path, opts.Prefix+"/")) {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, r, http.StatusMethodNotAllowed, "feeds are read only: GET or HEAD")
			return
		}
		writeProblem(w, r, http.StatusNotFound, "no such feed URL: expected "+opts.Prefix+"/{route}, "+opts.Prefix+"/{route}/latest or "+opts.Prefix+"/{route}/runs/{id}")
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// feedPath reports whether rest (the path after the prefix) is one of the
// feed URLs: {route}, {route}/latest or {route}/runs/{id}.
func feedPath(rest string) bool {
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1:
		return parts[0] != ""
	case len(parts) == 2:
		return parts[0] != "" && parts[1] == "latest"
	case len(parts) == 3:
		return parts[0] != "" && parts[1] == "runs" && parts[2] != ""
	}
	return false
}
