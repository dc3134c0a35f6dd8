package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// ndjsonTypes are the content types that mean one JSON object per line.
var ndjsonTypes = map[string]bool{
	"application/x-ndjson":    true,
	"application/ndjson":      true,
	"application/jsonl":       true,
	"application/x-jsonlines": true,
}

// parseRecords reads a webhook body: one JSON object, a JSON array of
// objects, or NDJSON (by content type, or several values on their
// lines). Every record is checked before any is queued; the error names
// where the body is wrong.
func parseRecords(body []byte, contentType string) ([]map[string]any, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("the body is empty: send a JSON object, a JSON array of objects or NDJSON")
	}
	if isNDJSON(contentType) {
		return parseNDJSON(body)
	}
	switch trimmed[0] {
	case '[':
		v, err := jsonx.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %s", describeJSONError(body, err))
		}
		items, _ := v.([]any)
		records := make([]map[string]any, len(items))
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %d of the array is %s, not a JSON object", i+1, jsonKind(it))
			}
			records[i] = m
		}
		return records, nil
	case '{':
		// One object (most calls: a shop's event) is decoded once; a
		// body that is not exactly one object is looked at again below
		// for NDJSON and for the error's position.
		if m, err := jsonx.DecodeObject(body); err == nil {
			return []map[string]any{m}, nil
		}
		// Several objects on their lines (NDJSON sent as JSON), or an
		// error.
		dec := json.NewDecoder(bytes.NewReader(body))
		var first json.RawMessage
		if err := dec.Decode(&first); err != nil {
			return nil, fmt.Errorf("invalid JSON: %s", describeJSONError(body, err))
		}
		if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
			return parseNDJSON(body)
		}
		m, err := jsonx.DecodeObject(first)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %s", describeJSONError(first, err))
		}
		return []map[string]any{m}, nil
	default:
		return nil, fmt.Errorf("expected a JSON object, a JSON array of objects or NDJSON, got %s at %s",
			describeStart(trimmed), position(body, int64(bytes.Index(body, trimmed[:1]))))
	}
}

// isNDJSON says whether the content type means NDJSON. The usual
// "application/json" is answered without parsing the media type (which
// allocates on every call).
func isNDJSON(contentType string) bool {
	if contentType == "application/json" || contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && ndjsonTypes[mt]
}

// parseNDJSON reads one JSON object per line; blank lines are skipped.
func parseNDJSON(body []byte) ([]map[string]any, error) {
	var records []map[string]any
	for n, line := range bytes.Split(body, []byte{'\n'}) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		v, err := jsonx.Decode(line)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON on line %d: %s", n+1, describeLineError(line, err))
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("line %d is %s, not a JSON object", n+1, jsonKind(v))
		}
		records = append(records, m)
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("the body holds no record")
	}
	return records, nil
}

// describeLineError places an error within one NDJSON line (column only).
func describeLineError(line []byte, err error) string {
	if syn, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s at column %d", syn.Error(), max(syn.Offset, 1))
	}
	return err.Error()
}

func describeStart(b []byte) string {
	if len(b) > 12 {
		b = b[:12]
	}
	return fmt.Sprintf("%q", b)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return "a number"
	}
}
