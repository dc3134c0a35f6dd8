package feeds

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
)

// contentTypes of the feed formats.
var contentTypes = map[string]string{
	"csv":    "text/csv; charset=utf-8",
	"ndjson": "application/x-ndjson",
	"json":   "application/json",
}

// attempts bounds how often a file that changed between listing and
// opening it (replaced by a newer run, removed by keep) is looked up
// again before the caller is asked to retry.
const attempts = 3

// pick is a file chosen for a request, or the answer when there is none.
type pick struct {
	feed    connector.Feed
	file    connector.FeedFile
	status  int // 0: found
	problem string
}

func (h *handler) latest(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, true, func(feeds []connector.Feed) pick {
		f, p := chooseFeed(r, feeds)
		if p.status != 0 {
			return p
		}
		if f.Latest == nil {
			return pick{status: http.StatusNotFound, problem: fmt.Sprintf("route %q: feed %q has no complete file yet", r.PathValue("route"), f.Destination)}
		}
		return pick{feed: f, file: *f.Latest}
	})
}

func (h *handler) run(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a run id (a positive number)", r.PathValue("id")))
		return
	}
	h.serve(w, r, false, func(feeds []connector.Feed) pick {
		if r.URL.Query().Has("destination") {
			f, p := chooseFeed(r, feeds)
			if p.status != 0 {
				return p
			}
			feeds = []connector.Feed{f}
		}
		var found []pick
		for _, f := range feeds {
			for _, file := range f.Files {
				if file.RunID == id {
					found = append(found, pick{feed: f, file: file})
				}
			}
		}
		switch len(found) {
		case 0:
			return pick{status: http.StatusNotFound, problem: fmt.Sprintf("route %q has no published file of run %d (never written, or removed by keep)", r.PathValue("route"), id)}
		case 1:
			return found[0]
		}
		return pick{status: http.StatusBadRequest, problem: fmt.Sprintf("route %q: run %d wrote a file in feeds %s: name one with ?destination=", r.PathValue("route"), id, names(feeds))}
	})
}

// chooseFeed picks the feed ?destination= names, or the only one.
func chooseFeed(r *http.Request, feeds []connector.Feed) (connector.Feed, pick) {
	route := r.PathValue("route")
	if name := r.URL.Query().Get("destination"); name != "" || r.URL.Query().Has("destination") {
		i := slices.IndexFunc(feeds, func(f connector.Feed) bool { return f.Destination == name })
		if i < 0 {
			return connector.Feed{}, pick{status: http.StatusNotFound, problem: fmt.Sprintf("route %q has no feed %q (feeds: %s)", route, name, names(feeds))}
		}
		return feeds[i], pick{}
	}
	switch len(feeds) {
	case 0:
		return connector.Feed{}, pick{status: http.StatusNotFound, problem: fmt.Sprintf("route %q has no feed (no destination writes files to download)", route)}
	case 1:
		return feeds[0], pick{}
	}
	return connector.Feed{}, pick{status: http.StatusBadRequest, problem: fmt.Sprintf("route %q has %d feeds (%s): name one with ?destination=", route, len(feeds), names(feeds))}
}

func names(feeds []connector.Feed) string {
	var out []string
	for _, f := range feeds {
		out = append(out, f.Destination)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// serve answers with the file choose picks from the request's feeds.
// The file is opened once and served from that handle; if it is not the
// listed file any more (its size differs: a newer run replaced it, or it
// was removed), the feeds are listed again.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, latest bool, choose func([]connector.Feed) pick) {
	for range attempts {
		feeds, ok := h.feeds(w, r)
		if !ok {
			return
		}
		p := choose(feeds)
		if p.status != 0 {
			writeProblem(w, r, p.status, p.problem)
			return
		}
		f, err := open(p.file.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			h.log.Error("feeds: open a published file", "route", p.feed.Route, "file", p.file.Name, "error", err)
			writeProblem(w, r, http.StatusInternalServerError, "the file cannot be read; the server log has the reason")
			return
		}
		info, err := f.Stat()
		if err != nil || !info.Mode().IsRegular() || info.Size() != p.file.Size {
			f.Close()
			continue
		}
		h.send(w, r, p, f, info, latest)
		f.Close()
		return
	}
	w.Header().Set("Retry-After", "1")
	writeProblem(w, r, http.StatusServiceUnavailable, "the file changed while it was opened (a run just published); try again")
}

// send serves an opened file with http.ServeContent: ETag and
// Last-Modified, conditional requests and ranges; gzip when the caller
// accepts it and asks for no range.
func (h *handler) send(w http.ResponseWriter, r *http.Request, p pick, f *os.File, info os.FileInfo, latest bool) {
	hd := w.Header()
	if ct, ok := contentTypes[p.feed.Format]; ok {
		hd.Set("Content-Type", ct)
	} else {
		hd.Set("Content-Type", "application/octet-stream")
	}
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.file.Name}))
	hd.Set("Vary", "Accept-Encoding")
	if p.file.RunID > 0 {
		hd.Set("X-Ferry-Run-Id", strconv.FormatInt(p.file.RunID, 10))
	}
	if latest {
		hd.Set("Cache-Control", "private, no-cache") // the same URL names the next run's file
	} else {
		hd.Set("Cache-Control", "private, max-age=86400") // a run's published file does not change
	}
	// Strong: the run, the size and the time the file was written name
	// its bytes (a published file is never written again).
	tag := fmt.Sprintf("%x-%x-%x", p.file.RunID, info.Size(), info.ModTime().UnixNano())
	var out http.ResponseWriter = w
	if r.Header.Get("Range") == "" && acceptsGzip(r) {
		tag += "-gz" // another representation: another strong tag
		hd.Set("Content-Encoding", "gzip")
		gz := &gzipWriter{ResponseWriter: w, head: r.Method == http.MethodHead}
		defer func() {
			if err := gz.Close(); err != nil {
				h.log.Debug("feeds: finish a gzip answer", "error", err)
			}
		}()
		out = gz
	}
	hd.Set("ETag", `"`+tag+`"`)
	http.ServeContent(out, r, p.file.Name, info.ModTime(), f)
}
