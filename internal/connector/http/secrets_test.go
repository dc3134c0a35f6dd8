package httpconn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// The secret values of the tests; each must never be seen where it does
// not belong, in any of its forms.
const (
	bearerSecret = "tok-SECRET-1"
	basicSecret  = "pw/SECRET 2" // needs escaping in a URL
	keySecret    = "key-SECRET-3"
	headerSecret = "hdr-SECRET-4"
)

// authKinds are the four kinds of credentials, each with a static
// secret header and a plain static header beside it.
var authKinds = []struct {
	name string
	auth *Auth
}{
	{"bearer", &Auth{Bearer: bearerSecret}},
	{"basic", &Auth{Basic: &BasicAuth{User: "ferry", Password: basicSecret}}},
	{"api key header", &Auth{APIKey: &APIKey{Header: "X-Api-Key", Value: keySecret}}},
	{"api key query", &Auth{APIKey: &APIKey{Query: "api_key", Value: keySecret}}},
}

func withAuth(a *Auth) func(*SystemConfig) {
	return func(c *SystemConfig) {
		c.Auth = a
		c.Headers = map[string]string{"X-Tenant-Token": headerSecret, "X-Plain": "plain"}
	}
}

// secretForms lists every form in which the secrets could leak.
func secretForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		if s == basicSecret {
			out = append(out, base64.StdEncoding.EncodeToString([]byte("ferry:"+basicSecret)))
		}
	}
	return out
}

// leaks returns the forms of the secrets (all of them by default) found
// in text.
func leaks(text string, secrets ...string) []string {
	if len(secrets) == 0 {
		secrets = []string{bearerSecret, basicSecret, keySecret, headerSecret}
	}
	var found []string
	for _, f := range secretForms(secrets...) {
		if strings.Contains(text, f) {
			found = append(found, f)
		}
	}
	return found
}

// secretOf is the value of one kind of auth.
func secretOf(a *Auth) string {
	switch {
	case a.Bearer != "":
		return a.Bearer
	case a.Basic != nil:
		return a.Basic.Password
	}
	return a.APIKey.Value
}

// seen records what one server received: URL and headers, per path.
type seen struct {
	mu   sync.Mutex
	reqs map[string]string // path -> URL and headers as text
}

func (s *seen) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reqs == nil {
		s.reqs = map[string]string{}
	}
	var b strings.Builder
	b.WriteString(r.URL.String() + "\n")
	for k, v := range r.Header {
		b.WriteString(k + ": " + strings.Join(v, ",") + "\n")
	}
	s.reqs[r.URL.Path] = b.String()
}

func (s *seen) get(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[path]
}

// TestCredentialsStayAtTheirOrigin: credentials and static headers go to
// the system's own origin, and to nothing else: not to a next-page URL
// (Link header or body) on another origin, not across a redirect to
// another origin; a redirect within the origin keeps them.
func TestCredentialsStayAtTheirOrigin(t *testing.T) {
	for _, kind := range authKinds {
		t.Run(kind.name, func(t *testing.T) {
			var other, own seen
			otherSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				other.record(r)
				switch r.URL.Path {
				case "/back":
					// Back to the system's origin: credentials again.
					http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
				default:
					w.Write([]byte(`{"data": [{"id": "` + r.URL.Path + `"}]}`))
				}
			})
			var ownURL string
			ownSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				own.record(r)
				switch r.URL.Path {
				case "/link":
					w.Header().Set("Link", "<"+otherSrv.URL+`/link-next>; rel="next"`)
					w.Write([]byte(`{"data": [{"id": 1}]}`))
				case "/body":
					w.Write([]byte(`{"data": [{"id": 1}], "next": "` + otherSrv.URL + `/body-next"}`))
				case "/out":
					http.Redirect(w, r, otherSrv.URL+"/redirected", http.StatusFound)
				case "/in":
					http.Redirect(w, r, "/landing", http.StatusFound)
				case "/out-and-back":
					http.Redirect(w, r, otherSrv.URL+"/back?to="+url.QueryEscape(ownURL+"/home"), http.StatusFound)
				default:
					w.Write([]byte(`{"data": [{"id": 1}]}`))
				}
			})
			ownURL = ownSrv.URL
			s := systemsFor(t, ownSrv.URL, withAuth(kind.auth))
			reads := []struct {
				path     string
				paginate *Paginate
			}{
				{"/link", &Paginate{Link: true}},
				{"/body", &Paginate{Next: "next"}},
				{"/out", nil},
				{"/in", nil},
				{"/out-and-back", nil},
			}
			for _, rd := range reads {
				src := fastSource(t, s, &SourceConfig{System: "api", Path: rd.path, Records: "data", Key: "id", Paginate: rd.paginate,
					Headers: map[string]string{"X-Route": "route"}})
				if _, err := readAll(t, src, connector.ReadRequest{}); err != nil {
					t.Fatalf("read %s: %v", rd.path, err)
				}
			}
			for _, path := range []string{"/link-next", "/body-next", "/redirected", "/back"} {
				got := other.get(path)
				if got == "" {
					t.Fatalf("other origin: no request for %s", path)
				}
				if l := leaks(got); len(l) > 0 || strings.Contains(got, "X-Plain") || strings.Contains(got, "Authorization") || strings.Contains(got, "Referer") {
					t.Errorf("other origin got credentials or static headers at %s (%v):\n%s", path, l, got)
				}
				if path != "/back" && !strings.Contains(got, "X-Route: route") {
					t.Errorf("the route's own plain header was not sent to %s:\n%s", path, got)
				}
			}
			for _, path := range []string{"/link", "/in", "/landing", "/home"} {
				got := own.get(path)
				if len(leaks(got)) < 2 || !strings.Contains(got, "X-Plain: plain") {
					t.Errorf("own origin at %s lacks credentials or static headers:\n%s", path, got)
				}
			}
		})
	}
}

