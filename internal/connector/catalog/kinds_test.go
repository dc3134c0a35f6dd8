package catalog

import (
	"context"
	"errors"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/connector"
)

// The test kinds: "widget" plays every role and uses every shape the docs
// know; "gadget" has a Config type of the same name as widget's, for the
// schema's definitions.

type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = duration(v)
	return err
}

// Duration is named like config.Duration: the docs call it a duration.
type Duration int64

// Level describes itself, as config.Duration does.
type Level string

func (Level) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "integer", Description: "A level from 1 to 9"}
}

type widgetSystem struct {
	URL     string        `yaml:"url" jsonschema:"description=Base URL of the widget API"`
	Timeout time.Duration `yaml:"timeout,omitempty" jsonschema:"description=Timeout of one call\\, default 30s"`
	Token   string        `yaml:"token,omitempty" jsonschema:"description=Token | sent as the header <X-Token>\\, *never* logged"`
	Level   Level         `yaml:"level,omitempty"`
}

type common struct {
	System string `yaml:"system" jsonschema:"description=Name of a widget system"`
}

type page struct {
	Size  int    `yaml:"size,omitempty" jsonschema:"description=Records per page,default=100"`
	Param string `yaml:"param,omitempty"`
}

type paginate struct {
	Page *page `yaml:"page,omitempty" jsonschema:"description=Page-number pagination"`
	Link bool  `yaml:"link,omitempty" jsonschema:"description=Follow the Link header"`
}

type answer struct {
	When    string   `yaml:"when" jsonschema:"description=Expression over status and body" ferry:"expr"`
	Outcome string   `yaml:"outcome" jsonschema:"enum=done,enum=retry,enum=dead,description=What the answer means"`
	Delay   Duration `yaml:"delay,omitempty" jsonschema:"type=string,description=Wait at least this long"`
}

type node struct {
	Name     string `yaml:"name"`
	Children []node `yaml:"children,omitempty" jsonschema:"description=Nested nodes"`
}

type widgetSource struct {
	common   `yaml:",inline"`
	Path     string            `yaml:"path,omitempty" jsonschema:"description=Path appended to the URL" ferry:"template"`
	Query    map[string]string `yaml:"query,omitempty" jsonschema:"description=Query parameters" ferry:"template"`
	Key      string            `yaml:"key" jsonschema:"description=Dotted path to the key"`
	Every    *duration         `yaml:"every,omitempty" jsonschema:"description=Poll interval"`
	Paginate *paginate         `yaml:"paginate,omitempty"`
	Tags     []string          `yaml:"tags,omitempty" jsonschema:"description=Tags to read"`
	Tree     *node             `yaml:"tree,omitempty" jsonschema:"description=A recursive type"`
	Weight   float64           `yaml:"weight,omitempty,omitzero"`
	Internal string            `yaml:"-"`
	hidden   string            //nolint:unused // unexported: not an option
}

type widgetDestination struct {
	common  `yaml:",inline"`
	Method  string                  `yaml:"method,omitempty" jsonschema:"enum=POST,enum=PUT,description=HTTP method"`
	Map     map[string]any          `yaml:"map,omitempty" jsonschema:"description=Field -> expression" ferry:"expr"`
	Answers []answer                `yaml:"answers,omitempty" jsonschema:"description=Ordered rules; the first match wins"`
	Tables  map[string]*page        `yaml:"tables,omitempty"`
	Batches [][]int                 `yaml:"batches,omitempty"`
	Strict  bool                    `yaml:"strict" jsonschema:"required,description=Refuse unknown fields"`
	Extra   map[string][]answer     `yaml:"extra,omitempty"`
	Labels  map[string]map[int]bool `yaml:"labels,omitempty"`
}

type widgetOperation struct {
	common `yaml:",inline"`
	Body   any `yaml:"body,omitempty" jsonschema:"description=JSON body" ferry:"template"`
}

var errNotBuilt = errors.New("test kinds are not built")

func widgetKind() connector.Kind {
	return connector.Kind{
		Name:    "widget",
		Summary: "Widgets over a test API",
		Doc:     "The widget kind exists for the catalog's tests.\n\n```yaml\nsource:\n  widget: { system: w, key: id }\n```\n",
		System: &connector.SystemPart{
			Spec:      connector.Spec{Config: func() any { return &widgetSystem{} }, Caps: []connector.Capability{connector.CapHealth}},
			Shorthand: true,
			Build: func(context.Context, connector.Env, string, any) (connector.System, error) {
				return nil, errNotBuilt
			},
		},
		Source: &connector.SourcePart{
			Spec: connector.Spec{Config: func() any { return &widgetSource{} }, Caps: []connector.Capability{connector.CapWake, connector.CapCursor}},
			Build: func(context.Context, connector.Env, any) (connector.Source, error) {
				return nil, errNotBuilt
			},
		},
		Destination: &connector.DestinationPart{
			Spec: connector.Spec{Config: func() any { return &widgetDestination{} }, Caps: []connector.Capability{connector.CapPreview, connector.CapBatch, "teleport"}},
			Build: func(context.Context, connector.Env, any) (connector.Destination, error) {
				return nil, errNotBuilt
			},
		},
		Operation: &connector.OperationPart{
			Spec: connector.Spec{Config: func() any { return &widgetOperation{} }},
			Build: func(context.Context, connector.Env, any) (connector.Operation, error) {
				return nil, errNotBuilt
			},
		},
	}
}

// Config is alpha's source config; beta's (declared in betaKind) has the
// same name.
type Config struct {
	Table string   `yaml:"table" jsonschema:"description=Table to read"`
	Wait  Duration `yaml:"wait,omitempty" jsonschema:"type=string,description=How long to wait"`
	Page  *page    `yaml:"page,omitempty"`
}

func alphaKind() connector.Kind {
	return connector.Kind{
		Name:    "alpha",
		Summary: "Alpha tables",
		Source: &connector.SourcePart{
			Spec: connector.Spec{Config: func() any { return &Config{} }, Caps: []connector.Capability{connector.CapCursor}},
			Build: func(context.Context, connector.Env, any) (connector.Source, error) {
				return nil, errNotBuilt
			},
		},
	}
}

func betaKind() connector.Kind {
	type Config struct {
		Queue   string        `yaml:"queue" jsonschema:"description=Queue to consume"`
		Timeout time.Duration `yaml:"timeout,omitempty"`
	}
	return connector.Kind{
		Name:    "beta",
		Summary: "Beta queues",
		Source: &connector.SourcePart{
			Spec: connector.Spec{Config: func() any { return &Config{} }, Caps: []connector.Capability{connector.CapAck}},
			Build: func(context.Context, connector.Env, any) (connector.Source, error) {
				return nil, errNotBuilt
			},
		},
		Destination: &connector.DestinationPart{
			Spec: connector.Spec{Config: func() any { return &Config{} }},
			Build: func(context.Context, connector.Env, any) (connector.Destination, error) {
				return nil, errNotBuilt
			},
		},
	}
}
