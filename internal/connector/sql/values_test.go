package sqlconn

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// TestJSONColumnErrors: bad JSON in a column says what and where (the
// caller adds the row).
func TestJSONColumnErrors(t *testing.T) {
	col := &column{name: "doc"}
	for in, want := range map[string]string{
		``:          `column "doc" holds no valid JSON: the text is empty`,
		" \n":       `column "doc" holds no valid JSON: the text is empty`,
		"\v":        `column "doc" holds no valid JSON: invalid character '\v' looking for beginning of value at offset 0`,
		`{"a": 01}`: `column "doc" holds no valid JSON: invalid character '1' after object key:value pair at offset 7`,
		`{"a": 1`:   `column "doc" holds no valid JSON: the text ends before the value does: unexpected EOF`,
		`[1] x`:     `column "doc" holds no valid JSON: invalid data after the JSON value at offset 4`,
	} {
		for _, c := range []*jsonx.Cache{nil, new(jsonx.Cache)} {
			if v, err := decodeJSONColumn(c, col, []byte(in)); err == nil || err.Error() != want {
				t.Errorf("%q: %#v, %v; want %s", in, v, err, want)
			}
		}
	}
}

// canonicalDecimal drops a plus sign, leading zeros and the zeros ending
// a fraction: "+012.50" is "12.5", the way strconv writes the same value
// (the reference sameDecimal is checked against).
func canonicalDecimal(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	s = strings.TrimLeft(s, "0")
	if s == "" || s[0] == '.' {
		s = "0" + s
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}

// TestSameDecimal: comparing strconv's form with a decimal's canonical
// form in place agrees with building the canonical form.
func TestSameDecimal(t *testing.T) {
	decimals := []string{"0", "-0", "0.00", "-0.00", "+0", "12.50", "+012.50", "-012.50", "1", "-1", "100", "100.000",
		".5", "-.5", "0.1", "0.10000000000000001", "123456789012345678", "9007199254740993", "1e5", "1.5E3",
		"-9007199254740992", "20.19", "-20.10", "00", "1.", "-1.0", "3.14159265358979323846"}
	for _, s := range decimals {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		formatted := strconv.FormatFloat(f, 'f', -1, 64)
		want := formatted == canonicalDecimal(s)
		if got := sameDecimal([]byte(formatted), s); got != want {
			t.Errorf("sameDecimal(%q, %q) = %v, want %v (canonical %q)", formatted, s, got, want, canonicalDecimal(s))
		}
	}
}
