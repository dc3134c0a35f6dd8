package dashboard

import (
	"context"
	"errors"
	"fmt"
	"github.com/ferry-dev/ferry/internal/config"
	"net/http"
	"net/url"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
)

// Key search across every route, and a key's ledger: every version,
// attempt, answer and final operation of one business key.

const (
	// searchRunsScanned: removed routes are found among this many newest runs.
	searchRunsScanned = 500
	// maxOwedScanned caps the outbox items of a route read for a ledger.
	maxOwedScanned = 1000
)

type searchHit struct {
	Route     string
	InConfig  bool
	Queued    []store.Entry
	Dead      []store.DeadLetter
	Delivered *store.Delivered
	History   bool // attempts only (delivered long ago, skipped, discarded)
	LedgerURL string
}

type searchData struct {
	Q      string
	Hits   []searchHit
	Routes int // routes searched
	// KeyedBy says, for a search that found nothing, which field keys
	// each route ("orders by id"): the number a user knows may be
	// another field of the record.
	KeyedBy []string
}

func (d *Dashboard) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := &searchData{Q: q}
	if q == "" {
		d.render(w, r, "search", "", view{Title: "Find a key", Query: q, Data: data})
		return
	}
	routes, err := d.knownRoutes(r.Context())
	if err != nil {
		d.serverError(w, r, "list the routes", err)
		return
	}
	data.Routes = len(routes)
	data.KeyedBy = keyedBy(d.svc.Config(), 10)
	// Two passes: the queue, dead letters and delivered content first (by
	// indexes of route and key); the history of attempts, read by route,
	// only when none of those knows the key anywhere (a record skipped by
	// a filter, or delivered before retention forgot its content).
	for _, history := range []bool{false, true} {
		for _, route := range routes {
			hit, found, err := d.findKey(r.Context(), route, q, history)
			if err != nil {
				d.serverError(w, r, "search route "+route, err)
				return
			}
			if found {
				data.Hits = append(data.Hits, hit)
			}
		}
		if len(data.Hits) > 0 {
			break
		}
	}
	if len(data.Hits) == 1 {
		http.Redirect(w, r, data.Hits[0].LedgerURL, http.StatusSeeOther)
		return
	}
	d.render(w, r, "search", "", view{Title: "Find " + q, Query: q, Data: data})
}

// knownRoutes lists the config's routes, then routes the store still has
// runs of (removed from the config), newest runs first.
func (d *Dashboard) knownRoutes(ctx context.Context) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	if cfg := d.svc.Config(); cfg != nil {
		for _, n := range cfg.RouteNames() {
			names, seen[n] = append(names, n), true
		}
	}
	runs, err := d.svc.Store().ListRuns(ctx, store.RunFilter{Limit: searchRunsScanned})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	for _, run := range runs {
		if !seen[run.Route] {
			names, seen[run.Route] = append(names, run.Route), true
		}
	}
	return names, nil
}

// findKey looks key up in route: queued, dead, delivered, or, with
// history, only in the history of attempts.
func (d *Dashboard) findKey(ctx context.Context, route, key string, history bool) (searchHit, bool, error) {
	st := d.svc.Store()
	hit := searchHit{Route: route, LedgerURL: ledgerURL(route, key)}
	if cfg := d.svc.Config(); cfg != nil && cfg.Routes[route] != nil {
		hit.InConfig = true
	}
	var err error
	if hit.Queued, err = byStatus(ctx, st, store.EntryFilter{Route: route, Key: key, Limit: 10}); err != nil {
		return hit, false, err
	}
	if hit.Dead, err = st.DeadLetters(ctx, store.DeadFilter{Route: route, Key: key, Limit: 10}); err != nil {
		return hit, false, fmt.Errorf("dead letters of key %q: %w", key, err)
	}
	del, err := st.LastDelivered(ctx, route, key)
	switch {
	case err == nil:
		hit.Delivered = &del
	case !errors.Is(err, store.ErrNotFound):
		return hit, false, fmt.Errorf("delivered content of key %q: %w", key, err)
	}
	if len(hit.Queued) > 0 || len(hit.Dead) > 0 || hit.Delivered != nil {
		return hit, true, nil
	}
	if !history {
		return hit, false, nil
	}
	// Only when nothing else knows the key: the attempts are read by route.
	atts, err := st.KeyAttempts(ctx, route, key, 1)
	if err != nil {
		return hit, false, fmt.Errorf("attempts of key %q: %w", key, err)
	}
	hit.History = len(atts) > 0
	return hit, hit.History, nil
}

