package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ferry-dev/ferry/internal/dashboard"
	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
)

const password = "correct horse battery staple"

func hashOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// clock is a settable time for the dashboard.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// visitor calls a dashboard directly, keeping its cookies, from a client
// address of its choosing and over TLS or not.
type visitor struct {
	t       *testing.T
	h       http.Handler
	remote  string
	tls     bool
	cookies map[string]*http.Cookie
}

func newVisitor(t *testing.T, h http.Handler) *visitor {
	return &visitor{t: t, h: h, remote: "127.0.0.1:40000", cookies: map[string]*http.Cookie{}}
}

type answer struct {
	status  int
	header  http.Header
	cookies map[string]*http.Cookie // set by this answer
	body    string
}

func (b *visitor) do(method, path string, form url.Values, header http.Header) answer {
	b.t.Helper()
	target := "http://localhost:8080" + path
	if b.tls {
		target = "https://localhost:8080" + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = b.remote
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	res := rec.Result()
	a := answer{status: res.StatusCode, header: res.Header, cookies: map[string]*http.Cookie{}, body: rec.Body.String()}
	for _, c := range res.Cookies() {
		a.cookies[c.Name] = c
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return a
}

func (b *visitor) get(path string) answer { b.t.Helper(); return b.do(http.MethodGet, path, nil, nil) }

func (b *visitor) post(path string, form url.Values) answer {
	b.t.Helper()
	return b.do(http.MethodPost, path, form, nil)
}

// login logs the visitor in through the login page.
func (b *visitor) login(pw string) answer {
	b.t.Helper()
	page := b.get("/login")
	if page.status != http.StatusOK {
		b.t.Fatalf("login page: %d %s", page.status, page.body)
	}
	return b.post("/login", url.Values{"csrf": {csrfOf(page.body)}, "password": {pw}})
}

var hxToken = regexp.MustCompile(`"X-CSRF-Token": "([^"]+)"`)

// csrfOf is the token a page carries: in a form, else in the htmx
// headers on <body>.
func csrfOf(body string) string {
	if tok := (dashboardtest.Page{Body: body}).CSRF(); tok != "" {
		return tok
	}
	if m := hxToken.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// newDash builds a second dashboard on the fixture's service with a clock
// and a login that tests can change.
func newDash(t *testing.T, f *dashboardtest.Fixture, now *clock, login *dashboard.Login, mu *sync.Mutex) *dashboard.Dashboard {
	t.Helper()
	d, err := dashboard.New(f.Svc, dashboard.Options{
		Now: now.Now,
		Login: func() dashboard.Login {
			mu.Lock()
			defer mu.Unlock()
			return *login
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// An unknown path goes through the guard to the dashboard's 404 page:
// 404 means "let in", whatever pages exist.
const guarded = "/no-such-page"

func TestNoPasswordLoopbackOnly(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	p := f.Get(guarded)
	if p.Status != http.StatusNotFound {
		t.Fatalf("loopback client without password: %d, want the page (404)\n%s", p.Status, p.Body)
	}
	if c := cookieNamed(p.Header, "ferry_csrf"); c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("csrf cookie %+v, want HttpOnly SameSite=Strict Path=/", c)
	}
	if strings.Contains(p.Body, "Log out") {
		t.Error("a log out button without a password")
	}
	if p := f.Get("/login"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/" {
		t.Errorf("login page without a password: %d %q, want 303 to /", p.Status, p.Header.Get("Location"))
	}

	for _, remote := range []string{"10.1.2.3:5555", "192.168.1.20:80", "[2001:db8::1]:443"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := httptest.NewRequest(method, "/", nil)
			r.RemoteAddr = remote
			w := httptest.NewRecorder()
			f.Dash.ServeHTTP(w, r)
			if w.Code != http.StatusForbidden {
				t.Errorf("%s from %s without password: %d, want 403", method, remote, w.Code)
			}
			if !strings.Contains(w.Body.String(), "server.dashboard.password_hash") {
				t.Errorf("the refusal does not say to set server.dashboard.password_hash:\n%s", w.Body.String())
			}
		}
	}
	for _, remote := range []string{"127.0.0.1:5555", "127.8.9.10:1", "[::1]:5555", "[::ffff:127.0.0.1]:80"} {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+guarded, nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		f.Dash.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET from %s without password: %d, want the page (404)", remote, w.Code)
		}
	}
	// A loopback client is not enough: a page of another site whose name
	// was rebound to 127.0.0.1 asks for its own host name, and a reverse
	// proxy on this machine makes every client loopback.
	for _, c := range []struct {
		host   string
		header http.Header
		want   int
	}{
		{"localhost:8080", nil, http.StatusNotFound},
		{"[::1]:8080", nil, http.StatusNotFound},
		{"0.0.0.0:8080", nil, http.StatusNotFound}, // the address ferry serve prints for a listener on :8080
		{"[::]:8080", nil, http.StatusNotFound},
		{"evil.test:8080", nil, http.StatusForbidden},
		{"127.0.0.1.evil.test", nil, http.StatusForbidden},
		{"127.0.0.1:8080", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, http.StatusForbidden},
		{"127.0.0.1:8080", http.Header{"Forwarded": {"for=203.0.113.9"}}, http.StatusForbidden},
		{"127.0.0.1:8080", http.Header{"X-Real-Ip": {"203.0.113.9"}}, http.StatusForbidden},
	} {
		r := httptest.NewRequest(http.MethodGet, guarded, nil)
		r.Host, r.RemoteAddr = c.host, "127.0.0.1:5555"
		for k, v := range c.header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		f.Dash.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("GET for host %s with %v from loopback without password: %d, want %d", c.host, c.header, w.Code, c.want)
		}
		if got := f.Dash.Authorized(r); got != (c.want != http.StatusForbidden) {
			t.Errorf("Authorized for host %s with %v: %v", c.host, c.header, got)
		}
	}
	// Assets are not guarded: the refusal page needs its stylesheet.
	r := httptest.NewRequest(http.MethodGet, "/static/app.css", nil)
	r.RemoteAddr = "10.1.2.3:5555"
	w := httptest.NewRecorder()
	f.Dash.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("stylesheet from afar: %d", w.Code)
	}
}

func TestLogin(t *testing.T) {
	hash := hashOf(t, password)
	f := dashboardtest.New(t, dashboardtest.Options{Login: dashboard.Login{PasswordHash: hash}})

	p := f.Get("/routes/orders?tab=runs")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login?next="+url.QueryEscape("/routes/orders?tab=runs") {
		t.Fatalf("without a session: %d to %q, want 303 to the login page", p.Status, p.Header.Get("Location"))
	}
	p = f.Do(http.MethodGet, "/overview/table", nil, http.Header{"Hx-Request": {"true"}, "Hx-Current-Url": {f.TS.URL + "/routes/orders"}})
	if p.Status != http.StatusUnauthorized || p.Header.Get("HX-Redirect") != "/login?next=%2Froutes%2Forders" {
		t.Errorf("htmx without a session: %d HX-Redirect %q, want 401 and the login page", p.Status, p.Header.Get("HX-Redirect"))
	}
	p = f.Do(http.MethodGet, "/live", nil, http.Header{"Accept": {"text/event-stream"}})
	if p.Status != http.StatusUnauthorized {
		t.Errorf("event stream without a session: %d, want 401", p.Status)
	}

	page := f.Get("/login?next=" + url.QueryEscape("/routes/orders"))
	if page.Status != http.StatusOK {
		t.Fatalf("login page: %d", page.Status)
	}
	for _, want := range []string{`<label for="password">`, `id="password" name="password" type="password"`, `name="next" value="/routes/orders"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	tok := page.CSRF()
	if tok == "" {
		t.Fatal("login page without a CSRF token")
	}

	wrong := "hunter2-<b>wrong</b>"
	p = f.Do(http.MethodPost, "/login", url.Values{"csrf": {tok}, "password": {wrong}, "next": {"/routes/orders"}}, nil)
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong password") {
		t.Errorf("wrong password: %d, want 401 saying so\n%s", p.Status, p.Body)
	}
	if strings.Contains(p.Body, "hunter2") || cookieNamed(p.Header, "ferry_session") != nil {
		t.Error("the wrong password is echoed, or it got a session")
	}

	p = f.Do(http.MethodPost, "/login", url.Values{"csrf": {tok}, "password": {password}, "next": {"/routes/orders"}}, nil)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/routes/orders" {
		t.Fatalf("right password: %d to %q, want 303 to next", p.Status, p.Header.Get("Location"))
	}
	c := cookieNamed(p.Header, "ferry_session")
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Fatalf("session cookie %+v, want HttpOnly SameSite=Lax Path=/, not Secure over plain HTTP", c)
	}
	if c.MaxAge != int((12 * time.Hour).Seconds()) {
		t.Errorf("session cookie MaxAge %d, want 12h", c.MaxAge)
	}

	p = f.Get(guarded)
	if p.Status != http.StatusNotFound || !strings.Contains(p.Body, "Log out") {
		t.Fatalf("logged in: %d, want the page with a log out button\n%s", p.Status, p.Body)
	}
	for _, secret := range []string{c.Value, hash, password} {
		if strings.Contains(p.Body, secret) {
			t.Errorf("a page shows a secret (%.12s...)", secret)
		}
	}
	if p := f.Get("/login?next=/errors"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/errors" {
		t.Errorf("login page when logged in: %d %q, want on to next", p.Status, p.Header.Get("Location"))
	}

	// Log out: the cookie goes, and pages ask for the login again.
	p = f.Post("/logout", url.Values{"csrf": {f.Get(guarded).CSRF()}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", p.Status, p.Header.Get("Location"))
	}
	if c := cookieNamed(p.Header, "ferry_session"); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("logout does not clear the session cookie: %+v", c)
	}
	if p := f.Get(guarded); p.Status != http.StatusSeeOther {
		t.Errorf("after logout: %d, want the login page", p.Status)
	}
}

// next only ever leads to a page of this site.
func TestLoginNextStaysLocal(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{Login: dashboard.Login{PasswordHash: hashOf(t, password)}})
	b := newVisitor(t, f.Dash)
	for next, want := range map[string]string{
		"/routes/orders?status=error": "/routes/orders?status=error",
		"//evil.test/x":               "/",
		"/\\evil.test":                "/",
		"/./\\evil.test":              "/",
		"/x/../\\evil.test":           "/",
		"/routes/a\\b":                "/",
		"/x/..//evil.test":            "/evil.test", // cleaned by http.Redirect: a local path
		"https://evil.test/":          "/",
		"javascript:alert(1)":         "/",
		"routes/orders":               "/",
		"/x\r\nSet-Cookie: a=b":       "/",
		"":                            "/",
	} {
		b.cookies = map[string]*http.Cookie{}
		page := b.get("/login")
		a := b.post("/login", url.Values{"csrf": {csrfOf(page.body)}, "password": {password}, "next": {next}})
		if a.status != http.StatusSeeOther || a.header.Get("Location") != want {
			t.Errorf("next %q: %d to %q, want %q", next, a.status, a.header.Get("Location"), want)
		}
	}
}

func TestSessionCookieSecureOverTLS(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{Login: dashboard.Login{PasswordHash: hashOf(t, password)}})
	b := newVisitor(t, f.Dash)
	b.tls = true
	a := b.login(password)
	if c := a.cookies["ferry_session"]; a.status != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly {
		t.Fatalf("login over TLS: %d, cookie %+v, want Secure", a.status, c)
	}
	if c := b.cookies["ferry_csrf"]; c == nil || !c.Secure {
		t.Errorf("csrf cookie over TLS %+v, want Secure", c)
	}

	// Behind a TLS-terminating proxy on this machine, which says so.
	proxied := func(remote string) *http.Cookie {
		b := newVisitor(t, f.Dash)
		b.remote = remote
		page := b.get("/login")
		a := b.do(http.MethodPost, "/login", url.Values{"csrf": {csrfOf(page.body)}, "password": {password}},
			http.Header{"X-Forwarded-Proto": {"https"}})
		if a.status != http.StatusSeeOther {
			t.Fatalf("login from %s: %d", remote, a.status)
		}
		return a.cookies["ferry_session"]
	}
	if c := proxied("127.0.0.1:3000"); !c.Secure {
		t.Error("X-Forwarded-Proto: https from a loopback proxy: cookie not Secure")
	}
	if c := proxied("10.1.2.3:3000"); c.Secure {
		t.Error("X-Forwarded-Proto from a remote client believed")
	}
}

func TestSessionExpiresAndTampering(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	now := &clock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	login := dashboard.Login{PasswordHash: hashOf(t, password), SessionTTL: time.Hour}
	d := newDash(t, f, now, &login, &mu)
	b := newVisitor(t, d)
	a := b.login(password)
	if a.status != http.StatusSeeOther || a.cookies["ferry_session"].MaxAge != 3600 {
		t.Fatalf("login: %d, cookie %+v", a.status, a.cookies["ferry_session"])
	}
	good := b.cookies["ferry_session"].Value
	if a := b.get(guarded); a.status != http.StatusNotFound {
		t.Fatalf("logged in: %d", a.status)
	}

	// Tampered: any byte changed, or cut short.
	for i, bad := range []string{flip(good, 0), flip(good, len(good)/2), flip(good, len(good)-1), good[:len(good)-4], good + "AAAA", "", "not base64!"} {
		b.cookies["ferry_session"] = &http.Cookie{Name: "ferry_session", Value: bad}
		if a := b.get(guarded); a.status != http.StatusSeeOther {
			t.Errorf("tampered cookie %d: %d, want the login page", i, a.status)
		}
	}
	b.cookies["ferry_session"] = &http.Cookie{Name: "ferry_session", Value: good}

	now.Add(59 * time.Minute)
	if a := b.get(guarded); a.status != http.StatusNotFound {
		t.Fatalf("within the ttl: %d", a.status)
	}
	now.Add(time.Minute)
	if a := b.get("/errors"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/login?next=%2Ferrors" {
		t.Errorf("expired session: %d to %q, want the login page", a.status, a.header.Get("Location"))
	}

	// A shorter session_ttl applies to sessions given before.
	b.login(password)
	mu.Lock()
	login.SessionTTL = 10 * time.Minute
	mu.Unlock()
	if a := b.get(guarded); a.status != http.StatusSeeOther {
		t.Errorf("session longer than the new ttl: %d, want the login page", a.status)
	}

	// A new password ends every session.
	mu.Lock()
	login.SessionTTL = time.Hour
	mu.Unlock()
	b.cookies = map[string]*http.Cookie{}
	b.login(password)
	if a := b.get(guarded); a.status != http.StatusNotFound {
		t.Fatalf("logged in again: %d", a.status)
	}
	mu.Lock()
	login.PasswordHash = hashOf(t, "a new password")
	mu.Unlock()
	if a := b.get(guarded); a.status != http.StatusSeeOther {
		t.Errorf("after a password change: %d, want the login page", a.status)
	}
	if a := b.login(password); a.status != http.StatusUnauthorized {
		t.Errorf("old password after the change: %d, want 401", a.status)
	}
}

// flip changes the character at i of a base64url string.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// CSRF: a state-changing request without the token is refused, with or
// without a password.
func TestCSRF(t *testing.T) {
	for _, mode := range []string{"no password", "password"} {
		t.Run(mode, func(t *testing.T) {
			opts := dashboardtest.Options{}
			if mode == "password" {
				opts.Login.PasswordHash = hashOf(t, password)
			}
			f := dashboardtest.New(t, opts)
			b := newVisitor(t, f.Dash)
			if mode == "password" {
				if a := b.login(password); a.status != http.StatusSeeOther {
					t.Fatalf("login: %d", a.status)
				}
			}
			page := b.get(guarded)
			tok := csrfOf(page.body)
			if tok == "" {
				t.Fatalf("no CSRF token on the page:\n%s", page.body)
			}
			// Every state-changing path, whether or not its page exists yet.
			for _, path := range []string{"/routes/orders/run", "/runs/1/cancel", "/routes/orders/queue/retry", "/routes/orders/queue/discard",
				"/routes/orders/queue/resend", "/entries/1/retry", "/entries/1/discard", "/errors/replay", "/errors/discard", "/logout", "/anything"} {
				for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
					if a := b.do(method, path, url.Values{"id": {"1"}}, nil); a.status != http.StatusForbidden || !strings.Contains(a.body, "no CSRF token") {
						t.Errorf("%s %s without a token: %d, want 403 saying why", method, path, a.status)
					}
				}
				if a := b.post(path, url.Values{"csrf": {tok + "x"}}); a.status != http.StatusForbidden || !strings.Contains(a.body, "out of date") {
					t.Errorf("POST %s with a wrong token: %d, want 403", path, a.status)
				}
			}
			// htmx sends the token as a header; the refusal goes to the flash area.
			if a := b.do(http.MethodPost, "/anything", nil, http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {"forged"}}); a.status != http.StatusForbidden {
				t.Errorf("htmx POST with a forged token: %d", a.status)
			}
			if a := b.do(http.MethodPost, "/anything", nil, http.Header{"X-Csrf-Token": {tok}}); a.status != http.StatusNotFound {
				t.Errorf("POST with the token in the header: %d, want through to the page (404)", a.status)
			}
			if a := b.post("/anything", url.Values{"csrf": {tok}}); a.status != http.StatusNotFound {
				t.Errorf("POST with the token in the form: %d, want through to the page (404)", a.status)
			}
			// Another site's page posting with a token it somehow has.
			for _, h := range []http.Header{{"Origin": {"https://evil.test"}}, {"Origin": {"null"}}, {"Sec-Fetch-Site": {"cross-site"}}} {
				if a := b.do(http.MethodPost, "/anything", url.Values{"csrf": {tok}}, h); a.status != http.StatusForbidden || !strings.Contains(a.body, "another site") {
					t.Errorf("POST with %v: %d, want 403", h, a.status)
				}
			}
			if a := b.do(http.MethodPost, "/anything", url.Values{"csrf": {tok}}, http.Header{"Origin": {"http://localhost:8080"}, "Sec-Fetch-Site": {"same-origin"}}); a.status != http.StatusNotFound {
				t.Errorf("POST from the dashboard's own origin: %d, want through (404)", a.status)
			}
			// Log out with the token: through.
			want := "/"
			if mode == "password" {
				want = "/login"
			}
			if a := b.post("/logout", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther || a.header.Get("Location") != want {
				t.Errorf("logout with the token: %d to %q, want %s", a.status, a.header.Get("Location"), want)
			}
		})
	}
}

// Without a password the token is signed with a key of the process: a
// page from before a restart is out of date.
func TestCSRFAfterRestart(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	b := newVisitor(t, f.Dash)
	tok := csrfOf(b.get(guarded).body)
	var mu sync.Mutex
	none := dashboard.Login{}
	b.h = newDash(t, f, &clock{t: time.Now()}, &none, &mu)
	if a := b.post("/anything", url.Values{"csrf": {tok}}); a.status != http.StatusForbidden || !strings.Contains(a.body, "reload") {
		t.Errorf("token of the previous process: %d, want 403 asking for a reload\n%s", a.status, a.body)
	}
	if a := b.post("/anything", url.Values{"csrf": {csrfOf(b.get(guarded).body)}}); a.status != http.StatusNotFound {
		t.Errorf("token after a reload: %d, want through (404)", a.status)
	}
}

// The login form is CSRF-checked too, and wrong passwords are limited.
func TestLoginCSRFAndRateLimit(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	now := &clock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	login := dashboard.Login{PasswordHash: hashOf(t, password)}
	b := newVisitor(t, newDash(t, f, now, &login, &mu))

	if a := b.post("/login", url.Values{"password": {password}}); a.status != http.StatusForbidden || a.cookies["ferry_session"] != nil {
		t.Errorf("login without a token: %d, want 403 and no session", a.status)
	}
	tok := csrfOf(b.get("/login").body)
	if a := b.do(http.MethodPost, "/login", url.Values{"csrf": {tok}, "password": {password}}, http.Header{"Origin": {"https://evil.test"}}); a.status != http.StatusForbidden {
		t.Errorf("login posted from another site: %d, want 403", a.status)
	}

	for i := range 10 {
		if a := b.post("/login", url.Values{"csrf": {tok}, "password": {"guess"}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, a.status)
		}
	}
	a := b.post("/login", url.Values{"csrf": {tok}, "password": {password}})
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || a.cookies["ferry_session"] != nil {
		t.Fatalf("after 10 wrong passwords: %d, want 429 with Retry-After", a.status)
	}
	now.Add(time.Second)
	if a := b.post("/login", url.Values{"csrf": {tok}, "password": {password}}); a.status != http.StatusSeeOther {
		t.Errorf("a second later: %d, want logged in", a.status)
	}
}

func cookieNamed(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
