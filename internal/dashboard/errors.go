package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// The errors page: error entries (waiting for their next attempt) and
// dead letters (retries spent) grouped by cause (see fold.go), with a
// replay and a discard per group.

const (
	// errorsScanCap bounds the rows of each kind the page groups, so the
	// page stays fast with a million failed records.
	errorsScanCap = 20000
	// errorsPageSize is how many rows one store query reads.
	errorsPageSize = 1000
	// errorsExamples is how many example keys a group shows.
	errorsExamples = 3
	// errorsFlashCause is how much of a cause a flash message quotes.
	errorsFlashCause = 120

	kindError = "error"
	kindDead  = "dead"
)

// errorRow is one error entry or dead letter, as the grouping reads it.
type errorRow struct {
	Route   string
	Key     string
	Message string
	EntryID int64
	At      time.Time // entries: updated; dead letters: died
}

// errorGroup is one cause of one route and kind.
type errorGroup struct {
	Route       string
	Kind        string // "error" or "dead"
	Cause       string
	Fingerprint string
	Count       int
	First, Last time.Time
	Keys        []string // up to errorsExamples distinct keys
	EntryID     int64    // an example entry
	InConfig    bool
}

// KindLabel names the kind for a badge.
func (g errorGroup) KindLabel() string { return errorsKindLabel(g.Kind) }

// Records names the group's records for a sentence ("3 dead letters").
func (g errorGroup) Records() string { return errorsCount(g.Count, g.Kind) }

type errorsData struct {
	Routes   []string // the route filter's choices
	Route    string   // "" = all
	Kind     string   // "" = both
	Groups   []errorGroup
	Records  int      // records in the groups
	Notes    []string // what the page did not count
	Fragment bool     // rendered for htmx: the flash goes out of band
}

func (d *Dashboard) errorsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	route, kind := q.Get("route"), q.Get("kind")
	if !errorsValidKind(kind) {
		d.fail(w, r, http.StatusBadRequest, "Unknown kind", fmt.Sprintf("kind must be error, dead or empty (both), got %q.", kind))
		return
	}
	d.renderErrors(w, r, route, kind, "")
}

// renderErrors renders the page for the filters, or its body alone for
// htmx, with flash at the top.
func (d *Dashboard) renderErrors(w http.ResponseWriter, r *http.Request, route, kind, flash string) {
	data, err := d.errorsCollect(r.Context(), route, kind, errorsScanCap)
	if err != nil {
		d.serverError(w, r, "group the errors", err)
		return
	}
	block := ""
	if isHTMX(r) {
		block, data.Fragment = "errors-body", true
	}
	d.render(w, r, "errors", block, view{Title: "Errors", Nav: "errors", Flash: flash, Data: data})
}

// errorsCollect groups the first limit rows of each kind.
func (d *Dashboard) errorsCollect(ctx context.Context, route, kind string, limit int) (*errorsData, error) {
	cfg := d.svc.Config()
	data := &errorsData{Route: route, Kind: kind}
	groups := map[string]*errorGroup{}
	seen := map[string]bool{}
	for _, k := range []string{kindError, kindDead} {
		if kind != "" && kind != k {
			continue
		}
		n, capped, err := d.errorsScan(ctx, k, route, limit, func(row errorRow) {
			seen[row.Route] = true
			cause := foldMessage(row.Message, row.Key)
			id := row.Route + "\x00" + k + "\x00" + cause
			g := groups[id]
			if g == nil {
				g = &errorGroup{Route: row.Route, Kind: k, Cause: cause, First: row.At, Last: row.At, EntryID: row.EntryID}
				groups[id] = g
			}
			g.Count++
			if row.At.Before(g.First) {
				g.First = row.At
			}
			if row.At.After(g.Last) {
				// The newest row is the example: the one to look at after a fix.
				g.Last, g.EntryID = row.At, row.EntryID
			}
			if len(g.Keys) < errorsExamples && !slices.Contains(g.Keys, row.Key) {
				g.Keys = append(g.Keys, row.Key)
			}
		})
		if err != nil {
			return nil, err
		}
		if capped {
			total, err := d.errorsTotal(ctx, k, route, seen)
			if err != nil {
				return nil, err
			}
			data.Notes = append(data.Notes, fmt.Sprintf("Grouped the first %s of %s %s; the rest are not counted here.",
				humanNumber(n), humanNumber(max(total, n)), errorsPlural(k)))
		}
	}
	for _, g := range groups {
		_, g.InConfig = cfg.Routes[g.Route]
		g.Fingerprint = foldFingerprint(g.Cause)
		data.Records += g.Count
		data.Groups = append(data.Groups, *g)
	}
	slices.SortFunc(data.Groups, func(a, b errorGroup) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Route+"\x00"+a.Kind+"\x00"+a.Cause, b.Route+"\x00"+b.Kind+"\x00"+b.Cause)
	})
	names := cfg.RouteNames()
	for name := range seen {
		names = append(names, name)
	}
	if route != "" {
		names = append(names, route)
	}
	slices.Sort(names)
	data.Routes = slices.Compact(names)
	return data, nil
}

