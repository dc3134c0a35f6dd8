package feeds

import (
	"encoding/json"
	"net/http"
)

// Problem is an error answer, an RFC 9457 problem document, with the
// problem types of the REST API (docs/api.md).
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// problemTypes are docs/api.md's problem types by status.
var problemTypes = map[int]string{
	http.StatusBadRequest:          "urn:ferry:problem:bad-parameter",
	http.StatusUnauthorized:        "urn:ferry:problem:unauthorized",
	http.StatusNotFound:            "urn:ferry:problem:not-found",
	http.StatusMethodNotAllowed:    "urn:ferry:problem:method-not-allowed",
	http.StatusServiceUnavailable:  "urn:ferry:problem:not-ready",
	http.StatusInternalServerError: "urn:ferry:problem:internal",
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	h := w.Header()
	for _, k := range []string{"Content-Disposition", "Content-Encoding", "ETag", "Last-Modified", "Cache-Control"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	typ := problemTypes[status]
	if typ == "" {
		typ = "about:blank"
	}
	json.NewEncoder(w).Encode(Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail, Instance: r.URL.Path})
}
