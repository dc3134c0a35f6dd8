package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
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
// since 422 and 500 are different causes. Digits inside a word stay too
// ("E422", "sha256", "v2"): those are names and codes, not counts. JSON
// object keys stay (`{"error":`): they are field names. A quoted string
// with a space in it is a message (the "error" of a JSON answer,
// "customer 42 unknown"), not a value: it is kept and folded inside; a
// quoted single word ("ACME-7", 'x', a URL) is a value and becomes "…".
//
// The scanner is written by hand: a page folds up to 40,000 messages, and
// a regular expression with these rules took over 100 µs per message.

const (
	// foldInputMax bounds the work per message: ferry's own messages
	// are short (a response body is cut at 300 characters).
	foldInputMax = 4000
	// foldOutputMax is how much of a folded message a cause keeps.
	foldOutputMax = 300
	// foldKeyMark and foldEmailMark stand for the entry's key and for an
	// e-mail address until the end (control characters are not word
	// characters, so the rules around them see a separator).
	foldKeyMark   = "\x00"
	foldEmailMark = "\x01"
)

// foldMessage returns the cause of msg, an error of the entry whose key
// is key ("" for none).
func foldMessage(msg, key string) string {
	msg = foldCut(msg, foldInputMax)
	msg = foldKey(msg, key)
	msg = foldEmails(msg)
	out := foldText(msg, 0)
	out = foldSpaces(out)
	out = strings.ReplaceAll(out, foldKeyMark, "<key>")
	out = strings.ReplaceAll(out, foldEmailMark, "<email>")
	return foldCut(out, foldOutputMax)
}

