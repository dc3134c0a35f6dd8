package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
)

// sseHeartbeat keeps idle event streams open through proxies.
const sseHeartbeat = 15 * time.Second

// streamEvents sends the service's events as server-sent events (one
// "event: TYPE" with the JSON event as data), for the dashboard. A slow
// reader loses events, never slows the engine: it gets an event
// "dropped" with how many.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	route := r.URL.Query().Get("route")
	var filter func(events.Event) bool
	if route != "" {
		filter = func(ev events.Event) bool { return ev.Route == route }
	}
	sub := s.svc.Events().Subscribe(256, filter)
	defer sub.Close()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": ferry events\n\n"); err != nil {
		return
	}
	_ = rc.Flush()

	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-tick.C:
			err = writeWithin(rc, func() error { _, err := fmt.Fprint(w, ": ping\n\n"); return err })
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			err = writeWithin(rc, func() error {
				if n := sub.Dropped(); n > 0 {
					if err := writeSSE(w, "dropped", map[string]int{"dropped": n}); err != nil {
						return err
					}
				}
				return writeSSE(w, string(ev.Type), ev)
			})
		}
		if err != nil {
			return
		}
	}
}

// sseWriteTimeout bounds one write of the stream: a client that stops
// reading is dropped instead of holding the handler (and a shutdown).
const sseWriteTimeout = 10 * time.Second

// writeWithin writes and flushes under a write deadline, then lifts it.
func writeWithin(rc *http.ResponseController, write func() error) error {
	_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	defer rc.SetWriteDeadline(time.Time{})
	if err := write(); err != nil {
		return err
	}
	return rc.Flush()
}

func writeSSE(w http.ResponseWriter, typ string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
	return err
}
