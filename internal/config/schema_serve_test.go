package config_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/goccy/go-yaml"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/schematest"
)

// The schema accepts what Load accepts of the serve options and refuses
// the combinations Load refuses (a draft 2020-12 validator decides).
func TestSchemaOfServeOptions(t *testing.T) {
	sch := compiledSchema(t)
	dest := "    destinations: {default: {http: {system: erp}}}\n"
	src := "    source: {http: {system: shop, key: id}}\n"
	for _, tc := range []struct {
		name, routes string
		ok           bool
	}{
		{"source and schedule", "  a:\n    schedule: '*/5 * * * *'\n    timezone: Europe/Berlin\n" + src + dest, true},
		{"webhook only", "  a:\n    webhook: {key: id, token: t0k3n, respond: sync, timeout: 5s, max_body: 2MB}\n    concurrent: true\n" + dest, true},
		{"signature", "  a:\n    webhook: {key: id, signature: {header: X-Sig, secret: s3cr3t, encoding: base64, prefix: 'sha256='}}\n" + dest, true},
		{"freshness", "  a:\n    every: 30s\n    fresh_within: 15m\n    entry_priority: 'total > 10 ? 5 : 0'\n    on_stale: [{http: {system: erp, path: /stale}}]\n" + src + dest, true},
		{"neither source nor webhook", "  a:\n" + dest, false},
		{"schedule and every", "  a:\n    schedule: '@daily'\n    every: 1h\n" + src + dest, false},
		{"token and signature", "  a:\n    webhook: {key: id, token: t, signature: {header: X, secret: s}}\n" + dest, false},
		{"respond", "  a:\n    webhook: {key: id, token: t, respond: later}\n" + dest, false},
		{"max_body without unit", "  a:\n    webhook: {key: id, token: t, max_body: '1048576'}\n" + dest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := sys + "workers: 8\nserver: {listen: ':8080', tokens: [abcd], shutdown_timeout: 1m}\nroutes:\n" + tc.routes
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
			err = sch.Validate(inst)
			if (err == nil) != tc.ok {
				t.Errorf("schema valid = %v, want %v: %v", err == nil, tc.ok, err)
			}
			if _, lerr := parse([]byte(text), "ferry.yaml"); (lerr == nil) != tc.ok {
				t.Errorf("Load valid = %v, want %v: %v", lerr == nil, tc.ok, lerr)
			}
		})
	}
}

// compiledSchema is ferry's JSON Schema compiled by a draft 2020-12
// validator, for checking it against what Load accepts.
func compiledSchema(t *testing.T) *validator.Schema {
	t.Helper()
	b, err := config.Schema(all.Set())
	if err != nil {
		t.Fatal(err)
	}
	return schematest.Compile(t, b)
}