// attemptGroup is the attempts of one version of one entry.
type attemptGroup struct {
	EntryID  int64
	Version  int64
	EntryURL string
	Attempts []attemptRow
}

type ledgerData struct {
	Route     string
	Key       string
	InConfig  bool
	RouteURL  string
	QueueURL  string
	Queued    []store.Entry
	Dead      []store.DeadLetter
	Delivered *store.Delivered
	// DeliveredBody is the last delivered content, pretty-printed.
	DeliveredBody string
	Groups        []attemptGroup
	Shown         int  // attempts listed
	Capped        bool // more attempts than shown
	Owed          []store.OutboxItem
	GivenUp       []store.OutboxItem
	OwedCapped    bool
	CanRetry      bool
	CanDiscard    bool
	CanResend     bool
	Action        string
	Flash         string
}

func (d *Dashboard) ledgerPage(w http.ResponseWriter, r *http.Request) {
	d.renderLedger(w, r, r.PathValue("route"), r.PathValue("key"), "")
}

// renderLedger renders the ledger of key in route, with flash on top.
func (d *Dashboard) renderLedger(w http.ResponseWriter, r *http.Request, route, key, flash string) {
	ctx := r.Context()
	st := d.svc.Store()
	hit, found, err := d.findKey(ctx, route, key, true)
	if err != nil {
		d.serverError(w, r, "read the ledger", err)
		return
	}
	if !hit.InConfig && !found {
		d.fail(w, r, http.StatusNotFound, "No such key", fmt.Sprintf("Route %q is not in the config, and the store holds nothing of key %q in it.", route, key))
		return
	}
	data := &ledgerData{
		Route: route, Key: key, InConfig: hit.InConfig, Queued: hit.Queued, Dead: hit.Dead, Delivered: hit.Delivered,
		RouteURL: "/routes/" + url.PathEscape(route), QueueURL: queueURL(route, "", key, 0),
		Action: "/routes/" + url.PathEscape(route) + "/queue/", Flash: flash,
	}
	if hit.Delivered != nil {
		data.DeliveredBody = prettyJSON(hit.Delivered.Payload)
	}
	atts, err := st.KeyAttempts(ctx, route, key, maxAttemptsShown+1)
	if err != nil {
		d.serverError(w, r, "read the ledger", fmt.Errorf("attempts of key %q: %w", key, err))
		return
	}
	if len(atts) > maxAttemptsShown {
		atts, data.Capped = atts[:maxAttemptsShown], true
	}
	data.Shown = len(atts)
	for _, a := range attemptRows(atts) {
		n := len(data.Groups)
		if n > 0 && data.Groups[n-1].EntryID == a.EntryID && data.Groups[n-1].Version == a.Version {
			data.Groups[n-1].Attempts = append(data.Groups[n-1].Attempts, a)
			continue
		}
		data.Groups = append(data.Groups, attemptGroup{EntryID: a.EntryID, Version: a.Version, EntryURL: entryURL(a.EntryID), Attempts: []attemptRow{a}})
	}
	items, err := st.Outbox(ctx, route, maxOwedScanned)
	if err != nil {
		d.serverError(w, r, "read the ledger", fmt.Errorf("operations owed of route %q: %w", route, err))
		return
	}
	data.OwedCapped = len(items) == maxOwedScanned
	for _, it := range items {
		switch {
		case it.Key != key:
		case it.Dead:
			data.GivenUp = append(data.GivenUp, it)
		default:
			data.Owed = append(data.Owed, it)
		}
	}
	if data.InConfig && key != "" {
		queued := false
		for _, e := range data.Queued {
			queued = true
			if e.Status == store.StatusError {
				data.CanRetry, data.CanDiscard = true, true
			}
		}
		if len(data.Dead) > 0 {
			data.CanRetry, data.CanDiscard = true, true
		}
		data.CanResend = !queued && data.Delivered != nil
	}
	d.render(w, r, "ledger", "", view{Title: "Key " + key + " of " + route, Flash: flash, Data: data})
}

// keyedBy lists "route by field" for up to n routes of cfg.
func keyedBy(cfg *config.Config, n int) []string {
	var out []string
	for _, name := range cfg.RouteNames() {
		rc := cfg.Routes[name]
		field := ""
		switch {
		case rc.Webhook != nil:
			field = rc.Webhook.Key
		case rc.Source.Config != nil:
			field, _ = partOptions(rc.Source.Config)["key"].(string)
		}
		if field == "" {
			continue
		}
		if len(out) == n {
			out = append(out, "…")
			break
		}
		out = append(out, name+" by "+field)
	}
	return out
}