// echo answers with everything it received: URL, headers and body.
func echo(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"url": r.URL.String(), "headers": r.Header, "body": body.String()})
	}
}

// TestSecretsNeverShown: a server that echoes the request (URL, headers,
// body) in its answers and errors; the secrets also sit in the path and
// the body. No string leaving the connector shows a secret: result
// errors, request and response excerpts, source errors, previews, logs.
func TestSecretsNeverShown(t *testing.T) {
	for _, kind := range authKinds {
		t.Run(kind.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			mux := http.NewServeMux()
			mux.HandleFunc("/fail/", echo(500))
			mux.HandleFunc("/refuse/", echo(422))
			mux.HandleFunc("/ok/", echo(200))
			srv := serve(t, mux.ServeHTTP)
			cfg := &SystemConfig{URL: srv.URL}
			withAuth(kind.auth)(cfg)
			s, err := NewSystems(map[string]*SystemConfig{"api": cfg}, WithLogger(logger))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)

			var texts []string
			collect := func(where string, rs ...connector.Result) {
				for _, r := range rs {
					texts = append(texts, where+" error: "+r.Error, where+" request: "+r.Request, where+" response: "+r.Response)
				}
			}
			batch := deliveries(1)
			// The system knows its own secrets: its auth and its static
			// secret header. They also sit in the record, the path and
			// the query, where the server echoes them.
			secret := secretOf(kind.auth)
			batch[0].Record["secret_auth"], batch[0].Record["secret_header"] = secret, headerSecret
			for _, prefix := range []string{"/fail", "/refuse", "/ok"} {
				for _, body := range []string{"each", "array"} {
					cfg := &DestinationConfig{System: "api", Body: body, Path: prefix + "/" + url.PathEscape(secret) + "/x"}
					if body == "each" {
						cfg.Path = prefix + "/${secret_auth}/${secret_header}"
						cfg.Results = &Results{OK: "false", Error: `"echo: " + string(headers)`}
					}
					d := newDestination(t, s, cfg)
					collect(prefix+" "+body, send(t, d, batch)...)
					p, err := d.Preview(context.Background(), batch[0])
					if err != nil {
						t.Fatalf("preview: %v", err)
					}
					texts = append(texts, "preview: "+p.URL+" "+string(p.Body))
				}
			}
			op, err := NewOperation(s, &OperationConfig{System: "api", Path: "/fail/${secret_header}", Body: map[string]any{"note": "${secret_auth}"}})
			if err != nil {
				t.Fatal(err)
			}
			collect("operation", op.Do(context.Background(), batch[0], nil))
			src := fastSource(t, s, &SourceConfig{System: "api", Path: "/refuse/" + headerSecret, Key: "id", Query: map[string]string{"q": secret}})
			_, err = readAll(t, src, connector.ReadRequest{})
			if err == nil {
				t.Fatal("source read did not fail")
			}
			texts = append(texts, "source: "+err.Error(), "logs: "+logs.String())

			all := strings.Join(texts, "\n")
			if !strings.Contains(all, Redacted) {
				t.Fatalf("nothing was redacted; the test does not see the echo:\n%s", all)
			}
			for _, text := range texts {
				if l := leaks(text, secret, headerSecret); len(l) > 0 {
					t.Errorf("secret %v shown in %s", l, text)
				}
			}
		})
	}
}

// TestSecretCutByExcerpt: an error excerpt that ends inside an echoed
// secret shows none of it.
func TestSecretCutByExcerpt(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte(strings.Repeat("x", 288) + r.Header.Get("Authorization")))
	})
	d := newDestination(t, systemsFor(t, srv.URL, withAuth(&Auth{Bearer: bearerSecret})), &DestinationConfig{System: "api"})
	r := send(t, d, deliveries(1))[0]
	if !strings.HasSuffix(r.Error, "xBearer REDACTED...") || strings.Contains(r.Error, "tok-S") {
		t.Fatalf("error %q", r.Error)
	}
}

