package dashboard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// The queue browser: a route's entries by status and key, one keyset page
// at a time, with bulk retry, discard and resend.

const (
	// queuePageSize rows a page; one more is read to know a next page exists.
	queuePageSize = 50
	// maxBulk caps the ids and keys one bulk action takes (a page is 50).
	maxBulk = 500
	// mergeBelow: a route with at most this many queued entries lists
	// "all" as one indexed query per status (their cost grows with the
	// route); a larger one with one query in ID order (its cost grows with
	// the entries of other routes between its own, few in a large route).
	mergeBelow = 20000
	// discardWhy is recorded in the key's history of a dashboard discard.
	discardWhy = "discarded in the dashboard"
)

// queueStatuses are the tabs, in order; "sending" is the store's leased.
var queueStatuses = []string{"all", "pending", "error", "sending", "dead"}

type queueTab struct {
	Name    string
	Count   int
	Current bool
	URL     string
}

type queueRow struct {
	EntryID    int64
	Key        string
	Status     string // pending, error, sending, dead
	Attempts   int
	LastError  string
	NextAt     time.Time
	Updated    time.Time
	EntryURL   string
	LedgerURL  string
	Actionable bool // error or dead: retry and discard apply
}

type queueData struct {
	Route    string
	RouteURL string
	InConfig bool
	Status   string
	Key      string
	After    int64
	Counts   store.Counts
	// ErrorsText and DeadText name the route-wide buttons' selections
	// ("all 12 error entries", "the 1 dead letter").
	ErrorsText string
	DeadText   string
	Tabs       []queueTab
	Rows       []queueRow
	FirstURL   string // "" on the first page
	NextURL    string // "" on the last page
	Action     string // the base of the bulk actions' URLs
	Fragment   bool   // rendered alone for htmx: the flash goes out of band
	Flash      string
	Confirm    *confirmStep
}

// confirmStep is the page that asks before a bulk or destructive action
// sent without JavaScript (htmx asks with hx-confirm before it sends).
type confirmStep struct {
	Question string
	Detail   string
	Keys     []string // the keys concerned, shown (capped)
	More     int      // keys not shown
	Action   string   // where the confirmed form posts
	Fields   []formField
	Button   string
	Danger   bool
	Back     string
}

type formField struct{ Name, Value string }

// queueURL is the queue page of route with a view.
func queueURL(route, status, key string, after int64) string {
	v := url.Values{}
	if status != "" {
		// "all" too: a queue link without a status opens the error tab.
		v.Set("status", status)
	}
	if key != "" {
		v.Set("key", key)
	}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	u := "/routes/" + url.PathEscape(route) + "/queue"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

func ledgerURL(route, key string) string {
	return "/routes/" + url.PathEscape(route) + "/keys/" + url.PathEscape(key)
}

func entryURL(id int64) string { return "/entries/" + strconv.FormatInt(id, 10) }

// errNoRoute: neither the config nor the store knows the route.
var errNoRoute = errors.New("no such route")

// routeKnown says whether route is in the config (inConfig) or, removed
// from it, still has something in the store (counts say what).
func (d *Dashboard) routeKnown(ctx context.Context, route string) (inConfig bool, c store.Counts, err error) {
	if cfg := d.svc.Config(); cfg != nil && cfg.Routes[route] != nil {
		inConfig = true
	}
	c, err = d.svc.Store().Counts(ctx, route)
	if err != nil {
		return inConfig, c, fmt.Errorf("route %q: counts: %w", route, err)
	}
	if !inConfig && c == (store.Counts{}) {
		return false, c, errNoRoute
	}
	return inConfig, c, nil
}

func (d *Dashboard) queuePage(w http.ResponseWriter, r *http.Request) {
	route := r.PathValue("route")
	q := r.URL.Query()
	status, key := q.Get("status"), q.Get("key")
	after, err := parseAfter(q.Get("after"))
	if err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad page link", err.Error())
		return
	}
	data, ok := d.loadQueue(w, r, route, status, key, after)
	if !ok {
		return
	}
	d.render(w, r, "queue", "", view{Title: "Queue of " + route, Data: data})
}

