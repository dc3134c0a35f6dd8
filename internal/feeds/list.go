package feeds

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// List is the answer of GET /feeds/{route}.
type List struct {
	Route string     `json:"route"`
	Feeds []FeedInfo `json:"feeds"`
}

// FeedInfo describes one destination's feed. It never holds the public
// token, nor where the files are on the server.
type FeedInfo struct {
	Destination string `json:"destination"`
	Format      string `json:"format"`
	// Public: the feed can be downloaded with a public token.
	Public bool `json:"public"`
	// LatestURL is the constant URL of the newest complete file.
	LatestURL string `json:"latest_url"`
	// Latest is that file now; absent before the first completed run.
	Latest *FileInfo  `json:"latest,omitempty"`
	Files  []FileInfo `json:"files"` // newest first
}

// FileInfo describes one published file.
type FileInfo struct {
	RunID     int64     `json:"run_id"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	Records   int       `json:"records"`
	Published time.Time `json:"published,omitzero"`
	// Complete: the run that wrote it completed (a failed or cancelled
	// run's file holds what it delivered).
	Complete bool `json:"complete"`
	// URL downloads it; absent for a file whose run is unknown.
	URL string `json:"url,omitempty"`
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	feeds, ok := h.feeds(w, r)
	if !ok {
		return
	}
	route := r.PathValue("route")
	out := List{Route: route, Feeds: []FeedInfo{}}
	for _, f := range feeds {
		base := h.opts.Prefix + "/" + url.PathEscape(route)
		query := ""
		if len(feeds) > 1 {
			query = "?destination=" + url.QueryEscape(f.Destination)
		}
		info := FeedInfo{
			Destination: f.Destination, Format: f.Format, Public: f.PublicToken != "",
			LatestURL: base + "/latest" + query, Files: []FileInfo{},
		}
		if f.Latest != nil {
			l := fileInfo(*f.Latest, "")
			l.URL = info.LatestURL
			info.Latest = &l
		}
		for _, file := range f.Files {
			info.Files = append(info.Files, fileInfo(file, base+"/runs/"+strconv.FormatInt(file.RunID, 10)+query))
		}
		out.Feeds = append(out.Feeds, info)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		h.log.Debug("feeds: write the list", "error", err)
	}
}

func fileInfo(f connector.FeedFile, link string) FileInfo {
	if f.RunID == 0 {
		link = ""
	}
	return FileInfo{RunID: f.RunID, Name: f.Name, Size: f.Size, Records: f.Records, Published: f.Published, Complete: f.Complete, URL: link}
}
