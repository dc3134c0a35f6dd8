package dashboard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// pages holds one template set per page: the layout, the shared partials
// (partial_*.html) and the page's own file, so every page can define its
// own "title" and "content" blocks.
type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: list templates: %w", err)
	}
	var shared []string
	var own []string
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "partial_") {
			shared = append(shared, n)
			continue
		}
		own = append(own, n)
	}
	base, err := template.New("layout.html").Funcs(funcs()).ParseFS(templateFiles, shared...)
	if err != nil {
		return nil, fmt.Errorf("dashboard: parse templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range own {
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("dashboard: parse %s: %w", n, err)
		}
		p.byName[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return p, nil
}

// view is what every page template gets: the page's own data in Data and
// what the layout needs around it.
type view struct {
	Title  string
	Nav    string // the navigation item to mark current
	CSRF   string // the token every form and htmx request sends back
	Auth   bool   // a password is configured: show "Log out"
	Query  string // the search box's value
	Flash  string // a one-line note at the top (e.g. "12 entries retried")
	Now    time.Time
	Data   any
	Status int // HTTP status (default 200)
}

// render writes page name (its "layout" template) or, when block is not
// "", only that block: htmx requests swap fragments.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name, block string, v view) {
	t, ok := d.pages.byName[name]
	if !ok {
		d.log.Error("dashboard: no template", "page", name)
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	v.CSRF = d.auth.csrfToken(w, r)
	v.Auth = d.auth.enabled()
	v.Now = d.opts.Now()
	if v.Query == "" {
		v.Query = r.URL.Query().Get("q")
	}
	if v.Flash == "" && block == "" {
		v.Flash = takeFlash(w, r)
	}
	entry := "layout"
	if block != "" {
		entry = block
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, entry, v); err != nil {
		d.log.Error("dashboard: render", "page", name, "block", block, "error", err)
		http.Error(w, "the page could not be rendered; the server log says why", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	securityHeaders(h)
	status := v.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// securityHeaders keeps pages from being framed or sniffed; scripts come
// from this origin only (htmx and its SSE extension are embedded).
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
}

// fail renders the error page with status.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	block := ""
	if isHTMX(r) {
		// A fragment request: the answer goes to the flash area.
		w.Header().Set("HX-Retarget", "#flash")
		w.Header().Set("HX-Reswap", "innerHTML")
		block = "flash-error"
	}
	d.render(w, r, "error", block, view{Title: title, Data: detail, Status: status})
}

// serverError logs err and renders a 500 that names what failed.
func (d *Dashboard) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	d.log.Error("dashboard: "+what, "path", r.URL.Path, "error", err)
	d.fail(w, r, http.StatusInternalServerError, "Something went wrong", what+": "+err.Error())
}

// isHTMX reports whether the request is htmx's (it wants a fragment).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

func funcs() template.FuncMap {
	return template.FuncMap{
		"ago":        ago,
		"until":      until,
		"when":       when,
		"dur":        humanDuration,
		"runDur":     runDuration,
		"num":        humanNumber,
		"bytes":      humanBytes,
		"status":     statusName,
		"pathEscape": url.PathEscape,
		"queryEscape": func(s string) string {
			return url.QueryEscape(s)
		},
		"pretty":  prettyJSON,
		"excerpt": excerpt,
		"add":     func(a, b int) int { return a + b },
		"pct": func(part, whole int) int {
			if whole <= 0 {
				return 0
			}
			return int(math.Round(100 * float64(part) / float64(whole)))
		},
		"dict": dict,
	}
}

// dict builds a map for passing several values to a sub-template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// ago says how long before now t was ("3 min ago"); "never" for zero.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + humanDuration(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return humanDuration(d) + " ago"
}

// until says how long after now t is ("in 4 min"); "" for zero.
func until(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	if d <= 0 {
		return "due now"
	}
	return "in " + humanDuration(d)
}

// when formats t for a table cell (UTC, to the second); "" for zero.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// humanDuration rounds d to what a person reads: 850ms, 12s, 4 min, 3 h 5 min, 2 d 4 h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		s := d.Seconds()
		if s < 10 {
			return strconv.FormatFloat(s, 'f', 1, 64) + " s"
		}
		return strconv.Itoa(int(s)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) - 60*h
		if m == 0 {
			return strconv.Itoa(h) + " h"
		}
		return fmt.Sprintf("%d h %d min", h, m)
	default:
		days := int(d.Hours()) / 24
		return fmt.Sprintf("%d d %d h", days, int(d.Hours())-24*days)
	}
}

// runDuration is how long a run (a *store.Run, or a row of the runs
// table) took, or has taken so far.
func runDuration(now time.Time, v any) string {
	var run *store.Run
	switch x := v.(type) {
	case *store.Run:
		run = x
	case runRow:
		run = &x.Run
	}
	if run == nil || run.StartedAt.IsZero() {
		return ""
	}
	end := run.EndedAt
	if end.IsZero() {
		end = now
	}
	return humanDuration(end.Sub(run.StartedAt))
}

// humanNumber groups thousands: 1,234,567.
func humanNumber(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// statusName spells an entry status out.
func statusName(s store.Status) string {
	switch s {
	case store.StatusPending:
		return "pending"
	case store.StatusError:
		return "error"
	case store.StatusLeased:
		return "sending"
	}
	return string(s)
}

// prettyJSON indents a JSON document for reading; anything else is shown
// as it is. html/template escapes the result where it is used.
func prettyJSON(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return string(raw)
	}
	return out.String()
}

// excerpt cuts s to n runes, marking the cut.
func excerpt(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// flashCookie carries a one-line note across the redirect after a plain
// form post; it lives seconds and is cleared when shown.
const flashCookie = "ferry_flash"

func setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(excerpt(300, msg))),
		Path: "/", MaxAge: 30, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return ""
	}
	return string(b)
}
