package dashboard

// STUB: the auth helper replaces this file (sessions, login, CSRF).

import (
	"net/http"
	"time"
)

// Login is the dashboard's login setting.
type Login struct {
	// PasswordHash is the bcrypt hash of the password ("" = no password:
	// loopback clients only).
	PasswordHash string
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
}

type authenticator struct {
	login func() Login
	now   func() time.Time
}

func newAuthenticator(login func() Login, now func() time.Time) *authenticator {
	return &authenticator{login: login, now: now}
}

func (a *authenticator) enabled() bool { return a.login().PasswordHash != "" }

func (a *authenticator) guard(h http.Handler) http.Handler { return h }

func (a *authenticator) csrfToken(w http.ResponseWriter, r *http.Request) string { return "stub" }

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {}
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request)     {}
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request)    {}
