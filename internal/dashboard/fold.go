package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Folding turns an error message into its cause: the message with its
// variable parts (ids, numbers, quoted values, e-mail addresses, times,
// the entry's own key) replaced by placeholders, so 5,000 records that
// failed for one reason are one line on the errors page.
//
// What stays: HTTP status codes where the message names them as such
// ("HTTP 422 Unprocessable Entity: ..." is how ferry's HTTP connector
// phrases a refused delivery; also "status 503", "status code: 404"),
// since 422 and 500 are different causes. Digits glued to letters stay
// too ("E422", "sha256", "v2"): those are names and codes, not counts.
// JSON object keys stay (`"error":`): they are field names. A quoted
// string with a space in it is a message (the "error" of a JSON answer,
// "customer 42 unknown"), not a value: it is kept and folded inside;
// a quoted single word ("ACME-7", 'x') is a value and becomes "…".

const (
	// foldInputMax bounds the work per message: ferry's own messages
	// are short (a response body is cut at 300 characters).
	foldInputMax = 4000
	// foldOutputMax is how much of a folded message a cause keeps.
	foldOutputMax = 300
	// foldKeyMark stands for the entry's key until the end (a NUL is
	// not a word character, so the rules around it see a separator).
	foldKeyMark = "\x00"
)

// foldPattern finds every variable part in one pass; the alternatives
// are tried in this order at each position, so a status code wins over
// a number and a UUID over a hex id.
var foldPattern = regexp.MustCompile(strings.Join([]string{
	`(?P<status>(?i:\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?:[ _]code)?)[ :=]+[1-5]\d\d\b))`,
	`(?P<esc>\\"(?:[^"\\]|\\[^"])*\\")`,
	`(?P<dq>"(?:[^"\\\n]|\\.)*")`,
	`(?P<sq>\B'[^'\n]+'\B)`,
	`(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)`,
	`(?P<time>\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?)`,
	`(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})`,
	`(?P<hex>\b[0-9a-fA-F]{8,}\b)`,
	`(?P<num>\b\d+(?:[.,]\d+)*)`,
}, "|"))

var foldGroups = foldPattern.SubexpNames()

// foldMessage returns the cause of msg, an error of the entry whose key
// is key ("" for none).
func foldMessage(msg, key string) string {
	msg = foldCut(msg, foldInputMax)
	msg = foldKey(msg, key)
	out := foldText(msg, 0)
	out = strings.Join(strings.Fields(out), " ")
	out = strings.ReplaceAll(out, foldKeyMark, "<key>")
	return foldCut(out, foldOutputMax)
}

// foldFingerprint names a cause in forms: hex of its SHA-256.
func foldFingerprint(cause string) string {
	sum := sha256.Sum256([]byte(cause))
	return hex.EncodeToString(sum[:])
}

// foldText replaces the variable parts of s. depth guards the recursion
// into quoted messages.
func foldText(s string, depth int) string {
	matches := foldPattern.FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range matches {
		start, end := m[0], m[1]
		b.WriteString(s[last:start])
		last = end
		whole := s[start:end]
		group := ""
		for g := 1; g < len(foldGroups); g++ {
			if m[2*g] >= 0 {
				group = foldGroups[g]
				break
			}
		}
		switch group {
		case "status":
			b.WriteString(whole)
		case "esc", "dq", "sq":
			b.WriteString(foldQuoted(s, whole, start, end, group, depth))
		case "uuid":
			b.WriteString("<uuid>")
		case "time":
			b.WriteString("<time>")
		case "email":
			b.WriteString("<email>")
		case "hex":
			if strings.ContainsAny(whole, "0123456789") {
				b.WriteString("#")
			} else {
				b.WriteString(whole) // a word such as "deadbeefcafe" or "accede": no digit, no id
			}
		case "num":
			b.WriteString("#")
		default:
			b.WriteString(whole)
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// foldQuoted folds one quoted string found at s[start:end]: a JSON object
// key and a quoted message stay (the message folded inside), a quoted
// value becomes "…".
func foldQuoted(s, whole string, start, end int, group string, depth int) string {
	open := whole[:1]
	if group == "esc" {
		open = whole[:2]
	}
	inner := whole[len(open) : len(whole)-len(open)]
	if group != "sq" && foldObjectKey(s, start, end) {
		return whole // a field name
	}
	if strings.ContainsAny(strings.TrimSpace(inner), " \t\n") {
		if depth >= 3 {
			return whole
		}
		return open + foldText(inner, depth+1) + open
	}
	return `"…"`
}

// foldObjectKey reports whether the quoted string at s[start:end] is a
// JSON object key: after { or , and before : (`Post "http://x": dial`
// names a value before its colon).
func foldObjectKey(s string, start, end int) bool {
	before := strings.TrimRight(s[:start], " \t\n")
	after := strings.TrimLeft(s[end:], " \t\n")
	return strings.HasPrefix(after, ":") && (strings.HasSuffix(before, "{") || strings.HasSuffix(before, ","))
}

// foldKey marks where msg names the key: as it is, or as a JSON string
// spells it (an error body quoting the record escapes < as \u003c). A
// key that is part of a longer word or number ("1" in "E1", "12") is
// not the key there.
func foldKey(msg, key string) string {
	if key == "" || msg == "" {
		return msg
	}
	forms := []string{key}
	if b, err := json.Marshal(key); err == nil {
		if f := string(b[1 : len(b)-1]); f != key {
			forms = append(forms, f)
		}
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(key); err == nil {
		f := strings.TrimSuffix(buf.String(), "\n")
		if f = f[1 : len(f)-1]; f != key && f != forms[len(forms)-1] {
			forms = append(forms, f)
		}
	}
	// A status code the message names stays even when the key is "422".
	protected := foldStatusOnly.FindAllStringIndex(msg, -1)
	for _, form := range forms {
		msg = foldReplaceWord(msg, form, protected)
		if len(protected) > 0 {
			protected = foldStatusOnly.FindAllStringIndex(msg, -1)
		}
	}
	return msg
}

var foldStatusOnly = regexp.MustCompile(`(?i:\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?:[ _]code)?)[ :=]+[1-5]\d\d\b)`)

// foldReplaceWord replaces the occurrences of word in s that stand on
// their own (no letter or digit glued to them) and lie outside protected.
func foldReplaceWord(s, word string, protected [][]int) string {
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(s[i:], word)
		if j < 0 {
			break
		}
		start, end := i+j, i+j+len(word)
		if foldAlone(s, start, end) && !foldInside(start, end, protected) {
			b.WriteString(s[i:start])
			b.WriteString(foldKeyMark)
			i = end
			continue
		}
		// Not the key here: move on by one rune.
		_, size := utf8.DecodeRuneInString(s[start:])
		b.WriteString(s[i : start+size])
		i = start + size
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s[i:])
	return b.String()
}

// foldAlone reports whether s[start:end] is not glued to a word
// character on a side where it begins or ends with one.
func foldAlone(s string, start, end int) bool {
	first, _ := utf8.DecodeRuneInString(s[start:end])
	lastR, _ := utf8.DecodeLastRuneInString(s[start:end])
	if foldWordRune(first) && start > 0 {
		if r, _ := utf8.DecodeLastRuneInString(s[:start]); foldWordRune(r) {
			return false
		}
	}
	if foldWordRune(lastR) && end < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[end:]); foldWordRune(r) {
			return false
		}
	}
	return true
}

func foldWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func foldInside(start, end int, spans [][]int) bool {
	for _, sp := range spans {
		if start < sp[1] && end > sp[0] {
			return true
		}
	}
	return false
}

// foldCut keeps the first n runes of s.
func foldCut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}
