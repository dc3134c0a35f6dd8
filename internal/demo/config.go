package demo

import (
	"bytes"
	_ "embed"
	"strings"
)

//go:embed demo.yaml
var demoYAML []byte

// Config returns the demo's ferry.yaml with the mock systems' base URLs
// (as Start returns them) filled in.
func Config(shopURL, erpURL string) []byte {
	out := bytes.ReplaceAll(demoYAML, []byte("__SHOP_URL__"), []byte(strings.TrimRight(shopURL, "/")))
	return bytes.ReplaceAll(out, []byte("__ERP_URL__"), []byte(strings.TrimRight(erpURL, "/")))
}
