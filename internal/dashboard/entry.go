package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// The entry page: one record as collected, as the steps make it, and as
// it was sent, with every attempt, and retry and discard.

// maxAttemptsShown caps the attempts a page lists.
const maxAttemptsShown = 200

// attemptRow is one attempt as a table row.
type attemptRow struct {
	store.Attempt
	OpName string // delivery, after[0], discard, ...
}

func attemptRows(atts []store.Attempt) []attemptRow {
	out := make([]attemptRow, len(atts))
	for i, a := range atts {
		op := a.Op
		if op == "" {
			op = "delivery"
		}
		out[i] = attemptRow{Attempt: a, OpName: op}
	}
	return out
}

type entryData struct {
	ID        int64
	Route     string
	Key       string
	Version   int64
	Status    string // pending, error, sending, done, dead, skipped, discarded, superseded
	Error     string
	InConfig  bool
	Entry     *store.Entry      // in the queue
	Dead      *store.DeadLetter // a dead letter
	DiedAfter string            // "3 attempts"
	RouteURL  string
	LedgerURL string
	QueueURL  string

	Collected     string // pretty JSON; "" when not kept
	CollectedFrom string // where it comes from (the queue, the dead letter, the delivered content)
	payload       json.RawMessage
	deleted       bool

	Preview     *engine.DryRecord
	PreviewBody string
	PreviewNote string

	Sent     *attemptRow // the last delivery attempt
	Attempts []attemptRow
	Hidden   int // attempts older than the ones shown

	CanRetry   bool
	CanDiscard bool
	Fragment   bool
	Flash      string
	Confirm    *confirmStep
}

func (d *Dashboard) entryPage(w http.ResponseWriter, r *http.Request) {
	id, ok := d.entryID(w, r)
	if !ok {
		return
	}
	data, ok := d.loadEntry(w, r, id)
	if !ok {
		return
	}
	d.render(w, r, "entry", "", view{Title: fmt.Sprintf("Entry %d", id), Data: data})
}

// entryID reads the {id} path parameter (answering 404 when it is none).
func (d *Dashboard) entryID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		d.fail(w, r, http.StatusNotFound, "No such entry", fmt.Sprintf("%q is not an entry id: ids are whole numbers from 1.", v))
		return 0, false
	}
	return id, true
}

