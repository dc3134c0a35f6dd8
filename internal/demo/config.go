package demo

import (
	"bytes"
	_ "embed"
	"strings"
)

//go:embed demo.yaml
var demoYAML []byte

//go:embed starter.yaml
var starterYAML []byte

// Config returns the demo's ferry.yaml with the mock systems' base URLs
// (as Start returns them) filled in.
func Config(shopURL, erpURL string) []byte {
	return fill(demoYAML, shopURL, erpURL)
}

// ConfigStore is Config with another SQLite file than ferry.db.
func ConfigStore(shopURL, erpURL, store string) []byte {
	return bytes.Replace(Config(shopURL, erpURL), []byte("\nstore: ferry.db\n"), []byte("\nstore: "+store+"\n"), 1)
}

// Starter returns a route file with one small route against the mock
// systems, for a new user to edit (ferry demo --serve writes it).
func Starter(shopURL, erpURL string) []byte {
	return fill(starterYAML, shopURL, erpURL)
}

func fill(tmpl []byte, shopURL, erpURL string) []byte {
	out := bytes.ReplaceAll(tmpl, []byte("__SHOP_URL__"), []byte(strings.TrimRight(shopURL, "/")))
	return bytes.ReplaceAll(out, []byte("__ERP_URL__"), []byte(strings.TrimRight(erpURL, "/")))
}

// HookRoute and HookToken are the demo config's webhook route and its
// bearer token (ferry demo prints a curl for it).
const (
	HookRoute = "pushed_orders"
	HookToken = "demo-hook-token"
)
