package httpconn

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryableStatus reports whether a failed status may succeed later:
// timeouts, throttling and server errors. Other 4xx mean the request
// itself is wrong, and sending it again cannot help.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

func okStatus(code int) bool { return code >= 200 && code < 300 }

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It is 0 when absent, unreadable or in the past.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// statusError describes a non-2xx response: "HTTP 422 Unprocessable
// Entity: {...}".
func statusError(r *response) string {
	msg := fmt.Sprintf("HTTP %d %s", r.status, http.StatusText(r.status))
	if body := strings.TrimSpace(excerpt(r.body, 300)); body != "" {
		msg += ": " + body
	}
	return msg
}

// isRequestError reports whether err is a failure to get a response.
func isRequestError(err error) bool {
	var re *requestError
	return errors.As(err, &re)
}