func parseAfter(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("after must be an entry id (a whole number), got %q", s)
	}
	return n, nil
}

// loadQueue reads one page of the queue view; on a failure it has
// answered already and returns false.
func (d *Dashboard) loadQueue(w http.ResponseWriter, r *http.Request, route, status, key string, after int64) (*queueData, bool) {
	ctx := r.Context()
	explicit := status != ""
	if status == "" {
		status = "all"
	}
	if !slices.Contains(queueStatuses, status) {
		d.fail(w, r, http.StatusBadRequest, "Unknown status", fmt.Sprintf("status must be one of %s, got %q.", strings.Join(queueStatuses, ", "), status))
		return nil, false
	}
	inConfig, counts, err := d.routeKnown(ctx, route)
	if errors.Is(err, errNoRoute) {
		d.fail(w, r, http.StatusNotFound, "No such route", fmt.Sprintf("There is no route %q in the config, and the store holds nothing of it.", route))
		return nil, false
	}
	if err != nil {
		d.serverError(w, r, "read the queue", err)
		return nil, false
	}
	if !explicit && key == "" {
		// Opened without a tab: what the user came for first, the
		// failures ("all" is the queued entries, without dead letters).
		switch {
		case counts.Error > 0:
			status = "error"
		case counts.Dead > 0:
			status = "dead"
		}
	}
	data := &queueData{
		Route: route, RouteURL: "/routes/" + url.PathEscape(route), InConfig: inConfig,
		Status: status, Key: key, After: after, Counts: counts,
		Action: "/routes/" + url.PathEscape(route) + "/queue/",
	}
	data.ErrorsText = allText(counts.Error, "error entry", "error entries")
	data.DeadText = allText(counts.Dead, "dead letter", "dead letters")
	for _, name := range queueStatuses {
		n := 0
		switch name {
		case "all":
			n = counts.Pending + counts.Error + counts.Leased
		case "pending":
			n = counts.Pending
		case "error":
			n = counts.Error
		case "sending":
			n = counts.Leased
		case "dead":
			n = counts.Dead
		}
		data.Tabs = append(data.Tabs, queueTab{Name: name, Count: n, Current: name == status, URL: queueURL(route, name, key, 0)})
	}
	var last int64
	more := false
	if status == "dead" {
		dead, err := d.svc.Store().DeadLetters(ctx, store.DeadFilter{Route: route, Key: key, AfterID: after, Limit: queuePageSize + 1})
		if err != nil {
			d.serverError(w, r, "read the dead letters", err)
			return nil, false
		}
		if len(dead) > queuePageSize {
			dead, more = dead[:queuePageSize], true
		}
		for _, dl := range dead {
			data.Rows = append(data.Rows, queueRow{
				EntryID: dl.EntryID, Key: dl.Key, Status: "dead", Attempts: dl.Attempts, LastError: dl.LastError,
				Updated: dl.DiedAt, EntryURL: entryURL(dl.EntryID), LedgerURL: ledgerURL(route, dl.Key), Actionable: true,
			})
			last = dl.ID // dead letters page by their own id
		}
	} else {
		f := store.EntryFilter{Route: route, Key: key, AfterID: after, Limit: queuePageSize + 1}
		switch status {
		case "pending":
			f.Status = store.StatusPending
		case "error":
			f.Status = store.StatusError
		case "sending":
			f.Status = store.StatusLeased
		}
		var entries []store.Entry
		var err error
		switch {
		case f.Status == "" && (f.Key != "" || counts.Pending+counts.Error+counts.Leased <= mergeBelow):
			entries, err = byStatus(ctx, d.svc.Store(), f)
		default:
			entries, err = d.svc.Store().Entries(ctx, f)
		}
		if err != nil {
			d.serverError(w, r, "read the queue", err)
			return nil, false
		}
		if len(entries) > queuePageSize {
			entries, more = entries[:queuePageSize], true
		}
		for _, e := range entries {
			row := queueRow{
				EntryID: e.ID, Key: e.Key, Status: statusName(e.Status), Attempts: e.Attempts, LastError: e.LastError,
				Updated: e.UpdatedAt, EntryURL: entryURL(e.ID), LedgerURL: ledgerURL(route, e.Key),
				Actionable: e.Status == store.StatusError,
			}
			if e.Status == store.StatusError {
				row.NextAt = e.NextAttemptAt
			}
			data.Rows = append(data.Rows, row)
			last = e.ID
		}
	}
	if more {
		data.NextURL = queueURL(route, status, key, last)
	}
	if after > 0 {
		data.FirstURL = queueURL(route, status, key, 0)
	}
	return data, true
}