// TestRouteSecretsRedacted: values a route took from ${env:} (given to
// the systems with WithSecrets) are redacted like a system's own
// credentials, wherever the route put them (a header, the body, the path,
// a query) and whichever system echoes them.
func TestRouteSecretsRedacted(t *testing.T) {
	const headerTok, bodyTok, pathTok = "route-header-tok", "route-body-tok", "route-path-tok"
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(400)
		fmt.Fprintf(w, "bad: %s %s %s", r.Header.Get("X-Api-Token"), r.URL.String(), body)
	})
	s, err := NewSystems(map[string]*SystemConfig{"api": {URL: srv.URL}}, WithSecrets(headerTok, bodyTok, pathTok))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	d := newDestination(t, s, &DestinationConfig{
		System: "api", Path: "/in/" + pathTok, Headers: map[string]string{"X-Api-Token": headerTok},
		Body: "each",
	})
	batch := deliveries(1)
	batch[0].Record = map[string]any{"tok": bodyTok}
	r := send(t, d, batch)[0]
	texts := []string{r.Error, r.Request, r.Response}
	p, err := d.Preview(context.Background(), batch[0])
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, p.URL, string(p.Body))
	all := strings.Join(texts, "\n")
	if !strings.Contains(r.Response, Redacted) {
		t.Fatalf("nothing was redacted; the server did not echo:\n%s", all)
	}
	if l := leaks(all, headerTok, bodyTok, pathTok); len(l) > 0 {
		t.Errorf("route secrets %v shown in:\n%s", l, all)
	}
}

// TestAPIKeyParamNotSentToAnotherOrigin: an API that builds its next
// link from the request's query copies the API key into it; when that
// link points to another origin the key is taken out, as it is from a
// redirect.
func TestAPIKeyParamNotSentToAnotherOrigin(t *testing.T) {
	var other seen
	otherSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		other.record(r)
		w.Write([]byte(`{"data": [{"id": 2}]}`))
	})
	ownSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		next := otherSrv.URL + "/next?" + r.URL.RawQuery // echoes api_key
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
		w.Write([]byte(`{"data": [{"id": 1}]}`))
	})
	s := systemsFor(t, ownSrv.URL, func(c *SystemConfig) {
		c.Auth = &Auth{APIKey: &APIKey{Query: "api_key", Value: keySecret}}
	})
	src := fastSource(t, s, &SourceConfig{System: "api", Path: "/first", Records: "data", Key: "id", Paginate: &Paginate{Link: true}})
	if _, err := readAll(t, src, connector.ReadRequest{}); err != nil {
		t.Fatal(err)
	}
	got := other.get("/next")
	if got == "" {
		t.Fatal("other origin: no request for /next")
	}
	if l := leaks(got, keySecret); len(l) > 0 {
		t.Errorf("the API key went to another origin (%v):\n%s", l, got)
	}
}

// TestSecretHeaderValueNotSentToAnotherOrigin: a source header whose
// name looks harmless but whose value is a secret (from ${env:}) goes
// to the system's own origin only, like one named like a credential;
// a plain header still follows.
func TestSecretHeaderValueNotSentToAnotherOrigin(t *testing.T) {
	const sig = "sig-SECRET-5"
	var own, other seen
	otherSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		other.record(r)
		if r.URL.Path == "/redirect" {
			w.Write([]byte(`{"data": [{"id": 3}]}`))
			return
		}
		w.Write([]byte(`{"data": [{"id": 2}]}`))
	})
	ownSrv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		own.record(r)
		if r.URL.Path == "/out" {
			http.Redirect(w, r, otherSrv.URL+"/redirect", http.StatusFound)
			return
		}
		w.Header().Set("Link", "<"+otherSrv.URL+`/next>; rel="next"`)
		w.Write([]byte(`{"data": [{"id": 1}]}`))
	})
	s, err := NewSystems(map[string]*SystemConfig{"api": {URL: ownSrv.URL}}, WithSecrets(sig))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	headers := map[string]string{"X-Shop": sig, "X-Route": "route"}
	for _, rd := range []struct {
		path     string
		paginate *Paginate
	}{{"/first", &Paginate{Link: true}}, {"/out", nil}} {
		src := fastSource(t, s, &SourceConfig{System: "api", Path: rd.path, Records: "data", Key: "id", Paginate: rd.paginate, Headers: headers})
		if _, err := readAll(t, src, connector.ReadRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := own.get("/first"); !strings.Contains(got, "X-Shop: "+sig) {
		t.Fatalf("own origin lacks the secret header:\n%s", got)
	}
	for _, path := range []string{"/next", "/redirect"} {
		got := other.get(path)
		if got == "" {
			t.Fatalf("other origin: no request for %s", path)
		}
		if strings.Contains(got, sig) || !strings.Contains(got, "X-Route: route") {
			t.Errorf("other origin at %s: want the plain header and not the secret one:\n%s", path, got)
		}
	}
}
