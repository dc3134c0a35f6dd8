package httpconn

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// issueRules are the answer rules of the issue's examples.
var issueRules = []config.Answer{
	{When: `status == 409 || (status == 500 && body contains "duplicate id")`, Outcome: "done"},
	{When: `status == 422 && json?.code == "blocked"`, Outcome: "dead", Message: "customer blocked: ${json.message}"},
	{When: `status == 200 && json?.success == false`, Outcome: "retry", Delay: config.Duration(30 * time.Second)},
	{When: `status == 404 && headers["x-reason"] == "archived"`, Outcome: "skip"},
}

// TestAnswerRules: the first matching rule decides; without a match the
// built-in classification stays.
func TestAnswerRules(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		header  string // X-Reason
		want    connector.Result
		wantErr string
	}{
		{name: "409 done", status: 409, body: `{"error":"exists"}`, want: connector.Result{OK: true}},
		{name: "500 duplicate id done", status: 500, body: `<html>duplicate id 42</html>`, want: connector.Result{OK: true}},
		{name: "500 otherwise built in", status: 500, body: `boom`, want: connector.Result{Retryable: true, Unknown: true}, wantErr: "HTTP 500 Internal Server Error: boom"},
		{name: "422 known message dead", status: 422, body: `{"code":"blocked","message":"customer 77 is blocked"}`, want: connector.Result{}, wantErr: "customer blocked: customer 77 is blocked"},
		{name: "422 otherwise built in", status: 422, body: `{"code":"other"}`, want: connector.Result{}, wantErr: `HTTP 422 Unprocessable Entity: {"code":"other"}`},
		{name: "200 success false retry", status: 200, body: `{"success":false}`, want: connector.Result{Retryable: true, RetryAfter: 30 * time.Second},
			wantErr: `HTTP 200 OK: {"success":false} (answers[2]: retry)`},
		{name: "200 success true", status: 200, body: `{"success":true}`, want: connector.Result{OK: true}},
		{name: "200 not JSON", status: 200, body: `fine`, want: connector.Result{OK: true}},
		{name: "404 archived skip", status: 404, header: "archived", want: connector.Result{Skipped: true}, wantErr: "HTTP 404 Not Found (answers[3]: skip)"},
		{name: "404 otherwise dead", status: 404, want: connector.Result{}, wantErr: "HTTP 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("X-Reason", tt.header)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			for _, body := range []string{"each", "array"} {
				d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: body, Answers: issueRules})
				for i, r := range send(t, d, deliveries(2)) {
					if r.OK != tt.want.OK || r.Retryable != tt.want.Retryable || r.Skipped != tt.want.Skipped || r.Unknown != tt.want.Unknown ||
						r.RetryAfter != tt.want.RetryAfter || r.Error != tt.wantErr || r.StatusCode != tt.status {
						t.Errorf("%s record %d: %+v\nwant %+v, error %q", body, i, r, tt.want, tt.wantErr)
					}
				}
			}
			op, err := NewOperation(systemsFor(t, srv.URL), &OperationConfig{System: "api", Answers: issueRules})
			if err != nil {
				t.Fatal(err)
			}
			if r := op.Do(context.Background(), deliveries(1)[0], nil); r.OK != tt.want.OK || r.Skipped != tt.want.Skipped || r.Retryable != tt.want.Retryable || r.Error != tt.wantErr {
				t.Errorf("operation: %+v", r)
			}
		})
	}
}