// queueAct is what a bulk action does.
type queueAct int

const (
	actRetry queueAct = iota
	actDiscard
	actResend
)

func (a queueAct) verb() string {
	switch a {
	case actDiscard:
		return "discard"
	case actResend:
		return "resend"
	}
	return "retry"
}

func (d *Dashboard) queueRetry(w http.ResponseWriter, r *http.Request) { d.queueAction(w, r, actRetry) }
func (d *Dashboard) queueDiscard(w http.ResponseWriter, r *http.Request) {
	d.queueAction(w, r, actDiscard)
}
func (d *Dashboard) queueResend(w http.ResponseWriter, r *http.Request) {
	d.queueAction(w, r, actResend)
}

// target is one thing a bulk action acts on: a key in a state.
type target struct {
	Key  string
	Kind string // error, dead, pending, sending, delivered, gone
	ID   int64  // the entry id selected (0 when selected by key)
}

// who names the user in the history: the dashboard and the client address.
func (d *Dashboard) who(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if host == "" {
		return d.opts.Who
	}
	return d.opts.Who + " (" + host + ")"
}

// queueAction runs a bulk action on the selected entry ids (id), business
// keys (key) or a whole kind (all=errors|dead), then shows the queue (or,
// with view=ledger, the key's ledger) again with a flash line.
func (d *Dashboard) queueAction(w http.ResponseWriter, r *http.Request, act queueAct) {
	// Finished even when the browser goes away: half a bulk action and no
	// run asked for would leave the user guessing.
	ctx := context.WithoutCancel(r.Context())
	route := r.PathValue("route")
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad form", err.Error())
		return
	}
	form := r.PostForm
	inConfig, counts, err := d.routeKnown(ctx, route)
	if errors.Is(err, errNoRoute) {
		d.fail(w, r, http.StatusNotFound, "No such route", fmt.Sprintf("There is no route %q in the config, and the store holds nothing of it.", route))
		return
	}
	if err != nil {
		d.serverError(w, r, "read the queue", err)
		return
	}
	if !inConfig {
		d.fail(w, r, http.StatusConflict, "Read-only", fmt.Sprintf("Route %q is no longer in the config: its entries are shown read-only.", route))
		return
	}
	all := form.Get("all")
	if all != "" && (act != actRetry || (all != "errors" && all != "dead")) {
		d.fail(w, r, http.StatusBadRequest, "Bad form", fmt.Sprintf("all=%q is not an action of %s (retry takes all=errors or all=dead).", all, act.verb()))
		return
	}
	if n := len(form["id"]) + len(form["key"]); n > maxBulk {
		d.fail(w, r, http.StatusBadRequest, "Too many at once", fmt.Sprintf("At most %d entries at a time, got %d: use the route-wide buttons.", maxBulk, n))
		return
	}
	var targets []target
	var notes []string
	if all == "" {
		targets, notes, err = d.resolveTargets(ctx, route, form["id"], form["key"])
		if err != nil {
			d.serverError(w, r, "find the selected entries", err)
			return
		}
		if len(targets) == 0 && len(notes) == 0 {
			d.fail(w, r, http.StatusBadRequest, "Nothing selected", "Select entries with their checkboxes first.")
			return
		}
	}
	if !isHTMX(r) && form.Get("confirmed") != "1" {
		d.confirmQueueAction(w, r, route, act, all, counts, targets, notes)
		return
	}
	flash, err := d.applyQueueAction(ctx, r, route, act, all, targets)
	if err != nil {
		d.serverError(w, r, act.verb(), err)
		return
	}
	if len(notes) > 0 {
		flash += "; " + strings.Join(notes, "; ")
	}
	ledger := form.Get("view") == "ledger" && len(form["key"]) == 1
	after, _ := parseAfter(form.Get("view_after"))
	if !isHTMX(r) {
		// A plain form post: back to the page it came from, the flash
		// line in a cookie, so a reload does not post again.
		back := queueURL(route, form.Get("view_status"), form.Get("view_key"), after)
		if ledger {
			back = ledgerURL(route, form.Get("key"))
		}
		setFlash(w, flash)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if ledger {
		d.renderLedger(w, r, route, form.Get("key"), flash)
		return
	}
	data, ok := d.loadQueue(w, r, route, form.Get("view_status"), form.Get("view_key"), after)
	if !ok {
		return
	}
	data.Fragment, data.Flash = true, flash
	d.render(w, r, "queue", "queue-area", view{Title: "Queue of " + route, Flash: flash, Data: data})
}

