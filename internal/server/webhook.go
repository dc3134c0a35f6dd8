package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// Webhook defaults, as the config documents them (the loader fills them
// too; these cover a config built without it).
const (
	defaultHookTimeout = 10 * time.Second
	defaultHookMaxBody = 1 << 20
)

// policy is a route's webhook settings with defaults applied.
type policy struct {
	auth    string // "token" or "signature"
	respond string // "async" or "sync"
	timeout time.Duration
	maxBody int64
}

// bodyReadTimeout bounds how long reading a webhook body may take.
const bodyReadTimeout = 30 * time.Second

func hookPolicy(wh *config.Webhook) policy {
	p := policy{auth: "token", respond: wh.Respond, timeout: wh.Timeout.D(), maxBody: int64(wh.MaxBody)}
	if wh.Signature != nil {
		p.auth = "signature"
	}
	if p.respond == "" {
		p.respond = "async"
	}
	if p.timeout <= 0 {
		p.timeout = defaultHookTimeout
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultHookMaxBody
	}
	return p
}

// acceptedView is the 202 answer: the entry each record is queued as.
type acceptedView struct {
	// Status is "queued", or "pending" when a sync caller's wait ran out.
	Status  string           `json:"status"`
	Entries []store.Accepted `json:"entries"`
}

// deliveriesView answers a sync call of several records.
type deliveriesView struct {
	Deliveries []service.Delivery `json:"deliveries"`
}

// webhook takes records pushed to POST /hooks/{route}. Nothing is queued
// unless the caller is authenticated, the body is within the limit and
// every record parses; Accept then queues all of them or none.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	name := r.PathValue("route")
	known := s.serveWebhook(sw, r, name)
	label := name
	if !known {
		label = "" // unknown names would make a label per guess
	}
	s.metrics.webhookRequest(label, sw.code())
}

// serveWebhook answers the call; it returns false when the route is not
// a webhook route of the config.
func (s *Server) serveWebhook(w http.ResponseWriter, r *http.Request, name string) bool {
	var wh *config.Webhook
	if cfg := s.svc.Config(); cfg != nil {
		if rc := cfg.Routes[name]; rc != nil {
			wh = rc.Webhook
		}
	}
	if wh == nil {
		writeProblem(w, r, http.StatusNotFound, probNotFound, fmt.Sprintf("no webhook route %q", name))
		return false
	}
	p := hookPolicy(wh)
	if wh.Signature == nil && !tokenMatches(wh.Token, r) {
		unauthorized(w, r, "a valid webhook token is required: Authorization: Bearer TOKEN")
		return true
	}
	if sig := wh.Signature; sig != nil && r.Header.Get(sig.Header) == "" {
		// Refused before the body is read: a caller without a signature
		// does not get to make the server hold max_body for it.
		unauthorized(w, r, fmt.Sprintf("the signature header %s is missing", sig.Header))
		return true
	}
	// A caller that sends its body slowly does not hold a goroutine and
	// a buffer for ever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, probTooLarge,
				fmt.Sprintf("the body is larger than the route's max_body of %d bytes", p.maxBody))
			return true
		}
		writeProblem(w, r, http.StatusBadRequest, probBadBody, "reading the body: "+err.Error())
		return true
	}
	if sig := wh.Signature; sig != nil {
		if err := verifySignature(sig, r.Header.Get(sig.Header), body); err != nil {
			unauthorized(w, r, err.Error())
			return true
		}
	}
	records, err := parseRecords(body, r.Header.Get("Content-Type"))
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, probBadBody, err.Error())
		return true
	}
	if len(records) == 0 {
		writeAccepted(w, "queued", nil)
		return true
	}
	sync := p.respond == "sync"
	acc, err := s.svc.Accept(r.Context(), name, records, sync)
	if err != nil {
		if errors.Is(err, service.ErrBadRecord) {
			writeProblem(w, r, http.StatusBadRequest, probBadBody, err.Error())
			return true
		}
		s.writeError(w, r, fmt.Errorf("route %q: webhook: %w", name, err))
		return true
	}
	entries := acc.Entries
	if !sync || acc.Wait == nil {
		writeAccepted(w, "queued", entries)
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	deliveries, err := acc.Wait(ctx)
	if err != nil || len(deliveries) < len(entries) {
		// Queued durably, not delivered yet: the caller learns the ids.
		writeAccepted(w, "pending", entries)
		return true
	}
	if len(records) == 1 && len(deliveries) == 1 {
		writeDelivery(w, r, deliveries[0])
		return true
	}
	writeJSON(w, http.StatusOK, deliveriesView{Deliveries: deliveries})
	return true
}

// writeAccepted writes the 202 (acceptedView) of every asynchronous call,
// encoded by hand: the same bytes as writeJSON, without reflection, for
// the answer a busy webhook gives thousands of times a second. status is
// "queued" or "pending" (nothing to escape).
func writeAccepted(w http.ResponseWriter, status string, entries []store.Accepted) {
	b := make([]byte, 0, 40+48*len(entries))
	b = append(b, `{"status":"`...)
	b = append(b, status...)
	b = append(b, `","entries":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"entry_id":`...)
		b = strconv.AppendInt(b, e.EntryID, 10)
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, e.Version, 10)
		if e.Unchanged {
			b = append(b, `,"unchanged":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	w.Header()["Content-Type"] = []string{"application/json"} // the name is canonical: no Set
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
}

// writeDelivery answers a sync call of one record with the
// destination's status and body.
func writeDelivery(w http.ResponseWriter, r *http.Request, d service.Delivery) {
	h := w.Header()
	h.Set("X-Ferry-Entry-Id", strconv.FormatInt(d.EntryID, 10))
	h.Set("X-Ferry-Outcome", string(d.Outcome))
	failed := d.Outcome == store.OutcomeRetry || d.Outcome == store.OutcomeDead
	code := d.StatusCode
	if code < 200 || code > 599 {
		if failed {
			detail := "the delivery failed without an HTTP status"
			if d.Error != "" {
				detail += ": " + d.Error
			}
			writeProblem(w, r, http.StatusBadGateway, probBadGateway, detail)
			return
		}
		code = http.StatusOK
	}
	if d.Response == "" {
		w.WriteHeader(code)
		return
	}
	if json.Valid([]byte(d.Response)) {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, d.Response)
}

// tokenMatches checks the route's bearer token in constant time.
func tokenMatches(token string, r *http.Request) bool {
	got, ok := bearer(r)
	return ok && token != "" && matchAny([][sha256.Size]byte{sha256.Sum256([]byte(token))}, got)
}