// foldSpaces trims s and turns each run of white space into one space.
func foldSpaces(s string) string {
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' }
	clean := len(s) == 0 || !space(s[0]) && !space(s[len(s)-1])
	for i := 0; clean && i < len(s); i++ {
		if space(s[i]) && (s[i] != ' ' || i+1 < len(s) && space(s[i+1])) {
			clean = false
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	gap := false
	for i := 0; i < len(s); i++ {
		if space(s[i]) {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// foldFingerprint names a cause in forms: hex of its SHA-256.
func foldFingerprint(cause string) string {
	sum := sha256.Sum256([]byte(cause))
	return hex.EncodeToString(sum[:])
}

// foldText replaces the variable parts of s in one pass. At each place
// the first rule that applies wins: a quoted string, then at the start
// of a word a status code, a UUID, an ISO time, a hex id, a number; any
// other word is copied whole, so digits inside it stay. depth guards the
// recursion into quoted messages.
func foldText(s string, depth int) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '"':
			if end := foldEscQuoted(s, i); end > 0 {
				b.WriteString(foldQuoted(s, i, end, `\"`, depth))
				i = end
				continue
			}
		case c == '"':
			if end := foldDQuoted(s, i); end > 0 {
				b.WriteString(foldQuoted(s, i, end, `"`, depth))
				i = end
				continue
			}
		case c == '\'':
			if end := foldSQuoted(s, i); end > 0 {
				b.WriteString(foldQuoted(s, i, end, "'", depth))
				i = end
				continue
			}
		case foldWordByte(c) && (i == 0 || !foldWordByte(s[i-1])):
			if end := foldStatusAt(s, i); end > 0 {
				b.WriteString(s[i:end])
				i = end
				continue
			}
			if end := foldUUIDAt(s, i); end > 0 {
				b.WriteString("<uuid>")
				i = end
				continue
			}
			if end := foldTimeAt(s, i); end > 0 {
				b.WriteString("<time>")
				i = end
				continue
			}
			if end := foldHexAt(s, i); end > 0 {
				b.WriteString("#")
				i = end
				continue
			}
			if end := foldNumberAt(s, i); end > 0 {
				b.WriteString("#")
				i = end
				continue
			}
			end := i + 1
			for end < len(s) && foldWordByte(s[end]) {
				end++
			}
			b.WriteString(s[i:end])
			i = end
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// foldWordByte is a word character as a regular expression's \b sees it.
func foldWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func foldDigit(c byte) bool { return c >= '0' && c <= '9' }

func foldHexByte(c byte) bool {
	return foldDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// foldEnds reports whether a word may end at i: the end of s, or no word
// character next.
func foldEnds(s string, i int) bool { return i >= len(s) || !foldWordByte(s[i]) }

// foldStatusAt matches, at i, a status code the message names as one:
// "HTTP 422", "HTTP/1.1 500", "status 503", "status code: 404",
// "status_code=400". It returns the end, or 0.
func foldStatusAt(s string, i int) int {
	var j int
	switch {
	case foldHasFold(s, i, "http"):
		j = i + 4
		if j+1 < len(s) && s[j] == '/' && foldDigit(s[j+1]) {
			j += 2
			if j+1 < len(s) && s[j] == '.' && foldDigit(s[j+1]) {
				j += 2
			}
		}
	case foldHasFold(s, i, "status"):
		j = i + 6
		if j < len(s) && (s[j] == ' ' || s[j] == '_') && foldHasFold(s, j+1, "code") {
			j += 5
		}
	default:
		return 0
	}
	k := j
	for k < len(s) && (s[k] == ' ' || s[k] == ':' || s[k] == '=') {
		k++
	}
	if k == j || k+3 > len(s) || s[k] < '1' || s[k] > '5' || !foldDigit(s[k+1]) || !foldDigit(s[k+2]) || !foldEnds(s, k+3) {
		return 0
	}
	return k + 3
}

// foldHasFold reports whether s holds word (lower case) at i, in any case.
func foldHasFold(s string, i int, word string) bool {
	return i+len(word) <= len(s) && strings.EqualFold(s[i:i+len(word)], word)
}

// foldStatusSpans lists where s names status codes.
func foldStatusSpans(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; (c == 'h' || c == 's') && (i == 0 || !foldWordByte(s[i-1])) {
			if end := foldStatusAt(s, i); end > 0 {
				spans = append(spans, [2]int{i, end})
				i = end - 1
			}
		}
	}
	return spans
}

// foldUUIDAt matches 8-4-4-4-12 hex digits at i.
func foldUUIDAt(s string, i int) int {
	j := i
	for n, size := range [5]int{8, 4, 4, 4, 12} {
		if n > 0 {
			if j >= len(s) || s[j] != '-' {
				return 0
			}
			j++
		}
		for range size {
			if j >= len(s) || !foldHexByte(s[j]) {
				return 0
			}
			j++
		}
	}
	if !foldEnds(s, j) {
		return 0
	}
	return j
}

// foldTimeAt matches an ISO date at i, with the time of day, fraction and
// zone that follow: 2026-11-30, 2026-11-30T09:40:22.123Z,
// 2026-11-30 10:00:00+01:00.
func foldTimeAt(s string, i int) int {
	digits := func(j, n int) bool {
		if j+n > len(s) {
			return false
		}
		for k := j; k < j+n; k++ {
			if !foldDigit(s[k]) {
				return false
			}
		}
		return true
	}
	at := func(j int, c byte) bool { return j < len(s) && s[j] == c }
	if !digits(i, 4) || !at(i+4, '-') || !digits(i+5, 2) || !at(i+7, '-') || !digits(i+8, 2) {
		return 0
	}
	j := i + 10
	if (at(j, 'T') || at(j, ' ')) && digits(j+1, 2) && at(j+3, ':') && digits(j+4, 2) {
		j += 6
		if at(j, ':') && digits(j+1, 2) {
			j += 3
			if (at(j, '.') || at(j, ',')) && digits(j+1, 1) {
				j++
				for j < len(s) && foldDigit(s[j]) {
					j++
				}
			}
		}
		switch {
		case at(j, 'Z'):
			j++
		case (at(j, '+') || at(j, '-')) && digits(j+1, 2):
			k := j + 3
			if at(k, ':') {
				k++
			}
			if digits(k, 2) {
				j = k + 2
			}
		}
	}
	return j
}

// foldHexAt matches a hex id at i: 8 or more hex digits, one at least a
// digit (so "deadbeefcafe" or "accede" stay words), ending a word.
func foldHexAt(s string, i int) int {
	j, digit := i, false
	for j < len(s) && foldHexByte(s[j]) {
		digit = digit || foldDigit(s[j])
		j++
	}
	if j-i < 8 || !digit || !foldEnds(s, j) {
		return 0
	}
	return j
}

// foldNumberAt matches a number at i: digits, with . or , groups (12.50,
// 1,000.00, 127.0.0.1). What follows may be a unit: "850ms" is "#ms".
func foldNumberAt(s string, i int) int {
	j := i
	for j < len(s) && foldDigit(s[j]) {
		j++
	}
	if j == i {
		return 0
	}
	for j+1 < len(s) && (s[j] == '.' || s[j] == ',') && foldDigit(s[j+1]) {
		j++
		for j < len(s) && foldDigit(s[j]) {
			j++
		}
	}
	return j
}

// foldDQuoted matches a "..." string at i (backslash escapes inside, no
// line break) and returns its end, or 0.
func foldDQuoted(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '\n':
			return 0
		case '"':
			return j + 1
		}
	}
	return 0
}

// foldEscQuoted matches a \"...\" string at i: a quote inside a JSON
// string.
func foldEscQuoted(s string, i int) int {
	for j := i + 2; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 < len(s) && s[j+1] == '"' {
				return j + 2
			}
			j++
		case '"', '\n':
			return 0
		}
	}
	return 0
}

// foldSQuoted matches a '...' string at i where no word is glued to the
// outside of either quote, so "can't" and "customer's" hold no quotes.
func foldSQuoted(s string, i int) int {
	if i > 0 && foldWordByte(s[i-1]) {
		return 0
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\n':
			return 0
		case '\'':
			if j == i+1 || !foldEnds(s, j+1) {
				return 0
			}
			return j + 1
		}
	}
	return 0
}

