package feeds

import (
	"crypto/subtle"
	"net/http"

	"github.com/ferry-dev/ferry/internal/connector"
)

// feeds returns the route's feeds this request may see: all of them for
// an authorized caller, else those whose public token equals ?token=.
// When it returns false it has answered: 401 to a caller let in to no
// feed (also for an unknown route: a public token must not reveal which
// routes exist), 404 for an unknown route to an authorized caller, 500
// when the source failed.
func (h *handler) feeds(w http.ResponseWriter, r *http.Request) ([]connector.Feed, bool) {
	route := r.PathValue("route")
	authorized := h.opts.Authorized(r)
	token := r.URL.Query().Get("token")
	if !authorized && token == "" {
		unauthorized(w, r)
		return nil, false
	}
	all, err := h.src.Feeds(r.Context(), route)
	switch {
	case err != nil && h.opts.NotFound(err) && authorized:
		writeProblem(w, r, http.StatusNotFound, err.Error())
		return nil, false
	case err != nil && h.opts.NotFound(err):
		unauthorized(w, r)
		return nil, false
	case err != nil:
		h.log.Error("feeds: list the route's feeds", "route", route, "error", err)
		writeProblem(w, r, http.StatusInternalServerError, "the route's feeds cannot be listed; the server log has the reason")
		return nil, false
	case authorized:
		return all, true
	}
	var allowed []connector.Feed
	for _, f := range all {
		if f.PublicToken != "" && subtle.ConstantTimeCompare([]byte(f.PublicToken), []byte(token)) == 1 {
			allowed = append(allowed, f)
		}
	}
	if len(allowed) == 0 {
		unauthorized(w, r)
		return nil, false
	}
	return allowed, true
}

func unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
	writeProblem(w, r, http.StatusUnauthorized, "an API token (Authorization: Bearer ...) or the feed's public token (?token=...) is required")
}
