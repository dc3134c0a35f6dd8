package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/schedule"
)

// Defaults of the options of ferry serve.
const (
	DefaultWorkers         = 4                // runs side by side
	MaxWorkers             = 256              // more would only contend for the store
	DefaultListen          = "127.0.0.1:8080" // loopback: no token needed
	DefaultShutdownTimeout = Duration(30e9)   // SIGTERM: finish or release within
	DefaultWebhookTimeout  = Duration(10e9)   // respond: sync waits at most this
	DefaultMaxBody         = ByteSize(1 << 20)
	MaxMaxBody             = ByteSize(64 << 20)
	MinEvery               = Duration(1e9)  // shorter intervals would only busy the store
	MinFreshWithin         = Duration(60e9) // below this a slow run would flap stale/fresh
	RespondAsync           = "async"        // 202 with the entry ids once stored
	RespondSync            = "sync"         // wait for the delivery
	EncodingHex            = "hex"
	EncodingBase64         = "base64"
)

// Server is the server: block of ferry serve.
type Server struct {
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty" jsonschema:"description=host:port the API\\, webhooks\\, feeds and metrics listen on (default 127.0.0.1:8080; --listen overrides)"`
	// Tokens are the bearer tokens the API accepts; secrets.
	Tokens          []string `yaml:"tokens,omitempty" json:"tokens,omitempty" jsonschema:"description=Bearer tokens the API accepts (write them as ${env:...} or ${file:...}); without one the server listens on loopback only" ferry:"secret"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout,omitempty" json:"shutdown_timeout,omitempty" jsonschema:"description=On SIGTERM: how long in-flight work may finish before its leases are released (default 30s)"`
	// Dashboard is the web dashboard's login.
	Dashboard Dashboard `yaml:"dashboard,omitempty" json:"dashboard,omitempty" jsonschema:"description=The web dashboard's login (the dashboard is served at / on the listener; without a password it answers loopback clients only)"`
}

// DefaultSessionTTL is how long a dashboard login lasts by default.
const DefaultSessionTTL = Duration(12 * 3600e9)

// MinSessionTTL is the shortest dashboard login: a shorter one would log
// the user out while they read a page.
const MinSessionTTL = Duration(60e9)

// Dashboard is server.dashboard: the web dashboard's login.
type Dashboard struct {
	// PasswordHash is the bcrypt hash of the dashboard's password; ""
	// leaves the dashboard to loopback clients.
	PasswordHash SecretRef `yaml:"password_hash,omitempty" json:"password_hash,omitempty" jsonschema:"description=bcrypt hash of the dashboard's password (make one with ferry hash-password); write it as ${env:...} or ${file:...}; without it the dashboard answers loopback clients only" ferry:"secret"`
	SessionTTL   Duration  `yaml:"session_ttl,omitempty" json:"session_ttl,omitempty" jsonschema:"description=How long a dashboard login lasts (default 12h)"`
}

// TTL is how long a login lasts: session_ttl, else DefaultSessionTTL.
func (d Dashboard) TTL() Duration {
	if d.SessionTTL == 0 {
		return DefaultSessionTTL
	}
	return d.SessionTTL
}

// SecretRef is a secret that must come from outside the file: its text is
// one ${env:NAME} or ${file:PATH} reference, checked before the reference
// is resolved (the resolved value is what the field holds afterwards). An
// ${env:NAME:-} with an empty default is allowed: it leaves the field empty.
type SecretRef string

// secretRefForm is one reference and nothing else; a default, if any, is
// empty (a default written in the file would put the secret there).
var secretRefForm = regexp.MustCompile(`^\$\{(env:[^}:]+(:-)?|file:[^}]+)\}$`)

// UnmarshalText refuses a value written in the file. The error never
// quotes the text: it may be the secret itself.
func (s *SecretRef) UnmarshalText(text []byte) error {
	t := strings.TrimSpace(string(text))
	if t != "" && !secretRefForm.MatchString(t) {
		if strings.Contains(t, "${env:") || strings.Contains(t, "${file:") {
			return errors.New("expected exactly one ${env:NAME} or ${file:PATH} reference and nothing around it (a default other than an empty one would write the secret in the file)")
		}
		return errors.New("the secret is written in the file: take it from the environment or a file, e.g. \"${env:NAME}\" or \"${file:/run/secrets/NAME}\"")
	}
	*s = SecretRef(t)
	return nil
}