// foldQuoted folds the quoted string s[start:end] opened (and closed) by
// open: a JSON object key and a quoted message stay (the message folded
// inside), a quoted value becomes "…".
func foldQuoted(s string, start, end int, open string, depth int) string {
	whole := s[start:end]
	inner := whole[len(open) : len(whole)-len(open)]
	if open != "'" && foldObjectKey(s, start, end) {
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

// foldEmails marks the e-mail addresses of s: local@domain.tld, the
// domain with a dot and a top level of two letters or more.
func foldEmails(s string) string {
	if strings.IndexByte(s, '@') < 0 {
		return s
	}
	local := func(c byte) bool { return foldWordByte(c) || strings.IndexByte(".%+-", c) >= 0 }
	domain := func(c byte) bool { return foldWordByte(c) && c != '_' || c == '.' || c == '-' }
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		start := i
		for start > last && local(s[start-1]) {
			start--
		}
		end := i + 1
		for end < len(s) && domain(s[end]) {
			end++
		}
		for end > i+1 && (s[end-1] == '.' || s[end-1] == '-') {
			end-- // a sentence's full stop is not the domain's
		}
		dom := s[i+1 : end]
		dot := strings.LastIndexByte(dom, '.')
		if start == i || dot <= 0 || len(dom)-dot-1 < 2 || !foldLetters(dom[dot+1:]) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(foldEmailMark)
		last, i = end, end-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func foldLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// foldKey marks where msg names the key: as it is, or as a JSON string
// spells it (an error body quoting the record escapes < as \u003c). A
// key glued to a longer word ("C7" in "C7x") is not the key there, nor
// is a status code the message names. A key that is a number, UUID, hex
// id or date is left to those rules.
func foldKey(msg, key string) string {
	if key == "" || msg == "" {
		return msg
	}
	if f := foldText(key, 0); f == "#" || f == "<uuid>" || f == "<time>" {
		// The number rules fold such a key wherever it stands; marking
		// it would fold key 3 in "3 lines" and not key 4, splitting one
		// cause in two.
		return msg
	}
	forms := []string{key}
	if strings.ContainsFunc(key, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029'
	}) {
		forms = append(forms, foldJSONSpellings(key)...)
		slices.Sort(forms[1:]) // the key itself first, then its spellings
		forms = slices.Compact(forms)
	}
	for _, form := range forms {
		if !strings.Contains(msg, form) {
			continue
		}
		msg = foldReplaceWord(msg, form, foldStatusSpans(msg))
	}
	return msg
}

// foldJSONSpellings are the ways a JSON string spells s inside its
// quotes: with <, > and & escaped (Go's default) and without.
func foldJSONSpellings(s string) []string {
	var out []string
	if b, err := json.Marshal(s); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err == nil {
		f := strings.TrimSuffix(buf.String(), "\n")
		out = append(out, f[1:len(f)-1])
	}
	return out
}

// foldReplaceWord marks the occurrences of word in s that stand on their
// own and lie outside protected.
func foldReplaceWord(s, word string, protected [][2]int) string {
	var b strings.Builder
	i, replaced := 0, false
	for {
		j := strings.Index(s[i:], word)
		if j < 0 {
			break
		}
		start, end := i+j, i+j+len(word)
		if foldAlone(s, start, end) && !foldInside(start, end, protected) {
			b.WriteString(s[i:start])
			b.WriteString(foldKeyMark)
			i, replaced = end, true
			continue
		}
		_, size := utf8.DecodeRuneInString(s[start:])
		b.WriteString(s[i : start+size])
		i = start + size
	}
	if !replaced {
		return s
	}
	b.WriteString(s[i:])
	return b.String()
}

// foldAlone reports whether s[start:end] is not glued to a word
// character on a side where it begins or ends with one.
func foldAlone(s string, start, end int) bool {
	first, _ := utf8.DecodeRuneInString(s[start:end])
	last, _ := utf8.DecodeLastRuneInString(s[start:end])
	if foldWordRune(first) && start > 0 {
		if r, _ := utf8.DecodeLastRuneInString(s[:start]); foldWordRune(r) {
			return false
		}
	}
	if foldWordRune(last) && end < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[end:]); foldWordRune(r) {
			return false
		}
	}
	return true
}

func foldWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func foldInside(start, end int, spans [][2]int) bool {
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
