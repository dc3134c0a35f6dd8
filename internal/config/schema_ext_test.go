package config

import (
	"encoding/json"
	"testing"
)

// Load ignores top-level x- keys (YAML anchors live there); the schema
// must allow them too, or editors flag a valid file.
func TestSchemaAllowsExtensionKeys(t *testing.T) {
	b, err := Schema()
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
