package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Decode decodes one JSON value the way ferry holds records: numbers as
// float64, which expressions compute with, except numbers a float64
// cannot hold exactly (integers beyond 2^53, values beyond its range):
// those stay json.Number, so they pass through unchanged, as keys and in
// payloads, instead of two IDs collapsing into one. Data after the value
// is an error.
//
// Every source page, webhook body and queued payload is decoded here, so
// it is one pass of a small decoder (parse.go) that builds exactly what
// encoding/json with UseNumber followed by the number conversion built
// before, at a fraction of its CPU time and allocations. The decoder
// stops at anything it does not accept (every malformed input, very deep
// nesting); encoding/json then decodes the input again, so errors keep
// their type (*json.SyntaxError, io.ErrUnexpectedEOF, io.EOF), message
// and offset, which callers turn into line and column.
func Decode(data []byte) (any, error) {
	if v, ok := parse(data, nil); ok {
		return v, nil
	}
	return decodeStd(data)
}

// DecodeObject is Decode for a JSON object.
func DecodeObject(data []byte) (map[string]any, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, got %T", v)
	}
	return m, nil
}

// decodeStd is Decode with encoding/json: the reference that parse must
// match (the tests compare them), and the source of Decode's errors.
func decodeStd(data []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		// Token has read past what follows: name where it starts.
		for end < len(data) && (data[end] == ' ' || data[end] == '\t' || data[end] == '\r' || data[end] == '\n') {
			end++
		}
		return nil, fmt.Errorf("invalid data after the JSON value at offset %d", end)
	}
	return numbers(v), nil
}

// numbers turns the json.Numbers of a decoded value into float64 where
// that is exact (see Decode).
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return number(x)
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case json.Number, map[string]any, []any:
				x[k] = numbers(e)
			}
		}
	case []any:
		for i, e := range x {
			switch e.(type) {
			case json.Number, map[string]any, []any:
				x[i] = numbers(e)
			}
		}
	}
	return v
}

// maxExact is 2^53: every integer up to it is exact in a float64.
const maxExact = 1 << 53

func number(n json.Number) any {
	s := string(n)
	if len(s) > 15 && !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err != nil || i > maxExact || i < -maxExact {
			return n
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil { // out of range (1e400)
		return n
	}
	return f
}
