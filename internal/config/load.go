package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/redact"
)

// Load reads, decodes, completes and validates the config file at path.
// Problems in the file come back as *Errors, as many as can be found at
// once; a file that cannot be read gives an ordinary error.
//
// kinds are the connector kinds sources, destinations, operations and
// systems may be (internal/connector/all.Set() in ferry itself).
func Load(path string, kinds *connector.Set) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path, kinds)
}

// Parse decodes data as a config file. file names it in error messages
// and anchors relative paths (store, ${file:...}); "" means the current
// directory. Steps, in order: YAML syntax; shape (unknown fields, types);
// decoding; ${env:}/${file:} interpolation; defaults; validation.
func Parse(data []byte, file string, kinds *connector.Set) (*Config, error) {
	if kinds == nil {
		return nil, errors.New("load config: no connector kinds given")
	}
	d := newDocument(file, kinds)
	body, err := parseBody(data, d)
	if err != nil {
		return nil, err
	}
	d.walk(body, reflectConfigType, "")

	cfg := &Config{kinds: kinds}
	ctx := context.WithValue(context.Background(), kindsKey{}, kinds)
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.Strict(), yaml.AllowFieldPrefixes(extensionPrefix))
	if err := dec.DecodeFromNodeContext(ctx, body, cfg); err != nil {
		// The shape check should have caught everything the decoder refuses;
		// if not, still report the decoder's own words at its position.
		d.errs = append(d.errs, yamlError(file, err))
		return nil, sortErrors(d.errs)
	}
	cfg.File = file
	cfg.RouteOrder = append([]string(nil), d.keys["routes"]...)

	baseDir := "."
	if file != "" {
		baseDir = filepath.Dir(file)
	}
	secrets, values := interpolate(cfg, d, baseDir, os.LookupEnv)
	cfg.secretValues = values
	cfg.redactor = redact.New(values...)
	checkRetention(cfg, d) // before defaults, which cannot tell 0 from unset
	checkServeZeros(cfg, d)
	applyDefaults(cfg, baseDir)
	validate(cfg, d, secrets)
	if len(d.errs) > 0 {
		return nil, sortErrors(d.errs)
	}
	return cfg, nil
}

var reflectConfigType = reflect.TypeFor[Config]()

// parseBody parses the YAML and returns the single document's root
// mapping, or the syntax errors as *Errors.
func parseBody(data []byte, d *document) (ast.Node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, &Errors{yamlError(d.file, err)}
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, &Errors{{File: d.file, Line: 1, Column: 1, Msg: "empty config: expected a mapping with routes:"}}
	case len(docs) > 1:
		pos := nodePos(docs[1].Body)
		if docs[1].Start != nil {
			pos = tokenPos(docs[1].Start)
		}
		return nil, &Errors{{File: d.file, Line: pos.line, Column: pos.col, Msg: "expected one YAML document, found a second one"}}
	}
	body := unwrap(docs[0].Body)
	if _, ok := body.(*ast.MappingNode); !ok {
		pos := tokenPos(body.GetToken())
		return nil, &Errors{{File: d.file, Line: pos.line, Column: pos.col, Msg: "expected a mapping with routes: at the top of the file, got " + describe(body)}}
	}
	return body, nil
}

// yamlError turns a go-yaml error into an Error at the token it names.
func yamlError(file string, err error) *Error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		pos := tokenPos(ye.GetToken())
		return &Error{File: file, Line: pos.line, Column: pos.col, Msg: syntaxHint(ye.GetMessage())}
	}
	return &Error{File: file, Msg: err.Error()}
}

var dupKey = regexp.MustCompile(`^mapping key ("[^"]*") already defined at \[(\d+):(\d+)\]$`)

// syntaxHint rewords the go-yaml messages users meet most often.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "'\t'"):
		return "tab character: YAML indentation must use spaces"
	case dupKey.MatchString(msg):
		m := dupKey.FindStringSubmatch(msg)
		return fmt.Sprintf("duplicate key %s (first defined at line %s, column %s)", m[1], m[2], m[3])
	case msg == "value is not allowed in this context", strings.HasPrefix(msg, "unexpected key name"):
		return msg + " (check the indentation of this line)"
	}
	return msg
}
