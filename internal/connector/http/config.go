package httpconn

import (
	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/config"
)

// The HTTP kind's config types: a system (shorthand: its options may
// stand right under the system's name), a source, a destination and an
// operation. Tags: yaml names, jsonschema descriptions for the schema and
// docs/connectors/http.md, ferry:"expr"/"template" for what the loader
// compiles, ferry:"address" for a value that is an address (not a secret).

// SystemConfig is a named connection to one outside HTTP system.
type SystemConfig struct {
	URL     string            `yaml:"url" json:"url" jsonschema:"description=Base URL; paths of sources and destinations are appended to it" ferry:"address"`
	Auth    *Auth             `yaml:"auth,omitempty" json:"auth,omitempty" jsonschema:"description=Authentication sent with every request to this system (exactly one of bearer\\, basic\\, api_key)"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty" jsonschema:"description=Headers sent with every request to this system"`
	// Rate is a request rate limit shared by every route using the system: "10/s", "600/m", "5000/h".
	Rate    string          `yaml:"rate,omitempty" json:"rate,omitempty" jsonschema:"pattern=^[0-9]+(\\.[0-9]+)?/(s|m|h)$,description=Request rate limit shared by all routes\\, e.g. 10/s"`
	Timeout config.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty" jsonschema:"type=string,description=Timeout of one request (default 30s)"`
}

// Auth holds exactly one authentication method.
type Auth struct {
	Bearer string     `yaml:"bearer,omitempty" json:"bearer,omitempty" jsonschema:"description=Bearer token sent as Authorization: Bearer ..."`
	Basic  *BasicAuth `yaml:"basic,omitempty" json:"basic,omitempty" jsonschema:"description=HTTP basic authentication (user and password)"`
	APIKey *APIKey    `yaml:"api_key,omitempty" json:"api_key,omitempty" jsonschema:"description=An API key sent in a header or a query parameter"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	User     string `yaml:"user" json:"user" jsonschema:"description=User name"`
	Password string `yaml:"password,omitempty" json:"password,omitempty" jsonschema:"description=Password; write it as ${env:NAME} or ${file:PATH}"`
}

// APIKey sends a key in a header or a query parameter (exactly one of them).
type APIKey struct {
	Header string `yaml:"header,omitempty" json:"header,omitempty" jsonschema:"description=Header name\\, e.g. X-API-Key"`
	Query  string `yaml:"query,omitempty" json:"query,omitempty" jsonschema:"description=Query parameter name\\, e.g. api_key"`
	Value  string `yaml:"value" json:"value" jsonschema:"description=The key; write it as ${env:NAME} or ${file:PATH}"`
}

// SourceConfig reads records with GET requests, page by page.
type SourceConfig struct {
	System  string            `yaml:"system" json:"system" jsonschema:"description=Name of the HTTP system (under systems:) to read from"`
	Path    string            `yaml:"path,omitempty" json:"path,omitempty" jsonschema:"description=Path appended to the system URL" ferry:"template"`
	Query   map[string]string `yaml:"query,omitempty" json:"query,omitempty" jsonschema:"description=Query parameters; ${cursor} is the incremental watermark" ferry:"template"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty" ferry:"template" jsonschema:"description=Headers of the GET requests; values may hold ${cursor} and ${...} templates"`
	// Records is the dotted path to the record array in the body ("" = the body is the array).
	Records string `yaml:"records,omitempty" json:"records,omitempty" jsonschema:"description=Dotted path to the array of records in the response body; empty when the body is the array"`
	// Key is the dotted path to the record's business key.
	Key string `yaml:"key" json:"key" jsonschema:"description=Dotted path to the business key of a record"`
	// Cursor is the dotted path to the field used as incremental watermark.
	Cursor   string    `yaml:"cursor,omitempty" json:"cursor,omitempty" jsonschema:"description=Dotted path to the field that orders changes (e.g. updated_at)"`
	Paginate *Paginate `yaml:"paginate,omitempty" json:"paginate,omitempty" jsonschema:"description=How to get the next page (exactly one of page\\, offset\\, next\\, link); none: one request"`
}

// Paginate selects one pagination style.
type Paginate struct {
	Page   *PagePagination   `yaml:"page,omitempty" json:"page,omitempty" jsonschema:"description=Page-number pagination: ?page=1&size=100\\, then 2\\, 3..."`
	Offset *OffsetPagination `yaml:"offset,omitempty" json:"offset,omitempty" jsonschema:"description=Offset pagination: ?offset=0&limit=100\\, then 100\\, 200..."`
	// Next is the dotted path to a next URL or token in the response body.
	Next string `yaml:"next,omitempty" json:"next,omitempty" jsonschema:"description=Dotted path in the body to the next page's URL\\, or to a token when next_param is set"`
	// NextParam makes Next a token sent in this query parameter.
	NextParam string `yaml:"next_param,omitempty" json:"next_param,omitempty" jsonschema:"description=With next: the value at next is a token sent in this query parameter (instead of a URL)"`
	// Link follows the Link header's rel="next".
	Link bool `yaml:"link,omitempty" json:"link,omitempty" jsonschema:"description=Follow the URL of the Link header's next relation (rel=next)"`
}

