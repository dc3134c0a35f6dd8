package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ferry-dev/ferry/internal/dashboard"
	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
)

// secretHash is bcrypt("secret") at the minimum cost, so logging in costs
// the test nothing.
const secretHash = "$2a$04$7Ab1tx13/fatedPv6QmxXOjUkTCSj/SbbqW97XlHmXyNc3sfeYoc6"

// TestBrowser walks the morning-after flow of issue 10 in a real headless
// Chromium: log in, open the overview and a route, press "Run now", watch
// the live progress reach the end without a reload, open the errored
// entry, read its error, fix the destination, retry, and see it done.
// Key 7 is refused with 422, which the HTTP destination does not retry
// (a 4xx other than 408 and 429 means the request itself is wrong), so
// the entry is a dead letter at once: the flow opens the dead tab, and
// "retry" is the entry page's replay.
// Screenshots of every page go to the artifacts folder (see
// artifactsDir).
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	shots := artifactsDir(t)

	f := dashboardtest.New(t, dashboardtest.Options{Login: dashboard.Login{PasswordHash: secretHash}})
	recs := make([]map[string]any, 0, 30)
	for i := 1; i <= 30; i++ {
		recs = append(recs, map[string]any{"id": i, "total": 10 * i, "customer": fmt.Sprintf("C%03d", i), "note": "order " + strconv.Itoa(i)})
	}
	f.Sys.SetRecords("orders", recs...)
	f.Sys.Fail("7", 422)
	// Slow deliveries a little, so the live progress has a middle to show:
	// the page hears of progress at most every 250ms, and the outbox sends
	// 4 at once, so 30 records at 100ms take about 0.8s.
	f.Sys.Delay(100 * time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	log := watchPage(bctx)
	defer func() {
		for _, l := range log.lines() {
			t.Log("browser: " + l)
		}
	}()

	b := &browser{t: t, ctx: bctx, base: f.TS.URL, shots: shots}
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			// What the browser showed when the step failed.
			if png, err := run(b, chromedp.FullScreenshot(100)); err == nil {
				_ = os.WriteFile(filepath.Join(shots, "failed-"+name+".png"), png, 0o644)
			}
			t.FailNow()
		}
	}

	step("login", func(t *testing.T) {
		b.t = t
		b.do("open /", chromedp.Navigate(b.base+"/"))
		loc := b.location()
		if !strings.Contains(loc, "/login") {
			t.Fatalf("GET / without a session landed on %s, want the login page", loc)
		}
		b.do("wait for the login form", chromedp.WaitVisible(chromedp.CSS("input#password")))
		b.shot("01-login")
		b.accessible("01-login")
		b.do("log in",
			chromedp.SendKeys(chromedp.CSS("input#password"), "secret"),
			chromedp.Click(chromedp.CSS("form:has(#password) button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("table#routes")),
		)
	})

	step("overview", func(t *testing.T) {
		b.t = t
		b.do("wait for the routes", chromedp.WaitVisible(chromedp.CSS(`tr[data-route="orders"] a.route-link`)))
		for _, r := range []string{"orders", "customers", "catalog"} {
			if n := b.count(`tr[data-route="` + r + `"]`); n != 1 {
				t.Errorf("overview has %d rows for route %s, want 1", n, r)
			}
		}
		b.shot("02-overview")
		b.accessible("02-overview")
	})

	step("route", func(t *testing.T) {
		b.t = t
		b.do("open the route",
			chromedp.Click(chromedp.CSS(`tr[data-route="orders"] a.route-link`)),
			chromedp.WaitVisible(chromedp.CSS("button#run-now")),
		)
		if loc := b.location(); !strings.HasSuffix(loc, "/routes/orders") {
			t.Fatalf("the route link led to %s, want /routes/orders", loc)
		}
		b.do("find the live area and the buttons",
			chromedp.WaitReady(chromedp.CSS("#live")),
			chromedp.WaitVisible(chromedp.CSS("button#run-full")),
			chromedp.WaitReady(chromedp.CSS("a#queue-link")),
		)
		b.shot("05-route-before")
		b.accessible("05-route-before")

		// No run of orders yet, so #live cannot already read "ended".
		if st := b.attr("#live", "data-run-status"); st != "" && st != "running" {
			t.Fatalf("#live reads data-run-status=%q before any run", st)
		}
		// A user takes a moment before pressing the button; the test waits
		// for the page's event stream instead (htmx's SSE extension keeps
		// its EventSource on the sse-connect element), so the run's first
		// events cannot pass before the page listens. Only noted if absent.
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`(() => {
			const d = document.querySelector("[sse-connect]")?.["htmx-internal-data"];
			return d?.sseEventSource?.readyState === 1;
		})()`, chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
			t.Logf("note: no open event stream seen on the route page: %v", err)
		}

		// A marker that a page load would wipe out: proves the progress
		// below arrived without a reload.
		b.do("set the no-reload marker", chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))
		b.do("press Run now", chromedp.Click(chromedp.CSS("button#run-now")))

		// Mid-run: some progress shown, the run not ended yet. The run is
		// short, so missing this moment is only noted; the end is required.
		mid, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(() => {
			const s = document.querySelector("#live")?.getAttribute("data-run-status");
			if (!s) return false;
			if (s !== "running") return "ended";
			const n = id => document.getElementById(id)?.textContent.trim();
			return "running: collected " + n("live-collected") + ", sent " + n("live-sent") + ", done " + n("live-done");
		})()`, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(10*time.Millisecond)))
		if err != nil {
			t.Fatalf("no run shown in #live after Run now: %v%s", err, b.dump("#live"))
		}
		if strings.HasPrefix(mid, "running") {
			t.Log("mid-run, without a reload: " + mid)
			b.shot("06-route-running")
		} else {
			t.Log("note: the run ended before a mid-run state was seen")
		}

		status, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(() => {
			const s = document.querySelector("#live")?.getAttribute("data-run-status");
			return ["succeeded", "partially_failed", "failed", "cancelled", "abandoned"].includes(s) ? s : false;
		})()`, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
		if err != nil {
			t.Fatalf("#live never carried an ended data-run-status: %v%s", err, b.dump("#live"))
		}
		if !b.evalBool(`window.__noReload === 1`) {
			t.Fatal("the page reloaded while the run went on: the progress must arrive by server-sent events")
		}
		// The rest of the page follows the run's end without a reload:
		// the state in the heading, the runs table and the chart.
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`(() => {
			const state = document.querySelector("#route-state")?.textContent.trim();
			return state === "failing" && !!document.querySelector("#route-runs table") && !!document.querySelector("#route-chart svg");
		})()`, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Errorf("after the run the heading, runs table or chart did not update: %v%s%s", err, b.dump("h1"), b.dump("#route-runs"))
		}
		b.shot("07-route-after")
		if status != "partially_failed" {
			t.Errorf("run status %q, want partially_failed (29 delivered, key 7 refused)", status)
		}
		want := map[string]int{"#live-collected": 30, "#live-sent": 30, "#live-done": 29, "#live-failed": 1}
		for sel, n := range want {
			if got := b.number(sel); got != n {
				t.Errorf("%s reads %d, want %d", sel, got, n)
			}
		}
		if got := f.Sys.Received("orders"); got != 30 {
			t.Errorf("the destination got %d deliveries, want 30", got)
		}
	})

	var entryURL string
	step("queue", func(t *testing.T) {
		b.t = t
		href := b.attr("a#queue-link", "href")
		if !strings.HasPrefix(href, "/routes/orders/queue") {
			t.Errorf("a#queue-link points to %q, want /routes/orders/queue…", href)
		}
		b.do("open the dead letters", chromedp.Navigate(b.base+"/routes/orders/queue?status=dead"))
		if _, err := run(b, chromedp.WaitVisible(chromedp.CSS("tr[data-entry-id] a.entry-link"))); err != nil {
			t.Fatalf("the queue page shows no row tr[data-entry-id] with a link a.entry-link (the markup this test relies on): %v%s",
				err, b.dump("tbody tr"))
		}
		if n := b.count("tr[data-entry-id]"); n != 1 {
			t.Errorf("the dead letters list %d entries, want 1 (key 7)", n)
		}
		b.shot("08-queue-dead")
		b.accessible("08-queue-dead")
		b.do("open the entry",
			chromedp.Click(chromedp.CSS("tr[data-entry-id] a.entry-link")),
			chromedp.WaitVisible(chromedp.CSS("#entry-status")),
		)
		entryURL = b.location()
		if !strings.Contains(entryURL, "/entries/") {
			t.Fatalf("the entry link led to %s, want /entries/ID", entryURL)
		}
	})

	step("entry", func(t *testing.T) {
		b.t = t
		if s := b.text("#entry-status"); s != "dead" {
			t.Errorf("#entry-status reads %q, want dead (422 is not retried)", s)
		}
		b.do("wait for the error text", chromedp.WaitVisible(chromedp.CSS("#entry-error")))
		msg := b.text("#entry-error")
		if !strings.Contains(msg, "422") && !strings.Contains(msg, "customer 7 unknown") {
			t.Errorf("#entry-error reads %q, want the destination's answer (422, customer 7 unknown)", msg)
		}
		b.shot("09-entry-error")
		b.accessible("09-entry-error")

		// The fix: the ERP knows customer 7 now.
		f.Sys.Fail("7", 0)
		before := f.Sys.Received("orders")
		// Wait for the server's answer to the press before leaving the page:
		// a navigation would abort htmx's request (a form post without
		// htmx answers with the entry page again; both match).
		res, err := run(b, chromedp.WaitEvent(network.ResponseReceived, func(ev network.EventResponseReceived) bool {
			return ev.Response != nil && strings.Contains(ev.Response.URL, "/entries/")
		}, chromedp.Click(chromedp.CSS("button#retry"))))
		if err != nil {
			t.Fatalf("press Retry: no answer: %v", err)
		}
		if res.Response.Status >= 400 {
			t.Fatalf("Retry answered %d %s%s", res.Response.Status, res.Response.StatusText, b.dump("#flash"))
		}

		// The entry page need not be live: reload until it says done.
		deadline := time.Now().Add(20 * time.Second)
		status := ""
		for {
			_, err := run(b, chromedp.Steps(chromedp.Navigate(entryURL), chromedp.WaitVisible(chromedp.CSS("#entry-status"))))
			if err == nil {
				status = b.text("#entry-status")
				if status == "done" {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("#entry-status still reads %q 20s after Retry (want done); the destination got %d more deliveries; last error %v",
					status, f.Sys.Received("orders")-before, err)
			}
			select {
			case <-time.After(100 * time.Millisecond): // a polling interval, not a wait for correctness
			case <-b.ctx.Done():
				t.Fatalf("waiting for done: %v", b.ctx.Err())
			}
		}
		if got := f.Sys.Received("orders") - before; got != 1 {
			t.Errorf("retry made %d deliveries, want 1", got)
		}
		b.shot("10-entry-done")
	})

	// The overview again, now that it has something to show: at phone
	// width and in dark mode.
	step("overview-after", func(t *testing.T) {
		b.t = t
		b.do("open the overview", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-route="orders"]`)))
		b.shot("11-overview-after")
		b.do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.do("reload at phone width", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table#routes")))
		b.shot("12-overview-phone")
		if w := b.evalInt(`document.documentElement.scrollWidth`); w > 390+1 {
			// A wide table scrolls inside its .table-wrap; the page itself should not.
			t.Errorf("at 390px the page is %dpx wide: it scrolls sideways as a whole", w)
		}
		b.do("desktop width", chromedp.EmulateViewport(1280, 900))
		b.media("dark")
		b.do("reload in dark mode", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table#routes")))
		if !b.evalBool(`matchMedia("(prefers-color-scheme: dark)").matches`) {
			t.Error("the emulated dark mode did not take")
		}
		b.shot("13-overview-dark")
		b.do("open the route in dark mode", chromedp.Navigate(b.base+"/routes/orders"), chromedp.WaitVisible(chromedp.CSS("#live")))
		b.shot("14-route-dark")
		b.media("")
	})

	if errs := log.exceptions(); len(errs) > 0 {
		t.Errorf("the pages had %d JavaScript or security errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// findChromium finds the browser. Without one the test skips, except in
// CI (CI=true), where .ci/run installs it and its absence is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no chromium binary on PATH (apt-get install chromium; .ci/run installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + ": CI=true, so the browser test fails rather than skips")
	}
	t.Skip(msg + ": skipping the browser test")
	return ""
}

// artifactsDir is where screenshots go: $FERRY_TEST_ARTIFACTS/dashboard,
// by default test-artifacts/dashboard at the repository root (ignored by
// git). Each run replaces the previous run's pictures.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("FERRY_TEST_ARTIFACTS")
	if root == "" {
		repo, err := repoRoot()
		if err != nil {
			t.Fatalf("artifacts folder: %v", err)
		}
		root = filepath.Join(repo, "test-artifacts")
	}
	dir := filepath.Join(root, "dashboard")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	return dir
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// browser is the tab the flow drives, with the helpers that fail the
// current step.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

// actionTimeout bounds each action, so a missing element fails its step
// with a message instead of eating the whole flow's minute.
const actionTimeout = 10 * time.Second

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (page %s)", what, err, b.location())
	}
}

// run runs one action within actionTimeout.
func run[T any](b *browser, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

func (b *browser) location() string {
	loc, err := run(b, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := run(b, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// number reads the first number in an element's text ("1,234 sent" → 1234).
func (b *browser) number(sel string) int {
	b.t.Helper()
	s := b.text(sel)
	var digits strings.Builder
scan:
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == ',' && digits.Len() > 0: // a thousands separator
		case digits.Len() > 0:
			break scan
		}
	}
	n, err := strconv.Atoi(digits.String())
	if err != nil {
		b.t.Errorf("%s reads %q: no number", sel, s)
		return -1
	}
	return n
}

func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	v, err := run(b, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		b.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v.Value
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return b.evalInt(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

func (b *browser) evalInt(js string) int {
	b.t.Helper()
	n, err := run(b, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

func (b *browser) evalBool(js string) bool {
	b.t.Helper()
	v, err := run(b, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// media emulates prefers-color-scheme ("" turns the emulation off).
func (b *browser) media(scheme string) {
	b.t.Helper()
	p := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, p); err != nil {
		b.t.Fatalf("emulate prefers-color-scheme %q: %v", scheme, err)
	}
}

// shot saves a PNG of the whole page as NAME.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := run(b, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
}

// dump is an element's HTML for a failure message.
func (b *browser) dump(sel string) string {
	html, err := run(b, chromedp.OuterHTML(chromedp.CSS(sel), chromedp.AtLeast(0)))
	if err != nil || html == "" {
		return fmt.Sprintf("\n(%s not found on %s)", sel, b.location())
	}
	return "\n" + sel + ": " + html
}

// pageLog collects what the page says on its own: uncaught exceptions,
// console errors and the browser's own errors (network, security), to report after the flow (t.Log must not run after the
// test ends, and these arrive from the browser's goroutines). Confirmation
// dialogs (hx-confirm uses window.confirm) are accepted.
type pageLog struct {
	mu   sync.Mutex
	log  []string
	excs []string
}

func watchPage(ctx context.Context) *pageLog {
	l := &pageLog{}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			l.add(true, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning {
				continue
			}
			var parts []string
			for _, a := range ev.Args {
				switch {
				case len(a.Value) > 0:
					parts = append(parts, string(a.Value))
				case a.Description != "":
					parts = append(parts, a.Description)
				}
			}
			l.add(false, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			e := ev.Entry
			if e.Level != cdplog.EntryLevelError && e.Level != cdplog.EntryLevelWarning {
				continue
			}
			// A refused script or style (Content-Security-Policy) breaks
			// the page as surely as an exception does.
			l.add(e.Source == cdplog.EntrySourceSecurity, fmt.Sprintf("%s %s: %s %s", e.Source, e.Level, e.Text, e.URL))
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			l.add(false, fmt.Sprintf("dialog %s %q: accepted", ev.Type, ev.Message))
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return l
}

func (l *pageLog) add(exception bool, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, s)
	if exception {
		l.excs = append(l.excs, s)
	}
}

func (l *pageLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log...)
}

func (l *pageLog) exceptions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.excs...)
}

// accessible checks the page's basics: every control has a name a screen
// reader can say (a label, aria-label or its text), every image a text,
// one h1, and no heading level skipped.
func (b *browser) accessible(page string) {
	b.t.Helper()
	problems, err := run(b, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const named = el => (el.getAttribute("aria-label") || "").trim() || (el.labels && [...el.labels].some(l => l.textContent.trim())) ||
			(el.getAttribute("aria-labelledby") && document.getElementById(el.getAttribute("aria-labelledby"))) ||
			(el.tagName === "BUTTON" || el.tagName === "A") && el.textContent.trim() || (el.getAttribute("title") || "").trim();
		document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]").forEach(el => {
			if (!named(el)) out.push("control without a name: " + el.outerHTML.slice(0, 120));
		});
		document.querySelectorAll("img, svg").forEach(el => {
			if (!el.getAttribute("alt") && !el.getAttribute("aria-label") && el.getAttribute("aria-hidden") !== "true")
				out.push("image without a text: " + el.outerHTML.slice(0, 120));
		});
		if (document.querySelectorAll("h1").length !== 1) out.push(document.querySelectorAll("h1").length + " h1 headings");
		let last = 1;
		document.querySelectorAll("h1, h2, h3, h4").forEach(h => {
			const n = +h.tagName[1];
			if (n > last + 1) out.push("heading level skipped before: " + h.outerHTML.slice(0, 80));
			last = n;
		});
		return out;
	})()`))
	if err != nil {
		b.t.Fatalf("%s: accessibility check: %v", page, err)
	}
	for _, p := range problems {
		b.t.Errorf("%s: %s", page, p)
	}
}
