package dashboard

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/ferry-dev/ferry/internal/connector"
)

// The feeds page: every file feed of the config with its newest file and
// the links to download it. The links have the shape internal/feeds
// serves (and lists at GET /feeds/{route}); the public token never shows.

const (
	// feedsFiles is how many run files a feed lists.
	feedsFiles = 10
	// feedsDocs explains file feeds.
	feedsDocs = "https://github.com/ferry-dev/ferry/blob/main/docs/feeds.md"
)

type feedsData struct {
	Feeds  []feedView
	Failed []feedsFailure // routes whose feeds could not be read
	Docs   string
}

type feedsFailure struct{ Route, Error string }

type feedView struct {
	Route, Destination, Format string
	Public                     bool // a public token is set (it is not shown)
	LatestURL                  string
	Latest                     *connector.FeedFile
	Files                      []feedFileView // newest first, at most feedsFiles
	More                       int            // files not listed
}

type feedFileView struct {
	connector.FeedFile
	URL string // "" for a file whose run is unknown: it has no run URL
}

func (d *Dashboard) feedsPage(w http.ResponseWriter, r *http.Request) {
	data := feedsData{Docs: feedsDocs}
	for _, route := range d.svc.Config().RouteNames() {
		feeds, err := d.svc.Feeds(r.Context(), route)
		if err != nil {
			if r.Context().Err() != nil {
				return // the client left
			}
			// One unreadable feed folder does not hide the others.
			d.log.Error("dashboard: list feeds", "route", route, "error", err)
			data.Failed = append(data.Failed, feedsFailure{Route: route, Error: err.Error()})
			continue
		}
		data.Feeds = append(data.Feeds, d.feedViews(route, feeds)...)
	}
	d.render(w, r, "feeds", "", view{Title: "Feeds", Nav: "feeds", Data: data})
}

// feedViews builds the links as internal/feeds does: {prefix}/{route}/latest
// and /runs/{run_id}, with ?destination= when the route has several feeds.
func (d *Dashboard) feedViews(route string, feeds []connector.Feed) []feedView {
	base := d.opts.FeedsPrefix + "/" + url.PathEscape(route)
	out := make([]feedView, 0, len(feeds))
	for _, f := range feeds {
		query := ""
		if len(feeds) > 1 {
			query = "?destination=" + url.QueryEscape(f.Destination)
		}
		v := feedView{
			Route: route, Destination: f.Destination, Format: f.Format, Public: f.PublicToken != "",
			LatestURL: base + "/latest" + query, Latest: f.Latest,
		}
		for i, file := range f.Files {
			if i == feedsFiles {
				v.More = len(f.Files) - feedsFiles
				break
			}
			fv := feedFileView{FeedFile: file}
			if file.RunID != 0 {
				fv.URL = base + "/runs/" + strconv.FormatInt(file.RunID, 10) + query
			}
			v.Files = append(v.Files, fv)
		}
		out = append(out, v)
	}
	return out
}
