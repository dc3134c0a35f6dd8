package config

import (
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ferry-dev/ferry/internal/schedule"
)

// checkServeZeros refuses a 0 written out where a default exists: the
// defaults would silently replace it (see checkRetention).
func checkServeZeros(cfg *Config, d *document) {
	zero := func(path string, isZero bool, msg string) {
		if _, ok := d.pos[path]; ok && isZero {
			d.errorf(path, "%s", msg)
		}
	}
	zero("workers", cfg.Workers == 0, "must be at least 1 (default 4)")
	zero("server.shutdown_timeout", cfg.Server.ShutdownTimeout == 0, "must be longer than 0 (default 30s)")
	zero("server.dashboard.session_ttl", cfg.Server.Dashboard.SessionTTL == 0, "must be longer than 0 (default 12h)")
	for name, r := range cfg.Routes {
		if r == nil || r.Webhook == nil {
			continue
		}
		wp := joinPath(joinPath("routes", name), "webhook")
		zero(joinPath(wp, "timeout"), r.Webhook.Timeout == 0, "must be longer than 0 (default 10s)")
		zero(joinPath(wp, "max_body"), r.Webhook.MaxBody == 0, "must be larger than 0 (default 1MB)")
	}
}

// server checks workers: and server:.
func (v *validator) server() {
	c := v.cfg
	if c.Workers < 0 || c.Workers > MaxWorkers {
		v.doc.errorf("workers", "expected 1 to %d, got %d", MaxWorkers, c.Workers)
	}
	s := &c.Server
	if host, port, err := net.SplitHostPort(s.Listen); err != nil {
		v.doc.errorf("server.listen", "expected host:port such as 127.0.0.1:8080 or :8080, got %q", s.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.doc.errorf("server.listen", "expected a port number 0 to 65535 after the colon, got %q", port)
	} else if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		v.doc.errorf("server.listen", "expected an IP address or host name before the colon, got %q", host)
	}
	for i, tok := range s.Tokens {
		if tok == "" {
			v.doc.errorf(indexPath("server.tokens", i), "empty token (an unset ${env:...} with an empty default?)")
		}
	}
	v.notForever("server.shutdown_timeout", s.ShutdownTimeout)
	v.dashboard("server.dashboard", &s.Dashboard)
}

// dashboard checks server.dashboard: the password hash must be bcrypt's
// (the dashboard could never accept a login otherwise). The value is a
// secret: no message quotes it.
func (v *validator) dashboard(path string, d *Dashboard) {
	hp, tp := joinPath(path, "password_hash"), joinPath(path, "session_ttl")
	if h := string(d.PasswordHash); h != "" && !v.doc.reported[hp] {
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			v.doc.errorf(hp, "not a bcrypt hash (the value is not shown; expected 60 characters starting with $2a$, $2b$ or $2y$): make one with `ferry hash-password` and put what it prints in the variable or file")
		}
	}
	if v.has(tp) {
		switch {
		case !v.has(hp):
			v.doc.errorf(tp, "session_ttl needs password_hash: without a password there is no login to last")
		case d.SessionTTL == Forever:
			v.notForever(tp, d.SessionTTL)
		case d.SessionTTL > 0 && d.SessionTTL < MinSessionTTL:
			v.doc.errorf(tp, "must be at least %s, got %s", MinSessionTTL.D(), d.SessionTTL.D())
		}
	}
}

