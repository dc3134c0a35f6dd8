package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/goccy/go-yaml"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/schematest"
)

// Every example passes the JSON Schema that `ferry schema` prints, as an
// editor would check it: the schema must accept what the loader accepts.
func TestExamplesMatchTheSchema(t *testing.T) {
	b, err := config.Schema(all.Set())
	if err != nil {
		t.Fatal(err)
	}
	sch := schematest.Compile(t, b)
	for _, file := range exampleFiles(t) {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := yaml.Unmarshal(data, &v); err != nil {
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
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%s does not match `ferry schema`: %v", file, err)
			}
		})
	}
}
