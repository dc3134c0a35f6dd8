package config_test

import (
	"encoding/json"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
)

// config.Load ignores top-level x- keys (YAML anchors live there); the schema
// must allow them too, or editors flag a valid file.
func TestSchemaAllowsExtensionKeys(t *testing.T) {
	b, err := config.Schema(all.Set())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs map[string]struct {
			PatternProperties map[string]any `json:"patternProperties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Defs["Config"].PatternProperties["^x-"]; !ok {
		t.Fatalf("schema of the file does not allow x- keys: %+v", doc.Defs["Config"])
	}
}
