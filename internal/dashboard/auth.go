package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Login is the dashboard's login setting.
type Login struct {
	// PasswordHash is the bcrypt hash of the password ("" = no password:
	// loopback clients only).
	PasswordHash string
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
}

const (
	sessionCookie = "ferry_session"
	csrfCookie    = "ferry_csrf"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"

	defaultSessionTTL = 12 * time.Hour
	nonceLen          = 16
	expiryLen         = 8

	// After loginBurst wrong passwords the process takes one more every
	// loginEvery: a few guesses a second at most, for every client
	// together (per-client counts would be a map an attacker can grow).
	loginBurst = 10
	loginEvery = time.Second
)

// b64 writes tokens and cookie values: no padding, safe in cookies,
// headers and form fields as they are.
var b64 = base64.RawURLEncoding.Strict() // one spelling per value: a changed last character never decodes to the same bytes

// authenticator guards the pages: a login with a password, loopback
// clients only without one, and CSRF checks on every change. Sessions are
// stateless signed cookies, so it holds no sessions, only its per-process
// CSRF key and the count of wrong passwords.
type authenticator struct {
	login func() Login
	now   func() time.Time
	// processKey signs the CSRF tokens without a password. It is new with
	// every process: a page from before a restart is refused (reload it).
	processKey []byte
	// failures limits wrong passwords for the whole process.
	failures *rate.Limiter
	checking sync.Mutex // one bcrypt check at a time
	// origin refuses requests that other sites make browsers send.
	origin *http.CrossOriginProtection
	// fail renders a refusal as the dashboard's error page; when nil,
	// refusals are plain text.
	fail func(w http.ResponseWriter, r *http.Request, status int, title, detail string)
}

func newAuthenticator(login func() Login, now func() time.Time) *authenticator {
	key := make([]byte, sha256.Size)
	_, _ = rand.Read(key) // never fails (crypto/rand crashes the process instead)
	return &authenticator{
		login:      login,
		now:        now,
		processKey: key,
		failures:   rate.NewLimiter(rate.Every(loginEvery), loginBurst),
		origin:     http.NewCrossOriginProtection(),
	}
}

func (a *authenticator) enabled() bool { return a.login().PasswordHash != "" }

// guard lets a request through to h when its client may see the
// dashboard, and, for anything but GET and HEAD, when it carries this
// session's CSRF token and comes from no other site.
func (a *authenticator) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := a.login()
		var key, nonce []byte
		if l.PasswordHash == "" {
			if !localOnly(r) {
				a.refuse(w, r, http.StatusForbidden, "The dashboard answers this machine only",
					"No dashboard password is configured, so the dashboard answers only a browser on the machine ferry runs on, opening it as http://127.0.0.1:PORT/ or http://localhost:PORT/ (not through a proxy). "+
						"To open it to the network, set server.dashboard.password_hash in the config to a bcrypt hash made with ferry hash-password, "+
						"taken from ${env:...} or ${file:...}, and reload.")
				return
			}
			key, nonce = a.processKey, cookieNonce(r)
		} else {
			s, ok := a.session(r, l)
			if !ok {
				a.toLogin(w, r)
				return
			}
			key, nonce = sessionKey(l.PasswordHash), s.nonce
		}
		if !safeMethod(r.Method) && !a.checkCSRF(w, r, key, nonce) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// csrfToken returns the token the page's forms and htmx requests send
// back: bound to the session, or, without one, to the csrf cookie, which
// it sets on w when the request had none.
func (a *authenticator) csrfToken(w http.ResponseWriter, r *http.Request) string {
	l := a.login()
	key := a.processKey
	if l.PasswordHash != "" {
		key = sessionKey(l.PasswordHash)
		if s, ok := a.session(r, l); ok {
			return csrfFor(key, s.nonce)
		}
	}
	nonce := cookieNonce(r)
	if nonce == nil {
		nonce = randomNonce()
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: b64.EncodeToString(nonce), Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r),
		})
	}
	return csrfFor(key, nonce)
}

// checkCSRF refuses (and answers) a state-changing request that another
// site may have made: one whose Origin or Sec-Fetch-Site names another
// site, or whose token is missing or not the one of key and nonce.
func (a *authenticator) checkCSRF(w http.ResponseWriter, r *http.Request, key, nonce []byte) bool {
	if err := a.origin.Check(r); err != nil {
		a.refuse(w, r, http.StatusForbidden, "Request refused",
			"This request came from another site (its Origin or Sec-Fetch-Site header says so). The dashboard takes changes only from its own pages.")
		return false
	}
	sent := r.Header.Get(csrfHeader)
	if sent == "" {
		sent = r.PostFormValue(csrfField)
	}
	if sent == "" {
		a.refuse(w, r, http.StatusForbidden, "Request refused",
			"The request carried no CSRF token. Send changes from the dashboard's own pages: reload the page and try again.")
		return false
	}
	if nonce == nil || !hmac.Equal([]byte(sent), []byte(csrfFor(key, nonce))) {
		a.refuse(w, r, http.StatusForbidden, "This page is out of date",
			"The page's security token is no longer valid (ferry restarted, the password changed, or you logged in again since the page was loaded): reload it and try again.")
		return false
	}
	return true
}

