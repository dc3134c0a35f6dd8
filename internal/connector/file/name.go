package fileconn

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
)

// partSuffix marks a run's file while it is being written.
const partSuffix = ".part"

// placeholders of a destination's name, in the order the docs list them.
var placeholders = []string{"route", "run", "run_id", "date", "ext"}

// runTime and runDate format {run} and {date}: UTC, sortable, and safe in
// file names on every system (no colons).
const (
	runTime = "20060102T150405Z"
	runDate = "2006-01-02"
)

// nameTemplate is a parsed `name:`: literal text and {placeholder}s.
type nameTemplate struct {
	parts []namePart
}

type namePart struct {
	text        string
	placeholder bool
}

func parseName(s string) (*nameTemplate, error) {
	if s == "" {
		return nil, fmt.Errorf("a file name is required")
	}
	if strings.ContainsAny(s, `/\`) {
		return nil, fmt.Errorf("%q names a file of dir, without a folder (set dir to the folder)", s)
	}
	t := &nameTemplate{}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			t.parts = append(t.parts, namePart{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, namePart{text: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q has a { without its }", s)
		}
		name := rest[open+1 : open+end]
		if !slices.Contains(placeholders, name) {
			return nil, fmt.Errorf("{%s} is not a placeholder (expected {%s})", name, strings.Join(placeholders, "}, {"))
		}
		t.parts = append(t.parts, namePart{text: name, placeholder: true})
		rest = rest[open+end+1:]
	}
	if strings.Contains(t.literal(), "}") {
		return nil, fmt.Errorf("%q has a } without its {", s)
	}
	if err := plainName(t.render(connector.RunInfo{Route: "r"}, "x")); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *nameTemplate) literal() string {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.placeholder {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// perRun reports whether the name changes from run to run; a name that
// does not is replaced by each run's file.
func (t *nameTemplate) perRun() bool {
	for _, p := range t.parts {
		if p.placeholder && (p.text == "run" || p.text == "run_id" || p.text == "date") {
			return true
		}
	}
	return false
}

func (t *nameTemplate) render(run connector.RunInfo, ext string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.placeholder {
			b.WriteString(p.text)
			continue
		}
		switch p.text {
		case "route":
			b.WriteString(run.Route)
		case "run":
			b.WriteString(run.Started.UTC().Format(runTime))
		case "run_id":
			b.WriteString(strconv.FormatInt(run.ID, 10))
		case "date":
			b.WriteString(run.Started.UTC().Format(runDate))
		case "ext":
			b.WriteString(ext)
		}
	}
	return b.String()
}

// matcher recognises the final names this template makes for route, with
// or without the "-N" that StartRun adds when a name is taken.
func (t *nameTemplate) matcher(route, ext string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, p := range t.parts {
		switch {
		case !p.placeholder:
			b.WriteString(regexp.QuoteMeta(p.text))
		case p.text == "route":
			b.WriteString(regexp.QuoteMeta(route))
		case p.text == "ext":
			b.WriteString(regexp.QuoteMeta(ext))
		default:
			b.WriteString(".+")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// numbered inserts "-n" before the name's extension: orders.csv ->
// orders-2.csv.
func numbered(name string, n int) string {
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + "-" + strconv.Itoa(n) + ext
}

var numberSuffix = regexp.MustCompile(`-[0-9]+$`)

// unnumbered undoes numbered, if the name has such a suffix.
func unnumbered(name string) (string, bool) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	loc := numberSuffix.FindStringIndex(stem)
	if loc == nil {
		return "", false
	}
	return stem[:loc[0]] + ext, true
}

// pattern renders {route} and {ext} and keeps the per-run placeholders
// as written: orders-{run}.ndjson. It names what a destination's files
// have in common (its manifest is named after it).
func (t *nameTemplate) pattern(route, ext string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case !p.placeholder:
			b.WriteString(p.text)
		case p.text == "route":
			b.WriteString(route)
		case p.text == "ext":
			b.WriteString(ext)
		default:
			b.WriteString("{" + p.text + "}")
		}
	}
	return b.String()
}
