package cli

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// serve mounts the dashboard at / with the login of the config in force:
// the serving notice names it, pages ask for the password, and a reload
// with a new hash ends the sessions of the old one.
func TestServeDashboardLogin(t *testing.T) {
	hashOf := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	t.Setenv("FERRY_TEST_DASHBOARD_HASH", hashOf("first password"))
	cfg := serveYAML(t, "server:\n  dashboard: { password_hash: \"${env:FERRY_TEST_DASHBOARD_HASH}\" }\n")
	s := startServeApp(t, cfg, "127.0.0.1:0")
	base := "http://" + s.addr
	if !strings.Contains(s.out.String(), "dashboard: "+base+"/ (password login)") {
		t.Fatalf("the serving notice does not name the dashboard:\n%s", s.out)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (int, string, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Location"), string(b)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	login := func(pw string) int {
		t.Helper()
		code, _, page := do(http.MethodGet, "/login", nil)
		m := csrf.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil {
			t.Fatalf("login page: %d\n%s", code, page)
		}
		code, _, _ = do(http.MethodPost, "/login", url.Values{"csrf": {m[1]}, "password": {pw}})
		return code
	}

	if code, loc, _ := do(http.MethodGet, "/", nil); code != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("GET / without a session: %d to %q, want the login page", code, loc)
	}
	if code := login("first password"); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	if code, _, _ := do(http.MethodGet, "/no-such-page", nil); code != http.StatusNotFound {
		t.Fatalf("logged in: %d, want the dashboard's 404", code)
	}

	t.Setenv("FERRY_TEST_DASHBOARD_HASH", hashOf("second password"))
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, good, 0o644)
	s.sigs <- syscall.SIGHUP
	waitFor(t, "reload", func() bool { return strings.Contains(s.out.String(), "ferry: config reloaded") })
	if code, _, _ := do(http.MethodGet, "/no-such-page", nil); code != http.StatusSeeOther {
		t.Errorf("after a new password: %d, want the login page", code)
	}
	if code := login("first password"); code != http.StatusUnauthorized {
		t.Errorf("the old password after the reload: %d, want 401", code)
	}
	if code := login("second password"); code != http.StatusSeeOther {
		t.Errorf("the new password: %d", code)
	}
	if strings.Contains(s.out.String(), "$2a$") {
		t.Errorf("the log shows a password hash:\n%s", s.out)
	}
	s.stop(t, syscall.SIGTERM)
}