// resolveTargets finds what the selected ids and keys are now.
func (d *Dashboard) resolveTargets(ctx context.Context, route string, ids, keys []string) ([]target, []string, error) {
	st := d.svc.Store()
	var out []target
	var notes []string
	seen := map[string]bool{}
	add := func(t target) {
		k := t.Kind + "\x00" + t.Key
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			notes = append(notes, fmt.Sprintf("%q is not an entry id", s))
			continue
		}
		t, err := d.resolveID(ctx, route, id)
		if errors.Is(err, store.ErrNotFound) {
			notes = append(notes, fmt.Sprintf("entry %d is not in route %s", id, route))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if t.Key == "" {
			// The store selects by key, and an empty key selects every key.
			notes = append(notes, fmt.Sprintf("entry %d has an empty key: use the route-wide buttons", id))
			continue
		}
		add(t)
	}
	for _, key := range keys {
		if key == "" {
			continue
		}
		ts, err := d.keyTargets(ctx, st, route, key)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range ts {
			add(t)
		}
	}
	return out, notes, nil
}

// resolveID says what entry id of route is now: queued (its status), a
// dead letter, or gone (delivered, skipped or discarded).
func (d *Dashboard) resolveID(ctx context.Context, route string, id int64) (target, error) {
	st := d.svc.Store()
	e, err := st.Entry(ctx, id)
	if err == nil {
		if e.Route != route {
			return target{}, store.ErrNotFound
		}
		return target{Key: e.Key, Kind: statusName(e.Status), ID: id}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return target{}, fmt.Errorf("entry %d: %w", id, err)
	}
	atts, err := st.Attempts(ctx, id)
	if err != nil {
		return target{}, fmt.Errorf("entry %d: attempts: %w", id, err)
	}
	if len(atts) == 0 || atts[0].Route != route {
		return target{}, store.ErrNotFound
	}
	key := atts[0].Key
	dl, err := deadLetterOf(ctx, st, route, key, id)
	if err != nil {
		return target{}, err
	}
	if dl != nil {
		return target{Key: key, Kind: "dead", ID: id}, nil
	}
	return target{Key: key, Kind: "gone", ID: id}, nil
}

// deadLetterOf finds the dead letter of entry id (nil when none).
func deadLetterOf(ctx context.Context, st store.Store, route, key string, id int64) (*store.DeadLetter, error) {
	dead, err := st.DeadLetters(ctx, store.DeadFilter{Route: route, Key: key, Limit: 100})
	if err != nil {
		return nil, fmt.Errorf("dead letters of key %q: %w", key, err)
	}
	for i := range dead {
		if dead[i].EntryID == id {
			return &dead[i], nil
		}
	}
	return nil, nil
}

// keyTargets lists the states key is in: its queued entries, a dead
// letter, or only a delivered content (for resend).
func (d *Dashboard) keyTargets(ctx context.Context, st store.Store, route, key string) ([]target, error) {
	var out []target
	entries, err := byStatus(ctx, st, store.EntryFilter{Route: route, Key: key, Limit: 10})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		out = append(out, target{Key: key, Kind: statusName(e.Status)})
	}
	dead, err := st.DeadLetters(ctx, store.DeadFilter{Route: route, Key: key, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("dead letters of key %q: %w", key, err)
	}
	if len(dead) > 0 {
		out = append(out, target{Key: key, Kind: "dead"})
	}
	if len(out) == 0 {
		out = append(out, target{Key: key, Kind: "gone"})
	}
	return out, nil
}