// errorsScan visits the error entries (kind "error") or dead letters
// (kind "dead") of route ("" = every route), oldest first, at most limit
// of them (0 = all). It returns how many it visited and whether more
// were left.
func (d *Dashboard) errorsScan(ctx context.Context, kind, route string, limit int, visit func(errorRow)) (int, bool, error) {
	st := d.svc.Store()
	var after int64
	n := 0
	for {
		size := errorsPageSize
		if limit > 0 {
			// One more than what is left tells whether rows remain.
			size = min(size, limit-n+1)
		}
		var rows []errorRow
		var last int64
		switch kind {
		case kindError:
			es, err := st.Entries(ctx, store.EntryFilter{Route: route, Status: store.StatusError, AfterID: after, Limit: size})
			if err != nil {
				return n, false, fmt.Errorf("list error entries of %s: %w", errorsRouteName(route), err)
			}
			for _, e := range es {
				rows = append(rows, errorRow{Route: e.Route, Key: e.Key, Message: e.LastError, EntryID: e.ID, At: e.UpdatedAt})
				last = e.ID
			}
		case kindDead:
			ds, err := st.DeadLetters(ctx, store.DeadFilter{Route: route, AfterID: after, Limit: size})
			if err != nil {
				return n, false, fmt.Errorf("list dead letters of %s: %w", errorsRouteName(route), err)
			}
			for _, dl := range ds {
				rows = append(rows, errorRow{Route: dl.Route, Key: dl.Key, Message: dl.LastError, EntryID: dl.EntryID, At: dl.DiedAt})
				last = dl.ID
			}
		default:
			return n, false, fmt.Errorf("unknown kind %q", kind)
		}
		for _, row := range rows {
			if limit > 0 && n == limit {
				return n, true, nil
			}
			visit(row)
			n++
		}
		if len(rows) < size {
			return n, false, nil
		}
		after = last
	}
}