// loadEntry gathers what is known of entry id, queued or gone; on a
// failure it has answered already and returns false.
func (d *Dashboard) loadEntry(w http.ResponseWriter, r *http.Request, id int64) (*entryData, bool) {
	ctx := r.Context()
	st := d.svc.Store()
	data := &entryData{ID: id}
	e, err := st.Entry(ctx, id)
	switch {
	case err == nil:
		data.Entry = &e
	case !errors.Is(err, store.ErrNotFound):
		d.serverError(w, r, fmt.Sprintf("read entry %d", id), err)
		return nil, false
	}
	atts, err := st.Attempts(ctx, id)
	if err != nil {
		d.serverError(w, r, fmt.Sprintf("read the attempts of entry %d", id), err)
		return nil, false
	}
	if data.Entry == nil && len(atts) == 0 {
		d.fail(w, r, http.StatusNotFound, "No such entry", fmt.Sprintf("Entry %d is not in the queue and has no history (it never existed, or its history was pruned).", id))
		return nil, false
	}
	if data.Entry != nil {
		data.Route, data.Key, data.Version = e.Route, e.Key, e.Version
		data.Status, data.Error = statusName(e.Status), e.LastError
		data.Collected, data.CollectedFrom = prettyJSON(e.Payload), "the queue"
	} else {
		last := atts[len(atts)-1]
		data.Route, data.Key, data.Version = last.Route, last.Key, last.Version
		dl, err := deadLetterOf(ctx, st, data.Route, data.Key, id)
		if err != nil {
			d.serverError(w, r, fmt.Sprintf("read the dead letter of entry %d", id), err)
			return nil, false
		}
		data.Dead = dl
		if dl != nil {
			data.DiedAfter = fmt.Sprintf("%d attempts", dl.Attempts)
			if dl.Attempts == 1 {
				data.DiedAfter = "1 attempt"
			}
		}
		data.Status, data.Error = goneStatus(atts, dl != nil)
		if dl != nil {
			data.Version, data.Error = dl.Version, dl.LastError
			data.Collected, data.CollectedFrom = prettyJSON(dl.Payload), "the dead letter"
		} else {
			del, err := st.LastDelivered(ctx, data.Route, data.Key)
			switch {
			case err == nil && del.EntryID == id && del.Version == data.Version:
				data.Collected, data.CollectedFrom = prettyJSON(del.Payload), "the key's last delivered content"
				data.payload, data.deleted = del.Payload, del.Deleted
			case err != nil && !errors.Is(err, store.ErrNotFound):
				d.serverError(w, r, fmt.Sprintf("read the delivered content of entry %d", id), err)
				return nil, false
			}
		}
	}
	if cfg := d.svc.Config(); cfg != nil && cfg.Routes[data.Route] != nil {
		data.InConfig = true
	}
	data.RouteURL = "/routes/" + url.PathEscape(data.Route)
	data.QueueURL = queueURL(data.Route, "", "", 0)
	data.LedgerURL = ledgerURL(data.Route, data.Key)
	data.previewIn(ctx, d, e)
	for i := len(atts) - 1; i >= 0; i-- {
		a := atts[i]
		// A delivery: done, or failed with an answer or a request made (a
		// record the steps refused failed without ever being sent).
		if a.Op == "" && (a.Outcome == store.OutcomeDone || ((a.Outcome == store.OutcomeRetry || a.Outcome == store.OutcomeDead) && (a.StatusCode != 0 || a.Request != ""))) {
			row := attemptRows(atts[i : i+1])[0]
			data.Sent = &row
			break
		}
	}
	if len(atts) > maxAttemptsShown {
		data.Hidden = len(atts) - maxAttemptsShown
		atts = atts[len(atts)-maxAttemptsShown:]
	}
	data.Attempts = attemptRows(atts)
	actionable := data.Status == "error" || data.Status == "dead"
	data.CanRetry = actionable && data.InConfig && data.Key != ""
	data.CanDiscard = data.CanRetry
	return data, true
}

// previewIn asks the route's current steps what they make of the record.
func (data *entryData) previewIn(ctx context.Context, d *Dashboard, e store.Entry) {
	switch {
	case !data.InConfig:
		data.PreviewNote = fmt.Sprintf("Route %s is no longer in the config, so its steps cannot be applied.", data.Route)
		return
	case data.Collected == "":
		data.PreviewNote = "The record's content is not kept any more."
		return
	}
	if data.Entry == nil {
		// A gone entry: preview the content kept of it.
		e = store.Entry{ID: data.ID, Route: data.Route, Key: data.Key, Version: data.Version, Payload: data.payload, Deleted: data.deleted}
		if data.Dead != nil {
			e.Payload, e.Deleted = data.Dead.Payload, data.Dead.Deleted
		}
	}
	dry, err := d.svc.Preview(ctx, data.Route, e)
	if err != nil {
		data.PreviewNote = "The steps could not be applied: " + err.Error()
		return
	}
	data.Preview = &dry
	if dry.Body != nil {
		data.PreviewBody = indentJSON(dry.Body)
	}
}

// indentJSON shows v as indented JSON with <, > and & as they are (the
// template escapes them), not as \u003c: the reader sees the record's text.
func indentJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// goneStatus says how an entry that left the queue ended, from its
// attempts (the newest that settled it) and whether a dead letter holds
// it; and the error that goes with it.
func goneStatus(atts []store.Attempt, dead bool) (string, string) {
	if dead {
		for i := len(atts) - 1; i >= 0; i-- {
			if atts[i].Outcome == store.OutcomeDead {
				return "dead", atts[i].Error
			}
		}
		return "dead", ""
	}
	for i := len(atts) - 1; i >= 0; i-- {
		a := atts[i]
		if strings.HasPrefix(a.Op, "after") || strings.HasPrefix(a.Op, "on_error") {
			continue // final operations come after the entry settled
		}
		switch a.Outcome {
		case store.OutcomeDone:
			return "done", ""
		case store.OutcomeSkipped:
			return "skipped", a.Error
		case store.OutcomeDiscarded:
			return "discarded", a.Error
		case store.OutcomeDead:
			// Its dead letter is gone (pruned by retention).
			return "dead", a.Error
		case store.OutcomeRetry:
			// A retry dropped because a newer version of the key came.
			return "superseded", a.Error
		}
	}
	return "done", ""
}