// TestAnswerRulesPerRecord: with per-record results, rules reading
// result decide record by record, in order with the rules about the
// whole answer; records no rule matches keep the built-in outcome.
func TestAnswerRulesPerRecord(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var recs []map[string]any
		json.NewDecoder(r.Body).Decode(&recs)
		var results []map[string]any
		for i, rec := range recs {
			status := []string{"ok", "duplicate", "busy", "rejected"}[i%4]
			results = append(results, map[string]any{"id": rec["external_id"], "status": status, "message": "record " + status})
		}
		writeJSON(w, map[string]any{"results": results})
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: "array",
		Results: &Results{Path: "results", Key: "id", OK: `status == "ok"`, Error: "message"},
		Answers: []config.Answer{
			{When: `result.status == "duplicate"`, Outcome: "done"},
			{When: `status >= 500`, Outcome: "retry"},
			{When: `result.status == "busy"`, Outcome: "retry", Delay: config.Duration(time.Minute), Message: "${key} is busy: ${result.message}"},
			{When: `result.status == "rejected" && key == "K3"`, Outcome: "dead"},
		}})
	res := send(t, d, deliveries(8))
	for i, r := range res {
		key := deliveries(8)[i].Key
		switch i % 4 {
		case 0, 1:
			if !r.OK {
				t.Errorf("%s: %+v, want done", key, r)
			}
		case 2:
			if r.OK || !r.Retryable || r.RetryAfter != time.Minute || r.Error != key+" is busy: record busy" {
				t.Errorf("%s: %+v, want retry in 1m", key, r)
			}
		case 3:
			// K3 matches the dead rule; K7 keeps the built-in retry.
			if r.OK || r.Retryable != (key == "K7") || !strings.Contains(r.Error, "record rejected") {
				t.Errorf("%s: %+v", key, r)
			}
		}
	}
}

// TestAnswerRuleThatFailsToEvaluate does not match, and says so in the
// error of a record that fails.
func TestAnswerRuleThatFailsToEvaluate(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		w.Write([]byte("<html>bad gateway</html>"))
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api",
		Answers: []config.Answer{{When: `json.success == false`, Outcome: "done"}}})
	r := send(t, d, deliveries(1))[0]
	if r.OK || !r.Retryable || !strings.Contains(r.Error, "HTTP 502 Bad Gateway") || !strings.Contains(r.Error, "answers[0] did not apply: evaluate") {
		t.Fatalf("%+v", r)
	}
}

func TestNewDestinationAnswerErrors(t *testing.T) {
	s := systemsFor(t, "http://127.0.0.1:1")
	tests := []struct {
		rule config.Answer
		want string
	}{
		{config.Answer{When: "status == 1", Outcome: "ok"}, `answers[0].outcome: "ok" is not an outcome (expected one of done, skip, retry, dead)`},
		{config.Answer{When: "status ==", Outcome: "done"}, `answers[0].when: expression "status =="`},
		{config.Answer{When: "", Outcome: "done"}, `answers[0].when: empty expression`},
		{config.Answer{When: "true", Outcome: "dead", Delay: config.Duration(time.Second)}, `answers[0].delay: only applies to outcome: retry`},
		{config.Answer{When: "true", Outcome: "dead", Message: "${x"}, `answers[0].message: template`},
	}
	for _, tt := range tests {
		_, err := NewDestination(s, &DestinationConfig{System: "api", Answers: []config.Answer{tt.rule}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.rule, err, tt.want)
		}
	}
}

// TestAnswerMessageSeesTheRecord: a rule's message (and when) sees the
// record's key and the delivery's vars whether or not the rule reads
// result: for one record's answer (body: each, operations) and, rendered
// per record, for a rule that decided a whole batch.
func TestAnswerMessageSeesTheRecord(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(422)
		w.Write([]byte(`{"error":"bad sku"}`))
	})
	rules := []config.Answer{
		{When: `status == 422 && key == "K1"`, Outcome: "skip", Message: "skipped ${key}"},
		{When: `status == 422`, Outcome: "dead", Message: "refused ${key} (entry ${entry.id}, ${idempotency_key}): ${json.error}"},
	}
	want := map[string]string{
		"K0": "refused K0 (entry 1, idem-K0): bad sku",
		"K1": "skipped K1",
	}
	check := func(what string, r connector.Result, key string) {
		t.Helper()
		if r.Error != want[key] || r.Skipped != (key == "K1") {
			t.Errorf("%s, record %s: error %q (skipped %v), want %q", what, key, r.Error, r.Skipped, want[key])
		}
	}
	for _, body := range []string{"each", "array"} {
		d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: body, Answers: rules})
		batch := deliveries(2)
		for i, r := range send(t, d, batch) {
			check("body: "+body, r, batch[i].Key)
		}
	}
	op, err := NewOperation(systemsFor(t, srv.URL), &OperationConfig{System: "api", Answers: rules})
	if err != nil {
		t.Fatal(err)
	}
	for _, del := range deliveries(2) {
		check("operation", op.Do(context.Background(), del, nil), del.Key)
	}
}
