package config_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	validator "github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/crypto/bcrypt"

	"github.com/ferry-dev/ferry/internal/config"
)

// dashboardConfig is a valid config with server.dashboard set to block
// (indented under dashboard:).
func dashboardConfig(block string) string {
	return sys + "server:\n  dashboard:\n" + block + "routes:\n  a:\n" + okRoute
}

func testHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestDashboardPasswordFromEnvAndFile(t *testing.T) {
	hash := testHash(t)
	t.Setenv("FERRY_TEST_DASH_HASH", hash)
	cfg, err := parse([]byte(dashboardConfig("    password_hash: \"${env:FERRY_TEST_DASH_HASH}\"\n    session_ttl: 2h\n")), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cfg.Server.Dashboard.PasswordHash); got != hash {
		t.Errorf("password_hash %q, want the variable's value", got)
	}
	if cfg.Server.Dashboard.TTL().D() != 2*time.Hour {
		t.Errorf("ttl %s", cfg.Server.Dashboard.TTL().D())
	}
	// A secret: redacted wherever the config's values are.
	if !strings.Contains(strings.Join(cfg.SecretValues(), "\n"), hash) {
		t.Error("the hash is not among the values to redact")
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hash"), []byte(hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = parse([]byte(dashboardConfig("    password_hash: \"${file:hash}\"\n")), filepath.Join(dir, "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Server.Dashboard.PasswordHash) != hash {
		t.Error("password_hash from a file differs from the file")
	}
	if cfg.Server.Dashboard.TTL() != config.DefaultSessionTTL || config.DefaultSessionTTL.D() != 12*time.Hour {
		t.Errorf("default ttl %s", cfg.Server.Dashboard.TTL().D())
	}

	// An unset variable with an empty default: no password (the
	// dashboard stays on loopback), not an error.
	cfg, err = parse([]byte(dashboardConfig("    password_hash: \"${env:FERRY_TEST_DASH_UNSET:-}\"\n")), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Dashboard.PasswordHash != "" {
		t.Error("an empty default gave a password")
	}
}

func TestDashboardConfigErrors(t *testing.T) {
	hash := testHash(t)
	t.Setenv("FERRY_TEST_DASH_HASH", hash)
	t.Setenv("FERRY_TEST_DASH_PLAIN", "correct horse battery")
	for _, tc := range []struct {
		name, block, want string
	}{
		{"literal hash", "    password_hash: '" + hash + "'\n",
			"ferry.yaml:6:20: server.dashboard.password_hash: the secret is written in the file: take it from the environment or a file"},
		{"literal plain password", "    password_hash: hunter22\n",
			"server.dashboard.password_hash: the secret is written in the file"},
		{"hash as a default", "    password_hash: '${env:FERRY_TEST_DASH_UNSET:-" + hash + "}'\n",
			"server.dashboard.password_hash: expected exactly one ${env:NAME} or ${file:PATH} reference"},
		{"reference inside text", "    password_hash: 'x${env:FERRY_TEST_DASH_HASH}'\n",
			"server.dashboard.password_hash: expected exactly one ${env:NAME} or ${file:PATH} reference"},
		{"not bcrypt", "    password_hash: ${env:FERRY_TEST_DASH_PLAIN}\n",
			"ferry.yaml:6:20: server.dashboard.password_hash: not a bcrypt hash (the value is not shown; expected 60 characters starting with $2a$, $2b$ or $2y$): make one with `ferry hash-password`"},
		{"unset variable", "    password_hash: ${env:FERRY_TEST_DASH_UNSET}\n",
			`environment variable "FERRY_TEST_DASH_UNSET" is not set`},
		{"zero ttl", "    password_hash: ${env:FERRY_TEST_DASH_HASH}\n    session_ttl: 0s\n",
			"server.dashboard.session_ttl: must be longer than 0 (default 12h)"},
		{"short ttl", "    password_hash: ${env:FERRY_TEST_DASH_HASH}\n    session_ttl: 10s\n",
			"server.dashboard.session_ttl: must be at least 1m0s, got 10s"},
		{"forever ttl", "    password_hash: ${env:FERRY_TEST_DASH_HASH}\n    session_ttl: forever\n",
			"server.dashboard.session_ttl: forever only applies to retention"},
		{"ttl without password", "    session_ttl: 1h\n",
			"server.dashboard.session_ttl: session_ttl needs password_hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(dashboardConfig(tc.block)), "ferry.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error\n%s\nlacks\n%s", msg, tc.want)
			}
			for _, secret := range []string{hash, "correct horse battery", "hunter22"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error quotes a secret: %s", msg)
				}
			}
		})
	}
}

// The schema refuses a password hash written in the file, as Load does.
func TestSchemaOfDashboardLogin(t *testing.T) {
	t.Setenv("FERRY_TEST_DASH_HASH", testHash(t))
	sch := compiledSchema(t)
	for _, tc := range []struct {
		block string
		ok    bool
	}{
		{"    password_hash: ${env:FERRY_TEST_DASH_HASH}\n    session_ttl: 8h\n", true},
		{"    password_hash: ${env:FERRY_TEST_DASH_UNSET:-}\n", true},
		{"    password_hash: '" + testHash(t) + "'\n", false},
		{"    password_hash: ${env:FERRY_TEST_DASH_HASH}\n    user: admin\n", false},
	} {
		text := dashboardConfig(tc.block)
		var v any
		if err := yaml.Unmarshal([]byte(text), &v); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := validator.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); (err == nil) != tc.ok {
			t.Errorf("%q: schema valid = %v, want %v: %v", tc.block, err == nil, tc.ok, err)
		}
		if _, err := parse([]byte(text), "ferry.yaml"); (err == nil) != tc.ok {
			t.Errorf("%q: Load valid = %v, want %v: %v", tc.block, err == nil, tc.ok, err)
		}
	}
}