func (d *Dashboard) entryRetry(w http.ResponseWriter, r *http.Request) { d.entryAction(w, r, actRetry) }
func (d *Dashboard) entryDiscard(w http.ResponseWriter, r *http.Request) {
	d.entryAction(w, r, actDiscard)
}

// entryAction retries or discards one entry in error or dead letter, as
// the REST API's retry and discard of an entry do (by its key), then
// shows the entry again with a flash line.
func (d *Dashboard) entryAction(w http.ResponseWriter, r *http.Request, act queueAct) {
	ctx := r.Context()
	id, ok := d.entryID(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad form", err.Error())
		return
	}
	data, ok := d.loadEntry(w, r, id)
	if !ok {
		return
	}
	switch {
	case !data.InConfig:
		d.fail(w, r, http.StatusConflict, "Read-only", fmt.Sprintf("Route %q is no longer in the config: its entries are shown read-only.", data.Route))
		return
	case data.Key == "":
		d.fail(w, r, http.StatusConflict, "Not on its own", fmt.Sprintf("Entry %d has an empty key, so it cannot be picked out on its own: use the route's bulk buttons on its queue page.", id))
		return
	case !data.CanRetry:
		d.fail(w, r, http.StatusConflict, "Nothing to "+act.verb(), fmt.Sprintf("Entry %d is %s: only entries in error and dead letters can be %s.", id, data.Status, map[queueAct]string{actRetry: "retried", actDiscard: "discarded"}[act]))
		return
	}
	if act == actDiscard && !isHTMX(r) && r.PostForm.Get("confirmed") != "1" {
		data.Confirm = &confirmStep{
			Question: fmt.Sprintf("Discard entry %d (key %s)?", id, data.Key),
			Detail:   "It will not be sent. Its content counts as delivered by hand; the history keeps who discarded it.",
			Action:   entryURL(id) + "/discard",
			Fields:   []formField{{"confirmed", "1"}},
			Button:   "Yes, discard",
			Danger:   true,
			Back:     entryURL(id),
		}
		d.render(w, r, "entry", "", view{Title: "Confirm: discard", Data: data})
		return
	}
	st := d.svc.Store()
	now := d.opts.Now()
	dead := data.Status == "dead"
	var flash string
	if act == actDiscard {
		n, err := st.Discard(ctx, store.DiscardSelector{
			Route: data.Route, Key: data.Key, Errors: !dead, Dead: dead, Who: d.who(r), Why: discardWhy, Now: now,
		})
		if err != nil {
			d.serverError(w, r, fmt.Sprintf("discard entry %d", id), err)
			return
		}
		flash = "discarded"
		if n == 0 {
			flash = "nothing discarded: the entry changed meanwhile"
		}
	} else {
		res, err := st.Replay(ctx, store.ReplaySelector{Route: data.Route, Key: data.Key, Errors: !dead, Dead: dead, Now: now})
		if err != nil {
			d.serverError(w, r, fmt.Sprintf("retry entry %d", id), err)
			return
		}
		switch {
		case res.Replayed > 0:
			flash = "retried; " + d.askRun(ctx, data.Route)
		case len(res.Superseded) > 0:
			flash = "not retried: a newer version of key " + data.Key + " was queued or delivered after it"
		default:
			flash = "nothing retried: the entry changed meanwhile"
		}
	}
	if !isHTMX(r) {
		// A plain form post: back to the entry, the flash line in a
		// cookie, so a reload does not post again.
		setFlash(w, flash)
		http.Redirect(w, r, entryURL(id), http.StatusSeeOther)
		return
	}
	data, ok = d.loadEntry(w, r, id)
	if !ok {
		return
	}
	data.Fragment, data.Flash = true, flash
	d.render(w, r, "entry", "entry-main", view{Title: fmt.Sprintf("Entry %d", id), Flash: flash, Data: data})
}