// errorsTotal counts the rows of kind in route, or in every route of the
// config and every route seen in the rows when route is "".
func (d *Dashboard) errorsTotal(ctx context.Context, kind, route string, seen map[string]bool) (int, error) {
	names := []string{route}
	if route == "" {
		names = d.svc.Config().RouteNames()
		for name := range seen {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	total := 0
	for _, name := range names {
		c, err := d.svc.Store().Counts(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("count the queue of route %q: %w", name, err)
		}
		if kind == kindDead {
			total += c.Dead
		} else {
			total += c.Error
		}
	}
	return total, nil
}

// errorsTarget is what a group action acts on: read from the form, then
// recomputed from the store, never trusted from the form.
type errorsTarget struct {
	Route, Kind, Fingerprint string
	InConfig                 bool
	// Filled by errorsGroupKeys:
	Cause     string
	Keys      []string // distinct, non-empty
	Rows      int
	EmptyKeys int  // rows whose key is "": the store selects by key, and "" selects every key
	Whole     bool // every row of the route and kind has this cause
}

func (d *Dashboard) errorsReplay(w http.ResponseWriter, r *http.Request) {
	t, ok := d.errorsForm(w, r)
	if !ok {
		return
	}
	if !t.InConfig {
		d.fail(w, r, http.StatusConflict, "Replay refused", fmt.Sprintf(
			"Route %q is not in the config any more, so nothing would send its records. Add the route back to replay them, or discard them.", t.Route))
		return
	}
	if ok := d.errorsGroupKeys(w, r, &t, "replay"); !ok {
		return
	}
	// The loop runs to its end even if the browser goes away: half a
	// group replayed and a run never asked for helps nobody.
	ctx := context.WithoutCancel(r.Context())
	st := d.svc.Store()
	replayed := 0
	var superseded []string
	sel := store.ReplaySelector{Route: t.Route, Dead: t.Kind == kindDead, Errors: t.Kind == kindError, Now: d.opts.Now()}
	if t.Whole {
		// Every row of the route and kind has this cause: one call
		// instead of one per key (a store call per key costs a few ms,
		// minutes for a large group). A row of another cause that came
		// in since the scan is replayed too, which only retries it early.
		res, err := st.Replay(ctx, sel)
		if err != nil {
			d.serverError(w, r, fmt.Sprintf("replay the %s of route %q", errorsPlural(t.Kind), t.Route), err)
			return
		}
		replayed, superseded = res.Replayed, res.Superseded
		t.EmptyKeys = 0 // replayed with the rest
		t.Keys = nil
	}
	for _, key := range t.Keys {
		sel.Key = key
		res, err := st.Replay(ctx, sel)
		if err != nil {
			d.serverError(w, r, fmt.Sprintf("replay key %q of route %q (after %d replayed)", key, t.Route, replayed), err)
			return
		}
		replayed += res.Replayed
		superseded = append(superseded, res.Superseded...)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Replayed %s of “%s”", errorsRecords(replayed), excerpt(errorsFlashCause, t.Cause))
	if len(superseded) > 0 {
		fmt.Fprintf(&b, "; %s superseded by newer versions and stayed", errorsWere(len(superseded)))
	}
	if folded := t.Rows - t.EmptyKeys - replayed - len(superseded); t.Kind == "dead" && folded > 0 {
		// A key's dead letters replay as one: its newest goes back to
		// the queue, the older ones of the key are removed.
		fmt.Fprintf(&b, " (%s of the group %s older dead letters of keys replayed once, from their newest)", errorsRecords(folded), pluralWas(folded))
	}
	if replayed > 0 {
		b.WriteString("; " + d.askRun(ctx, t.Route) + " (follow it on the route's page, /routes/" + url.PathEscape(t.Route) + ")")
	}
	b.WriteString(".")
	d.errorsEmptyKeysNote(&b, t)
	d.errorsDone(w, r, b.String())
}

func (d *Dashboard) errorsDiscard(w http.ResponseWriter, r *http.Request) {
	t, ok := d.errorsForm(w, r)
	if !ok {
		return
	}
	if ok := d.errorsGroupKeys(w, r, &t, "discard"); !ok {
		return
	}
	// Discarding ends records for good: always key by key, only the keys
	// of this cause. It runs to its end even if the browser goes away.
	ctx := context.WithoutCancel(r.Context())
	st := d.svc.Store()
	who := d.who(r)
	discarded := 0
	for _, key := range t.Keys {
		n, err := st.Discard(ctx, store.DiscardSelector{
			Route: t.Route, Key: key, Dead: t.Kind == kindDead, Errors: t.Kind == kindError,
			Who: who, Why: "discarded in the dashboard: " + t.Cause, Now: d.opts.Now(),
		})
		if err != nil {
			d.serverError(w, r, fmt.Sprintf("discard key %q of route %q (after %d discarded)", key, t.Route, discarded), err)
			return
		}
		discarded += n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Discarded %s of “%s”.", errorsRecords(discarded), excerpt(errorsFlashCause, t.Cause))
	d.errorsEmptyKeysNote(&b, t)
	d.errorsDone(w, r, b.String())
}

// errorsForm reads a group action's form: route, kind, fingerprint.
func (d *Dashboard) errorsForm(w http.ResponseWriter, r *http.Request) (errorsTarget, bool) {
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
		return errorsTarget{}, false
	}
	t := errorsTarget{Route: r.PostFormValue("route"), Kind: r.PostFormValue("kind"), Fingerprint: r.PostFormValue("fp")}
	switch {
	case t.Route == "":
		d.fail(w, r, http.StatusBadRequest, "Bad form", "The form names no route.")
		return t, false
	case t.Kind != kindError && t.Kind != kindDead:
		d.fail(w, r, http.StatusBadRequest, "Bad form", fmt.Sprintf("kind must be error or dead, got %q.", t.Kind))
		return t, false
	case len(t.Fingerprint) != 64:
		d.fail(w, r, http.StatusBadRequest, "Bad form", "The form names no cause (fp).")
		return t, false
	}
	_, t.InConfig = d.svc.Config().Routes[t.Route]
	return t, true
}

// errorsGroupKeys finds, now, the keys of the rows of t's route and kind
// whose cause has t's fingerprint: every such row, not only the first
// errorsScanCap. It answers the request itself when there are none.
func (d *Dashboard) errorsGroupKeys(w http.ResponseWriter, r *http.Request, t *errorsTarget, verb string) bool {
	seen := map[string]bool{}
	all, _, err := d.errorsScan(r.Context(), t.Kind, t.Route, 0, func(row errorRow) {
		cause := foldMessage(row.Message, row.Key)
		if foldFingerprint(cause) != t.Fingerprint {
			return
		}
		t.Cause = cause
		t.Rows++
		if row.Key == "" {
			t.EmptyKeys++
			return
		}
		if !seen[row.Key] {
			seen[row.Key] = true
			t.Keys = append(t.Keys, row.Key)
		}
	})
	if err != nil {
		d.serverError(w, r, "find the records of the cause", err)
		return false
	}
	t.Whole = t.Rows == all
	if t.Rows == 0 {
		d.errorsDone(w, r, fmt.Sprintf("Nothing to %s: route %s has no %s with that cause any more (replayed, discarded or retried meanwhile?).",
			verb, t.Route, errorsPlural(t.Kind)))
		return false
	}
	return true
}

func (d *Dashboard) errorsEmptyKeysNote(b *strings.Builder, t errorsTarget) {
	if t.EmptyKeys > 0 {
		fmt.Fprintf(b, " %s with an empty key left alone: the store picks records by key, and an empty key would pick every record of the route.",
			errorsRecords(t.EmptyKeys))
	}
}

// errorsDone answers an action with the page as the form's filters had
// it and flash: for htmx its body, for a plain form post a redirect to it
// with the flash line in the one-shot cookie (a reload does not post
// again).
func (d *Dashboard) errorsDone(w http.ResponseWriter, r *http.Request, flash string) {
	route, kind := r.PostFormValue("filter_route"), r.PostFormValue("filter_kind")
	if !errorsValidKind(kind) {
		kind = ""
	}
	if !isHTMX(r) {
		q := url.Values{}
		if route != "" {
			q.Set("route", route)
		}
		if kind != "" {
			q.Set("kind", kind)
		}
		back := "/errors"
		if len(q) > 0 {
			back += "?" + q.Encode()
		}
		setFlash(w, flash)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	d.renderErrors(w, r, route, kind, flash)
}

func errorsValidKind(kind string) bool { return kind == "" || kind == kindError || kind == kindDead }

func errorsKindLabel(kind string) string {
	if kind == kindDead {
		return "dead letter"
	}
	return "error"
}

// errorsPlural names the rows of kind: "error entries", "dead letters".
func errorsPlural(kind string) string {
	if kind == kindDead {
		return "dead letters"
	}
	return "error entries"
}

// errorsCount says "1 error entry", "3 dead letters".
func errorsCount(n int, kind string) string {
	if n != 1 {
		return humanNumber(n) + " " + errorsPlural(kind)
	}
	if kind == kindDead {
		return "1 dead letter"
	}
	return "1 error entry"
}

func errorsRecords(n int) string {
	if n == 1 {
		return "1 record"
	}
	return humanNumber(n) + " records"
}

func errorsWere(n int) string {
	if n == 1 {
		return "1 was"
	}
	return humanNumber(n) + " were"
}

func errorsRouteName(route string) string {
	if route == "" {
		return "every route"
	}
	return fmt.Sprintf("route %q", route)
}

func pluralWas(n int) string {
	if n == 1 {
		return "was an"
	}
	return "were"
}
