package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
)

// TestSecretValues: every value taken from ${env:} or ${file:} is listed
// for redaction, wherever it went, except what is not a secret: defaults
// written in the file, values too short to be credentials and a system
// url's address.
func TestSecretValues(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"FERRY_TEST_SHOP_URL":  "https://shop.test/api",
		"FERRY_TEST_ERP_HOST":  "erp.test",
		"FERRY_TEST_BOT":       "bot-token-123",
		"FERRY_TEST_HEADER":    "header-secret",
		"FERRY_TEST_BODY":      "body-${secret}",
		"FERRY_TEST_QUERY":     "query-secret",
		"FERRY_TEST_SHORT":     "50",
		"FERRY_TEST_BOTH_HOST": "both.test",
	} {
		t.Setenv(k, v)
	}
	src := `systems:
  shop: { url: "${env:FERRY_TEST_SHOP_URL}", auth: { bearer: "${file:token}" } }
  erp: { url: "https://${env:FERRY_TEST_ERP_HOST}:8443/bot${env:FERRY_TEST_BOT}" }
  both: { url: "https://${env:FERRY_TEST_BOTH_HOST}" }
routes:
  orders:
    source:
      http: { system: shop, key: id, query: { q: "${env:FERRY_TEST_QUERY}", limit: "${env:FERRY_TEST_SHORT}", d: "${env:FERRY_TEST_UNSET:-default-value}" } }
    destinations:
      default:
        http:
          system: erp
          headers: { X-Api-Token: "${env:FERRY_TEST_HEADER}", X-Host: "${env:FERRY_TEST_BOTH_HOST}" }
          map: { tok: '"${env:FERRY_TEST_BODY}"' }
`
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.SecretValues()
	for _, want := range []string{"file-token", "bot-token-123", "header-secret", "body-${secret}", "query-secret", "both.test"} {
		if !slices.Contains(got, want) {
			t.Errorf("SecretValues %q lacks %q", got, want)
		}
	}
	for _, not := range []string{"https://shop.test/api", "erp.test", "50", "default-value"} {
		if slices.Contains(got, not) {
			t.Errorf("SecretValues %q holds %q, which is not a secret", got, not)
		}
	}
	if s := cfg.Redactor().String("got header-secret and body-${secret}"); s != "got REDACTED and REDACTED" {
		t.Errorf("Redactor: %q", s)
	}
	if s := (&config.Config{}).Redactor().String("header-secret"); s != "header-secret" {
		t.Errorf("a config not loaded redacts: %q", s)
	}
}