// JSONSchema describes a SecretRef: one reference.
func (SecretRef) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     secretRefForm.String(),
		Description: "A secret taken from the environment or a file: ${env:NAME} or ${file:PATH}",
	}
}

// Webhook lets a caller push records into a route: POST /hooks/{route}.
type Webhook struct {
	Key       string            `yaml:"key" json:"key" jsonschema:"description=Field path of the business key in each posted record"`
	Token     string            `yaml:"token,omitempty" json:"token,omitempty" jsonschema:"description=The caller sends Authorization: Bearer <token> (exactly one of token and signature)" ferry:"secret"`
	Signature *WebhookSignature `yaml:"signature,omitempty" json:"signature,omitempty" jsonschema:"description=The caller signs the raw body with HMAC-SHA256 (exactly one of token and signature)"`
	Respond   string            `yaml:"respond,omitempty" json:"respond,omitempty" jsonschema:"enum=async,enum=sync,description=async (default): 202 with the entry ids once stored; sync: wait for the delivery and answer with the destination's status and body"`
	Timeout   Duration          `yaml:"timeout,omitempty" json:"timeout,omitempty" jsonschema:"description=respond: sync waits at most this long (default 10s)"`
	MaxBody   ByteSize          `yaml:"max_body,omitempty" json:"max_body,omitempty" jsonschema:"description=Bigger bodies get 413 (default 1MB\\, at most 64MB)"`
}

// WebhookSignature is an HMAC-SHA256 signature of the raw body in a header.
type WebhookSignature struct {
	Header   string `yaml:"header" json:"header" jsonschema:"description=Header holding the signature\\, e.g. X-Shop-Hmac-Sha256"`
	Secret   string `yaml:"secret" json:"secret" jsonschema:"description=The shared HMAC key (write it as ${env:...} or ${file:...})" ferry:"secret"`
	Encoding string `yaml:"encoding,omitempty" json:"encoding,omitempty" jsonschema:"enum=hex,enum=base64,description=How the signature is written: hex (default) or base64"`
	Prefix   string `yaml:"prefix,omitempty" json:"prefix,omitempty" jsonschema:"description=Text before the signature in the header value\\, e.g. sha256="`
}

// IsConcurrent tells whether the route may run beside other routes: as
// written, else true for webhook routes (pushes must not queue behind
// batch runs), else false.
func (r *Route) IsConcurrent() bool {
	if r.Concurrent != nil {
		return *r.Concurrent
	}
	return r.Webhook != nil
}

// Trigger returns the route's schedule (cron or interval), false when it
// has none (it runs when started or posted to). Load checks schedules; a
// route built in code with a bad one also reports false.
func (r *Route) Trigger() (schedule.Schedule, bool) {
	if r.trigger != nil {
		return r.trigger, true
	}
	s, err := r.parseTrigger()
	if err != nil || s == nil {
		return nil, false
	}
	return s, true
}

// parseTrigger parses schedule/every; nil when neither is set.
func (r *Route) parseTrigger() (schedule.Schedule, error) {
	switch {
	case r.Schedule != "":
		return schedule.ParseCron(r.Schedule, r.Timezone)
	case r.Every > 0 && r.Every != Forever:
		return schedule.Every(r.Every.D()), nil
	}
	return nil, nil
}

// ByteSize is a size written as "512KB", "1MB" (units B, KB, MB, GB of
// 1024).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}

// UnmarshalText parses "1MB" style sizes.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > (1<<62)/u.mult {
			break
		}
		*b = ByteSize(n * u.mult)
		return nil
	}
	return fmt.Errorf("invalid size %q (expected a whole number with a unit B, KB, MB or GB, e.g. 512KB, 1MB)", s)
}

// MarshalText writes the size in the largest unit that divides it.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

func (b ByteSize) String() string {
	for _, u := range sizeUnits {
		if int64(b)%u.mult == 0 && (b != 0 || u.mult == 1) {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