// validHostname accepts letters, digits, dots and hyphens (localhost,
// ferry.internal); anything else is a typo.
func validHostname(h string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// trigger checks schedule:, timezone: and every:, and keeps the parsed
// schedule for Route.Trigger.
func (v *validator) trigger(path string, r *Route) {
	sp, tp, ep := joinPath(path, "schedule"), joinPath(path, "timezone"), joinPath(path, "every")
	hasSchedule, hasEvery := v.has(sp), v.has(ep)
	switch {
	case hasSchedule && hasEvery:
		v.doc.errorf(ep, "every and schedule exclude each other: keep one (schedule: a cron expression; every: an interval)")
		return
	case (hasSchedule || hasEvery) && r.Source.Kind == "" && !v.has(joinPath(path, "source")):
		field := "schedule"
		if hasEvery {
			field = "every"
		}
		v.doc.errorf(joinPath(path, field), "%s needs a source: to read from (a route with only a webhook runs when records are posted)", field)
	}
	if v.has(tp) {
		if !hasSchedule {
			v.doc.errorf(tp, "timezone only applies to schedule: (a cron expression); every: intervals do not depend on a zone")
		} else if r.Timezone == "Local" {
			v.doc.errorf(tp, "Local depends on the machine ferry runs on: name the zone (e.g. Europe/Berlin)")
			return
		} else if _, err := time.LoadLocation(r.Timezone); err != nil || r.Timezone == "" {
			v.doc.errorf(tp, "unknown time zone %q (expected an IANA name such as Europe/Berlin, America/New_York or UTC)", r.Timezone)
			return
		}
	}
	if hasSchedule {
		tz := r.Timezone
		if !v.has(tp) {
			tz = ""
		}
		s, err := schedule.ParseCron(r.Schedule, tz)
		if err != nil {
			v.doc.errorf(sp, "%s", err.Error())
			return
		}
		r.trigger = s
	}
	if hasEvery {
		switch {
		case r.Every == Forever:
			v.notForever(ep, r.Every)
		case r.Every < MinEvery:
			v.doc.errorf(ep, "must be at least %s, got %s", MinEvery.D(), r.Every.D())
		default:
			r.trigger = schedule.Every(r.Every.D())
		}
	}
}

// freshness checks fresh_within: and on_stale:.
func (v *validator) freshness(path string, r *Route) {
	fp := joinPath(path, "fresh_within")
	if v.has(fp) {
		switch {
		case r.FreshWithin == Forever:
			v.notForever(fp, r.FreshWithin)
		case r.FreshWithin < MinFreshWithin:
			v.doc.errorf(fp, "must be at least %s, got %s", MinFreshWithin.D(), r.FreshWithin.D())
		}
	}
	op := joinPath(path, "on_stale")
	if len(r.OnStale) > 0 && !v.has(fp) {
		v.doc.errorf(op, "on_stale needs fresh_within: (how old the last successful run may get)")
	}
	for i := range r.OnStale {
		v.operation(indexPath(op, i), &r.OnStale[i])
	}
}

// webhook checks webhook:.
func (v *validator) webhook(path string, w *Webhook) {
	if w == nil {
		return
	}
	if w.Key == "" {
		v.required(path, "key")
	}
	tp, sp := joinPath(path, "token"), joinPath(path, "signature")
	if v.exactlyOne(path, []string{"token", "signature"}, []bool{v.has(tp), v.has(sp)}) {
		if v.has(tp) && w.Token == "" {
			v.doc.errorf(tp, "empty token (an unset ${env:...} with an empty default?)")
		}
		if s := w.Signature; s != nil {
			v.signature(sp, s)
		} else if v.has(sp) && !v.doc.reported[sp] {
			v.doc.errorf(sp, "expected a mapping with header: and secret:")
		}
	}
	v.oneOf(joinPath(path, "respond"), w.Respond, RespondAsync, RespondSync)
	v.notForever(joinPath(path, "timeout"), w.Timeout)
	if w.MaxBody > MaxMaxBody {
		v.doc.errorf(joinPath(path, "max_body"), "at most %s, got %s", MaxMaxBody, w.MaxBody)
	}
}

func (v *validator) signature(path string, s *WebhookSignature) {
	if s.Header == "" {
		v.required(path, "header")
	}
	secret := joinPath(path, "secret")
	switch {
	case !v.has(secret):
		v.required(path, "secret")
	case s.Secret == "":
		v.doc.errorf(secret, "empty secret (an unset ${env:...} with an empty default?)")
	}
	v.oneOf(joinPath(path, "encoding"), s.Encoding, EncodingHex, EncodingBase64)
}

// oneOf reports unless val is one of allowed, suggesting the closest.
func (v *validator) oneOf(path, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	what := ""
	for i, a := range allowed {
		switch {
		case i == 0:
		case i == len(allowed)-1:
			what += " or "
		default:
			what += ", "
		}
		what += a
	}
	v.doc.errorf(path, "expected %s, got %q%s", what, val, didYouMean(val, allowed))
}

// hasSource tells whether the route's source is to be checked: a route
// needs a source, a webhook, or both.
func (v *validator) hasSource(path string, r *Route) bool {
	sp, wp := joinPath(path, "source"), joinPath(path, "webhook")
	if r.Source.Kind != "" || v.has(sp) {
		return true
	}
	switch {
	case r.Webhook != nil:
	case v.has(wp):
		v.doc.errorf(wp, "expected a mapping with key: and token: or signature:")
	default:
		v.doc.errorf(sp, "missing required field %q (a route needs a source:, a webhook:, or both)", "source")
	}
	return false
}
