package fileconn

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// encoder writes records in one format. Every record ends with a line
// break outside any quoted value, which is what recovery cuts at.
type encoder interface {
	ext() string
	// header is written when a run's file is opened.
	header() []byte
	// append appends one record as the file holds it.
	append(b []byte, rec connector.Record) ([]byte, error)
}

func newEncoder(cfg *DestinationConfig) encoder {
	switch cfg.Format {
	case FormatCSV:
		e := &csvEncoder{cols: cfg.Columns, comma: []rune(cfg.Delimiter)[0]}
		e.w = csv.NewWriter(&e.buf)
		e.w.Comma = e.comma
		return e
	case FormatNDJSON:
		return ndjsonEncoder{}
	}
	return jsonEncoder{}
}

type ndjsonEncoder struct{}

func (ndjsonEncoder) ext() string    { return FormatNDJSON }
func (ndjsonEncoder) header() []byte { return nil }
func (ndjsonEncoder) append(b []byte, rec connector.Record) ([]byte, error) {
	b, err := jsonx.Append(b, rec)
	return append(b, '\n'), err
}

// jsonEncoder writes one array, one element per line: "[\n", then each
// record followed by ",\n"; closing the file replaces the last ",\n" by
// "\n]\n" (or writes "]\n" after no record).
type jsonEncoder struct{}

const (
	jsonOpen  = "[\n"
	jsonSep   = ",\n"
	jsonClose = "\n]\n"
)

func (jsonEncoder) ext() string    { return FormatJSON }
func (jsonEncoder) header() []byte { return []byte(jsonOpen) }
func (jsonEncoder) append(b []byte, rec connector.Record) ([]byte, error) {
	b, err := jsonx.Append(b, rec)
	return append(b, jsonSep...), err
}

// csvEncoder writes the configured columns of each record; encoding/csv
// quotes what needs quoting.
type csvEncoder struct {
	cols   []string
	comma  rune
	buf    bytes.Buffer
	w      *csv.Writer
	fields []string
}

func (e *csvEncoder) ext() string { return FormatCSV }

func (e *csvEncoder) header() []byte {
	b, _ := e.line(e.cols)
	return b
}

func (e *csvEncoder) append(b []byte, rec connector.Record) ([]byte, error) {
	e.fields = e.fields[:0]
	for _, col := range e.cols {
		s, err := cell(rec[col])
		if err != nil {
			return b, fmt.Errorf("column %q: %w", col, err)
		}
		e.fields = append(e.fields, s)
	}
	line, err := e.line(e.fields)
	return append(b, line...), err
}

func (e *csvEncoder) line(fields []string) ([]byte, error) {
	e.buf.Reset()
	if err := e.w.Write(fields); err != nil {
		return nil, err
	}
	e.w.Flush()
	return e.buf.Bytes(), e.w.Error()
}

// cell is a value as CSV text: strings as they are, numbers as JSON
// writes them, null as an empty cell, objects and arrays as JSON.
func cell(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		return string(x), nil
	}
	b, err := jsonx.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
