package feeds

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
)

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// (named with a q above zero; "*" is not taken as consent).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}

// gzipWriter compresses a 200 answer that carries Content-Encoding: gzip
// (http.ServeContent leaves Content-Length out then); a 304 or an error
// passes through as it is.
type gzipWriter struct {
	http.ResponseWriter
	gz   *gzip.Writer
	on   bool
	head bool // a HEAD answer has no body, not even an empty stream
}

func (g *gzipWriter) WriteHeader(code int) {
	g.on = code == http.StatusOK && g.Header().Get("Content-Encoding") == "gzip"
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.on {
		return g.ResponseWriter.Write(b)
	}
	if g.gz == nil {
		g.gz = gzip.NewWriter(g.ResponseWriter)
	}
	return g.gz.Write(b)
}

// Close ends the gzip stream; an empty file is an empty stream.
func (g *gzipWriter) Close() error {
	if !g.on || g.head {
		return nil
	}
	if g.gz == nil {
		g.gz = gzip.NewWriter(g.ResponseWriter)
	}
	return g.gz.Close()
}
