package server

import (
	"net/http"
	"strconv"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// page is a list answer: the items and, when more follow, the cursor to
// pass back (as ?after= or ?before=, as the endpoint says).
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// limitParam reads ?limit= (default 100, 1 to 1000).
func limitParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		badParam(w, r, "limit", "limit must be a whole number from 1 to 1000, got "+strconv.Quote(v))
		return 0, false
	}
	return n, true
}

// idQuery reads an optional ID cursor from the query (0 when absent).
func idQuery(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		badParam(w, r, name, name+" must be a cursor from a previous answer's next (a whole number), got "+strconv.Quote(v))
		return 0, false
	}
	return n, true
}

// idPath reads the {id} path parameter.
func idPath(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.PathValue("id")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		badParam(w, r, "id", "id must be a positive whole number, got "+strconv.Quote(v))
		return 0, false
	}
	return n, true
}

// paginate trims items fetched with limit+1 to limit and returns the
// cursor of the last one kept when more follow.
func paginate[T any](items []T, limit int, id func(T) int64) page[T] {
	p := page[T]{Items: items}
	if p.Items == nil {
		p.Items = []T{}
	}
	if len(items) > limit {
		p.Items = items[:limit]
		p.Next = strconv.FormatInt(id(p.Items[limit-1]), 10)
	}
	return p
}
