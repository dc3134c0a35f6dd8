// Package schematest compiles a JSON Schema with a real draft 2020-12
// validator, for tests that check ferry's schemas (every $ref resolves,
// every keyword is valid) and what they accept.
package schematest

import (
	"bytes"
	"testing"

	validator "github.com/santhosh-tekuri/jsonschema/v6"
)

// Compile compiles the JSON Schema doc; t fails with the reason (and the
// schema) when it does not compile.
func Compile(t testing.TB, doc []byte) *validator.Schema {
	t.Helper()
	v, err := validator.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("read the schema: %v", err)
	}
	c := validator.NewCompiler()
	c.DefaultDraft(validator.Draft2020)
	if err := c.AddResource("mem://schema.json", v); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem://schema.json")
	if err != nil {
		t.Fatalf("compile the schema: %v\n%s", err, doc)
	}
	return sch
}