// refuse answers a refused request with the error page.
func (a *authenticator) refuse(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	if a.fail != nil {
		a.fail(w, r, status, title, detail)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	securityHeaders(w.Header())
	http.Error(w, title+": "+detail, status)
}

// toLogin sends a request without a valid session to the login page:
// a redirect for the browser, 401 with HX-Redirect for htmx (which
// would swap the login page into a fragment), a plain 401 for the
// event stream (EventSource gives up on it instead of retrying).
func (a *authenticator) toLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case isHTMX(r):
		target := "/login"
		if u, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil && u.Path != "" {
			if next := localPath(u.RequestURI()); next != "/" {
				target += "?next=" + url.QueryEscape(next)
			}
		}
		w.Header().Set("HX-Redirect", target)
		http.Error(w, "not logged in", http.StatusUnauthorized)
	case strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
		http.Error(w, "not logged in", http.StatusUnauthorized)
	default:
		target := "/login"
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if next := r.URL.RequestURI(); next != "/" {
				target += "?next=" + url.QueryEscape(next)
			}
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// loginView is the login page's data.
type loginView struct {
	Next  string // where to go after logging in
	Error string // why the last attempt failed
}

// loginPage shows the password form, or, without a password or with a
// valid session, goes on to the page asked for.
func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	l := d.auth.login()
	if l.PasswordHash == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if _, ok := d.auth.session(r, l); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d.render(w, r, "login", "", view{Title: "Log in", Nav: "login", Data: loginView{Next: next}})
}