// PagePagination is page-number pagination.
type PagePagination struct {
	Param     string `yaml:"param,omitempty" json:"param,omitempty" jsonschema:"description=Page number parameter (default page)"`
	SizeParam string `yaml:"size_param,omitempty" json:"size_param,omitempty" jsonschema:"description=Page size parameter (default size)"`
	Size      int    `yaml:"size,omitempty" json:"size,omitempty" jsonschema:"description=Records per page (default 100)"`
	// Start is a pointer so that start: 0 (zero-based pages) differs from unset.
	Start *int `yaml:"start,omitempty" json:"start,omitempty" jsonschema:"description=First page number (default 1; 0 for APIs that count from 0)"`
}

// OffsetPagination is offset/limit pagination.
type OffsetPagination struct {
	Param      string `yaml:"param,omitempty" json:"param,omitempty" jsonschema:"description=Offset parameter (default offset)"`
	LimitParam string `yaml:"limit_param,omitempty" json:"limit_param,omitempty" jsonschema:"description=Limit parameter (default limit)"`
	Limit      int    `yaml:"limit,omitempty" json:"limit,omitempty" jsonschema:"description=Records per request (default 100)"`
}

// DestinationConfig delivers records with HTTP requests.
type DestinationConfig struct {
	System  string            `yaml:"system" json:"system" jsonschema:"description=Name of the HTTP system (under systems:) to send to"`
	Method  string            `yaml:"method,omitempty" json:"method,omitempty" jsonschema:"enum=POST,enum=PUT,enum=PATCH,enum=DELETE,description=Default POST"`
	Path    string            `yaml:"path,omitempty" json:"path,omitempty" jsonschema:"description=Path template; with body: each it may use ${...} over the record" ferry:"template"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty" ferry:"template" jsonschema:"description=Headers of the requests; values may hold ${...} templates (with body: array only ${batch_size})"`
	// Body is "each" (one request per record, the default) or "array" (one per batch).
	Body string `yaml:"body,omitempty" json:"body,omitempty" jsonschema:"enum=each,enum=array,description=each: one request per record; array: one request per batch"`
	// Wrap puts the batch array under this key: {"orders": [...]}.
	Wrap string `yaml:"wrap,omitempty" json:"wrap,omitempty" jsonschema:"description=With body: array\\, send {wrap: [...]} instead of a bare array"`
	// Map shapes each record's body (field -> expression).
	Map     map[string]any `yaml:"map,omitempty" json:"map,omitempty" ferry:"expr" jsonschema:"description=Shape each record's body: field -> expression (nested objects allowed); without it the record as the steps left it"`
	Results *Results       `yaml:"results,omitempty" json:"results,omitempty" jsonschema:"description=Read per-record outcomes from the answer to a batch (body: array)"`
	// Answers classify the destination's answers before the built-in rules (see answers.go).
	Answers []config.Answer `yaml:"answers,omitempty" json:"answers,omitempty" jsonschema:"description=Ordered rules that decide the outcome of an answer (done\\, skip\\, retry\\, dead); the first match wins"`
}

// Results reads per-record outcomes from a batch response.
type Results struct {
	Path  string `yaml:"path,omitempty" json:"path,omitempty" jsonschema:"description=Dotted path to the array of per-record results (empty: the body is the array)"`
	Key   string `yaml:"key,omitempty" json:"key,omitempty" jsonschema:"description=Field of a result holding the record's key; empty: results are in request order"`
	OK    string `yaml:"ok,omitempty" json:"ok,omitempty" jsonschema:"description=Expression over a result\\, true when the record succeeded (default true)" ferry:"expr"`
	Error string `yaml:"error,omitempty" json:"error,omitempty" jsonschema:"description=Expression over a result giving the error message" ferry:"expr"`
}

// OperationConfig is one HTTP call per record; strings in Body are templates.
type OperationConfig struct {
	System  string            `yaml:"system" json:"system" jsonschema:"description=Name of the HTTP system (under systems:) to call"`
	Method  string            `yaml:"method,omitempty" json:"method,omitempty" jsonschema:"enum=POST,enum=PUT,enum=PATCH,enum=DELETE,description=Default POST"`
	Path    string            `yaml:"path,omitempty" json:"path,omitempty" ferry:"template" jsonschema:"description=Path template appended to the system URL\\, e.g. /orders/${key}/status"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty" ferry:"template" jsonschema:"description=Headers of the call; values may hold ${...} templates"`
	Body    any               `yaml:"body,omitempty" json:"body,omitempty" jsonschema:"description=JSON body; strings may hold ${...} templates" ferry:"template"`
	// Answers classify the call's answers before the built-in rules (see answers.go).
	Answers []config.Answer `yaml:"answers,omitempty" json:"answers,omitempty" jsonschema:"description=Ordered rules that decide the outcome of an answer (done\\, skip\\, retry\\, dead); the first match wins"`
}

// JSONSchemaExtend requires exactly one authentication method.
func (Auth) JSONSchemaExtend(s *jsonschema.Schema) { oneOfRequired(s, "bearer", "basic", "api_key") }

// JSONSchemaExtend requires exactly one of header and query.
func (APIKey) JSONSchemaExtend(s *jsonschema.Schema) { oneOfRequired(s, "header", "query") }

// oneOfRequired says that exactly one of the named properties is set.
func oneOfRequired(s *jsonschema.Schema, names ...string) {
	for _, n := range names {
		s.OneOf = append(s.OneOf, &jsonschema.Schema{Required: []string{n}})
	}
}
