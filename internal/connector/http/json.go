package httpconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// lookup follows a dotted path through decoded JSON (see jsonx.Lookup).
func lookup(v any, path string) (found any, ok bool, at any) { return jsonx.Lookup(v, path) }

// describe names the kind of a JSON value for messages: "an object with
// keys: items, meta", "a string", "null".
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		if len(x) == 0 {
			return "an empty object"
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 20 {
			keys = append(keys[:20], "...")
		}
		return "an object with keys: " + strings.Join(keys, ", ")
	case []any:
		return fmt.Sprintf("an array of %d items", len(x))
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// arrayAt finds the array at path in a decoded body. A null there is an
// empty array: many APIs send "data": null for an empty page.
func arrayAt(body any, path string) ([]any, error) {
	v, ok, at := lookup(body, path)
	if ok {
		switch a := v.(type) {
		case []any:
			return a, nil
		case nil:
			return nil, nil
		}
	}
	where := "the response body"
	if path != "" {
		where = fmt.Sprintf("%q in the response", path)
	}
	return nil, fmt.Errorf("no array at %s; found %s", where, describe(at))
}

// decodeJSON decodes a whole body, numbers as float64. The error says
// whether the body was cut short or is not JSON at all.
func decodeJSON(body []byte) (any, error) {
	v, err := jsonx.Decode(body)
	if err == nil {
		return v, nil
	}
	start := excerpt(body, 200)
	if start == "" {
		start = "(empty)"
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset >= int64(len(body)) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("response JSON is truncated: unexpected end of JSON input after %d bytes; body starts with: %s", len(body), start)
	}
	return nil, fmt.Errorf("response is not JSON: %v; body starts with: %s", err, start)
}

// ExcerptSize is the longest request or response excerpt kept per record.
const ExcerptSize = 1024

// excerpt shortens b to at most max bytes, on a rune boundary, marking
// the cut with "...".
func excerpt(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "..."
}

// jsonExcerpt is the excerpt of a value's JSON encoding.
func jsonExcerpt(v any) string {
	b, err := jsonx.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(not JSON: %v)", err)
	}
	return excerpt(b, ExcerptSize)
}
