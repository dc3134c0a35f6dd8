package server

import (
	"log/slog"
	"net/http"
	"time"
)

// statusWriter records the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines (event
// streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// logRequests logs one line per request: method, path (never the query,
// which may carry a feed token, nor headers, which carry API tokens),
// status and duration. Successes go to debug: a busy webhook would
// flood the log otherwise.
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		level := slog.LevelDebug
		switch code := sw.code(); {
		case code >= 500:
			level = slog.LevelError
		case code >= 400:
			level = slog.LevelInfo
		}
		// Checked first: at the default level this line is dropped, and
		// building its attributes costs a webhook call allocations.
		if s.log.Enabled(r.Context(), level) {
			s.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
				"status", sw.code(), "duration", time.Since(start).Round(time.Microsecond))
		}
	})
}
