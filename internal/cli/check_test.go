package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ferry check: a system that answers is ok (whatever its status code), one
// that does not fails the command with exit 1, and the secret in its url
// never shows.
func TestCheckSystems(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound) // an API root often answers 404: still up
	}))
	defer up.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	t.Setenv("FERRY_CHECK_TOKEN", "tok-s3cret-value")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ferry.yaml")
	yaml := `systems:
  shop: {url: "` + up.URL + `"}
  erp: {http: {url: "` + down + `/api/${env:FERRY_CHECK_TOKEN}"}}
routes:
  orders:
    source: {http: {system: shop, key: id}}
    destinations:
      default: {http: {system: erp}}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ferry(t, "-c", cfg, "check")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d (erp is down)\n%s%s", code, ExitFailed, out, errOut)
	}
	for _, want := range []string{"shop", "ok", "erp", "error:", "1 of 2 systems did not answer"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("output lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if strings.Contains(out+errOut, "tok-s3cret-value") {
		t.Errorf("the secret shows:\n%s%s", out, errOut)
	}
	if code, out, errOut := ferry(t, "-c", cfg, "check", "shop"); code != 0 {
		t.Errorf("check shop: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := ferry(t, "-c", cfg, "check", "nope"); code != ExitUsage || !strings.Contains(errOut, `unknown system "nope"`) {
		t.Errorf("check nope: exit %d, %s", code, errOut)
	}
}