// confirmQueueAction renders the question a bulk action asks first.
func (d *Dashboard) confirmQueueAction(w http.ResponseWriter, r *http.Request, route string, act queueAct, all string, counts store.Counts, targets []target, notes []string) {
	form := r.PostForm
	c := &confirmStep{
		Action: "/routes/" + url.PathEscape(route) + "/queue/" + act.verb(),
		Back:   queueURL(route, form.Get("view_status"), form.Get("view_key"), 0),
		Button: "Yes, " + act.verb(),
	}
	if form.Get("view") == "ledger" && len(form["key"]) == 1 {
		c.Back = ledgerURL(route, form.Get("key"))
	}
	for _, name := range []string{"all", "view", "view_status", "view_key", "view_after"} {
		if v := form.Get(name); v != "" {
			c.Fields = append(c.Fields, formField{name, v})
		}
	}
	for _, v := range form["id"] {
		c.Fields = append(c.Fields, formField{"id", v})
	}
	for _, v := range form["key"] {
		c.Fields = append(c.Fields, formField{"key", v})
	}
	c.Fields = append(c.Fields, formField{"confirmed", "1"})
	switch {
	case all == "errors":
		c.Question = fmt.Sprintf("Retry %s of %s?", allText(counts.Error, "error entry", "error entries"), route)
		c.Detail = "They are sent again on the next run, which is asked for now."
	case all == "dead":
		c.Question = fmt.Sprintf("Replay %s of %s?", allText(counts.Dead, "dead letter", "dead letters"), route)
		c.Detail = "They are queued again as pending and sent on the next run, which is asked for now; a dead letter whose key has newer data stays."
	default:
		n := len(targets)
		switch act {
		case actDiscard:
			c.Question = fmt.Sprintf("Discard %s?", entriesText(n))
			c.Detail = "They will not be sent. Their content counts as delivered by hand; the history keeps who discarded them."
			c.Danger = true
		case actResend:
			c.Question = fmt.Sprintf("Resend %s?", entriesText(n))
			c.Detail = "Dead letters are queued again; a delivered key gets its last delivered content queued again."
		default:
			c.Question = fmt.Sprintf("Retry %s?", entriesText(n))
			c.Detail = "Entries in error and dead letters are queued again and sent on the next run, which is asked for now."
		}
		for i, t := range targets {
			if i == 20 {
				c.More = len(targets) - i
				break
			}
			c.Keys = append(c.Keys, t.Key+" ("+t.Kind+")")
		}
	}
	if len(notes) > 0 {
		c.Detail += " Note: " + strings.Join(notes, "; ") + "."
	}
	d.render(w, r, "queue", "", view{Title: "Confirm: " + act.verb(), Data: &queueData{Route: route, Confirm: c}})
}

// allText names every one of n things: "the 1 dead letter", "all 12 dead letters".
func allText(n int, one, many string) string {
	if n == 1 {
		return "the 1 " + one
	}
	return "all " + humanNumber(n) + " " + many
}

func entriesText(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return humanNumber(n) + " entries"
}