// login checks the password and starts a session. The form is
// CSRF-checked against the csrf cookie (login CSRF would log the user in
// as someone else's session), and wrong passwords are rate-limited.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	a := d.auth
	l := a.login()
	next := localPath(r.PostFormValue("next"))
	if l.PasswordHash == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !a.checkCSRF(w, r, sessionKey(l.PasswordHash), cookieNonce(r)) {
		return
	}
	now := a.now()
	// A token is taken before the check and given back on success, so
	// parallel wrong passwords cannot all get a bcrypt check; and checks
	// run one at a time, so they cannot take every core either.
	if !a.failures.AllowN(now, 1) {
		wait := int(math.Ceil(loginEvery.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		d.render(w, r, "login", "", view{Title: "Log in", Nav: "login", Status: http.StatusTooManyRequests,
			Data: loginView{Next: next, Error: "Too many wrong passwords: wait a moment and try again."}})
		return
	}
	a.checking.Lock()
	err := bcrypt.CompareHashAndPassword([]byte(l.PasswordHash), []byte(r.PostFormValue("password")))
	a.checking.Unlock()
	if err != nil {
		d.log.Warn("dashboard: wrong password", "client", r.RemoteAddr)
		d.render(w, r, "login", "", view{Title: "Log in", Nav: "login", Status: http.StatusUnauthorized,
			Data: loginView{Next: next, Error: "Wrong password."}})
		return
	}
	a.failures.AllowN(now, -1) // the right password costs no token
	value, expires := a.newSession(l, now)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", Expires: expires,
		MaxAge:   int(math.Ceil(expires.Sub(now).Seconds())),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secureRequest(r),
	})
	d.log.Info("dashboard: logged in", "client", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout clears the session cookie (guard checked the session and the
// CSRF token). The cookie is stateless: a copy made before stays valid
// until it expires or the password changes.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if !d.auth.enabled() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secureRequest(r),
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// session is a valid login: when it ends and its nonce, which its CSRF
// token is made of.
type session struct {
	expires time.Time
	nonce   []byte
}

// sessionKey signs sessions and their CSRF tokens. It is derived from the
// password hash: every process sharing the config accepts the same
// cookie, and a new password ends every session.
func sessionKey(hash string) []byte {
	sum := sha256.Sum256([]byte("ferry dashboard session" + hash))
	return sum[:]
}

// newSession makes a session cookie's value: expiry (Unix seconds, 8
// bytes), nonce (16) and their HMAC-SHA256, in base64url.
func (a *authenticator) newSession(l Login, now time.Time) (string, time.Time) {
	expires := now.Add(sessionTTL(l)).Truncate(time.Second)
	payload := make([]byte, expiryLen, expiryLen+nonceLen+sha256.Size)
	binary.BigEndian.PutUint64(payload, uint64(expires.Unix()))
	payload = append(payload, randomNonce()...)
	payload = append(payload, sign(sessionKey(l.PasswordHash), "session", payload)...)
	return b64.EncodeToString(payload), expires
}

// session returns the request's session when its cookie is signed with
// the current password's key and has not expired.
func (a *authenticator) session(r *http.Request, l Login) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	raw, err := b64.DecodeString(c.Value)
	if err != nil || len(raw) != expiryLen+nonceLen+sha256.Size {
		return session{}, false
	}
	payload, sum := raw[:expiryLen+nonceLen], raw[expiryLen+nonceLen:]
	if !hmac.Equal(sum, sign(sessionKey(l.PasswordHash), "session", payload)) {
		return session{}, false
	}
	secs := binary.BigEndian.Uint64(payload)
	if secs > math.MaxInt64 {
		return session{}, false
	}
	expires := time.Unix(int64(secs), 0)
	now := a.now()
	// A session lasting longer than session_ttl from now was given under a
	// longer one: a shortened session_ttl applies to it at once.
	if !now.Before(expires) || expires.Sub(now) > sessionTTL(l) {
		return session{}, false
	}
	return session{expires: expires, nonce: payload[expiryLen:]}, true
}

func sessionTTL(l Login) time.Duration {
	if l.SessionTTL <= 0 {
		return defaultSessionTTL
	}
	return l.SessionTTL
}

// sign is HMAC-SHA256 of data under key for one purpose, so a value
// signed for one purpose (a session) is never valid for another (a CSRF
// token).
func sign(key []byte, purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// csrfFor is the CSRF token of a nonce.
func csrfFor(key, nonce []byte) string { return b64.EncodeToString(sign(key, "csrf", nonce)) }

// cookieNonce is the nonce of the request's csrf cookie, nil when it has
// none (or a malformed one).
func cookieNonce(r *http.Request) []byte {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return nil
	}
	n, err := b64.DecodeString(c.Value)
	if err != nil || len(n) != nonceLen {
		return nil
	}
	return n
}

func randomNonce() []byte {
	n := make([]byte, nonceLen)
	_, _ = rand.Read(n) // never fails (crypto/rand crashes the process instead)
	return n
}

// safeMethod: the methods that change nothing, so need no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// isLoopback reports whether a request's RemoteAddr is on this machine.
func isLoopback(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}

// secureRequest reports whether the browser reached ferry over TLS:
// directly, or through a TLS-terminating proxy on this machine that says
// so (X-Forwarded-Proto from a non-loopback client is not believed).
// Cookies are Secure then.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return isLoopback(r.RemoteAddr) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// localPath returns next when it is a path on this site ("/routes/x"),
// else "/": never another host ("//evil.test", "/\evil.test",
// "https://evil.test"), so the login cannot redirect away.
func localPath(next string) string {
	// A backslash anywhere is refused: http.Redirect cleans the path, and
	// "/./\\evil.test" becomes "/\\evil.test", which browsers read as
	// "//evil.test".
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") ||
		strings.ContainsFunc(next, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(path.Clean(u.Path), "//") {
		return "/"
	}
	return next
}

// Authorized reports whether r may read what the dashboard shows: a
// loopback client when no password is set, else a valid session. ferry
// serve gives it to the feeds handler beside the API tokens, so the
// download links on the feeds page work in the browser.
func (d *Dashboard) Authorized(r *http.Request) bool {
	l := d.auth.login()
	if l.PasswordHash == "" {
		return localOnly(r)
	}
	_, ok := d.auth.session(r, l)
	return ok
}

// localOnly reports whether r comes from this machine's own browser,
// which is who may use the dashboard without a password: a loopback
// client, asking for a loopback host name (a web page whose DNS name was
// rebound to 127.0.0.1 asks for its own name, and is refused), not
// forwarded by a proxy (a reverse proxy on this machine makes every
// client look local; with one, set a password).
func localOnly(r *http.Request) bool {
	if !isLoopback(r.RemoteAddr) {
		return false
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Host"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	// An address literal is no name a page could have rebound: loopback,
	// or the "every interface" address ferry serve prints for a listener
	// on :8080, opened from this machine.
	ip, err := netip.ParseAddr(host)
	return err == nil && (ip.Unmap().IsLoopback() || ip.IsUnspecified())
}
