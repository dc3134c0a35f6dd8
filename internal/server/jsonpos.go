package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// describeJSONError says what is wrong with data and where (line,
// column and byte offset), for a decoding error err.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// The decoder counts the byte at fault as read.
		return fmt.Sprintf("%s at %s", syn.Error(), position(data, syn.Offset-1))
	case errors.As(err, &typ):
		field := ""
		if typ.Field != "" {
			field = " in field " + typ.Field
		}
		return fmt.Sprintf("expected %s%s, got %s at %s", typ.Type, field, typ.Value, position(data, typ.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("unexpected end of JSON input at %s", position(data, int64(len(data))))
	default:
		return err.Error()
	}
}

// position turns a byte offset into "line L, column C (offset O)"; lines
// and columns count from 1, columns in bytes.
func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	line := 1 + bytes.Count(data[:offset], []byte{'\n'})
	col := offset - int64(bytes.LastIndexByte(data[:offset], '\n'))
	if line == 1 {
		col = offset + 1
	}
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, offset)
}