// applyQueueAction does the action through the store, as the REST API
// and the CLI do, and says what happened in one line.
func (d *Dashboard) applyQueueAction(ctx context.Context, r *http.Request, route string, act queueAct, all string, targets []target) (string, error) {
	st := d.svc.Store()
	now := d.opts.Now()
	var (
		done, skipped int
		superseded    []string
		problems      []string
		runNeeded     bool
	)
	switch all {
	case "errors", "dead":
		sel := store.ReplaySelector{Route: route, Errors: all == "errors", Dead: all == "dead", Now: now}
		res, err := st.Replay(ctx, sel)
		if err != nil {
			return "", fmt.Errorf("route %q: replay %s: %w", route, all, err)
		}
		done, superseded = res.Replayed, res.Superseded
		runNeeded = done > 0
	default:
		for _, t := range targets {
			switch {
			case act == actDiscard && (t.Kind == "error" || t.Kind == "dead"):
				n, err := st.Discard(ctx, store.DiscardSelector{
					Route: route, Key: t.Key, Errors: t.Kind == "error", Dead: t.Kind == "dead",
					Who: d.who(r), Why: discardWhy, Now: now,
				})
				if err != nil {
					return "", fmt.Errorf("route %q: discard key %q: %w", route, t.Key, err)
				}
				done += n
			case act != actDiscard && (t.Kind == "error" || t.Kind == "dead"):
				res, err := st.Replay(ctx, store.ReplaySelector{Route: route, Key: t.Key, Errors: t.Kind == "error", Dead: t.Kind == "dead", Now: now})
				if err != nil {
					return "", fmt.Errorf("route %q: retry key %q: %w", route, t.Key, err)
				}
				done += res.Replayed
				superseded = append(superseded, res.Superseded...)
			case act == actResend && t.Kind == "gone":
				_, err := st.Resend(ctx, route, t.Key, d.who(r), now)
				switch {
				case errors.Is(err, store.ErrNotFound):
					problems = append(problems, fmt.Sprintf("key %s has no delivered content kept", t.Key))
				case errors.Is(err, store.ErrNewerQueued):
					problems = append(problems, fmt.Sprintf("key %s has a newer entry queued, which goes first", t.Key))
				case err != nil:
					return "", fmt.Errorf("route %q: resend key %q: %w", route, t.Key, err)
				default:
					done++
				}
			default:
				skipped++
			}
		}
		runNeeded = done > 0 && act != actDiscard
	}
	past := map[queueAct]string{actRetry: "retried", actDiscard: "discarded", actResend: "queued again"}[act]
	if all == "dead" {
		past = "replayed"
	}
	msg := fmt.Sprintf("%s %s", entriesText(done), past)
	if all == "dead" {
		msg = fmt.Sprintf("%s dead letters replayed", humanNumber(done))
		if done == 1 {
			msg = "1 dead letter replayed"
		}
	}
	if skipped > 0 {
		msg += fmt.Sprintf("; %s left alone (only entries in error and dead letters can be %s)", humanNumber(skipped), past)
	}
	if len(superseded) > 0 {
		msg += fmt.Sprintf("; not replayed, a newer version is queued or delivered: key %s", strings.Join(capList(superseded, 10), ", "))
	}
	if len(problems) > 0 {
		msg += "; " + strings.Join(capList(problems, 10), "; ")
	}
	if runNeeded {
		msg += "; " + d.askRun(ctx, route)
	}
	return msg, nil
}

// askRun asks the service to run route now, so retried entries go
// through while the user watches; it says so for the flash line.
func (d *Dashboard) askRun(ctx context.Context, route string) string {
	if _, err := d.svc.Trigger(ctx, service.StartRequest{Routes: []string{route}, Trigger: "dashboard"}); err != nil {
		d.log.Warn("dashboard: ask for a run", "route", route, "error", err)
		return fmt.Sprintf("a run of %s could not be asked for (%v): they go with its next run", route, err)
	}
	return fmt.Sprintf("a run of %s was asked for", route)
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}

// byStatus lists the queued entries f selects (f.Status ignored) of every
// status, by ID, from one query per status. Each of those has an index
// of the route (and of (route, key) with a key) to use, where one query
// over every status reads the store in ID order, other routes' entries
// included. Its cost grows with the route's entries of a status.
func byStatus(ctx context.Context, st store.Store, f store.EntryFilter) ([]store.Entry, error) {
	var out []store.Entry
	for _, s := range []store.Status{store.StatusPending, store.StatusError, store.StatusLeased} {
		f.Status = s
		es, err := st.Entries(ctx, f)
		if err != nil {
			if f.Key != "" {
				return nil, fmt.Errorf("route %q: entries of key %q: %w", f.Route, f.Key, err)
			}
			return nil, fmt.Errorf("route %q: list entries: %w", f.Route, err)
		}
		out = append(out, es...)
	}
	slices.SortFunc(out, func(a, b store.Entry) int { return cmp.Compare(a.ID, b.ID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
