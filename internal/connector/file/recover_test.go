package fileconn

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// TestRecoverEveryCut: a run file cut at every byte (a crash at any
// point of a write) is recovered into a valid file holding exactly the
// records that were complete before the cut, in each format, with values
// full of quotes, delimiters and line breaks.
func TestRecoverEveryCut(t *testing.T) {
	values := []string{"plain", "with,comma", "with \"quotes\"", "two\nlines", "\"\n\",\r\n", "ünïcode ✓", ""}
	var batch []connector.Delivery
	for i, v := range values {
		batch = append(batch, connector.Delivery{Key: v, Record: connector.Record{"sku": v, "name": values[(i+1)%len(values)], "price": float64(i)}})
	}
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			cfg := destConfig(dir, format)
			cfg.Empty, cfg.Latest = "write", ""
			d := newDest(t, cfg)
			ctx := context.Background()
			if err := d.StartRun(ctx, run(1, t0)); err != nil {
				t.Fatal(err)
			}
			// One record per Send: the file size after each is a record end.
			ends := []int64{d.run.size}
			for i := range batch {
				sendOK(t, d, batch[i:i+1])
				ends = append(ends, d.run.size)
			}
			name := d.run.final
			full, err := os.ReadFile(filepath.Join(dir, name+partSuffix))
			if err != nil {
				t.Fatal(err)
			}
			d.run.f.Close()
			d.run = nil
			os.Remove(filepath.Join(dir, name+partSuffix))

			// The states a crash can leave: the file cut at every byte of
			// its writes; for JSON also every state of the close, which
			// replaces the last ",\n" by "\n]\n".
			type state struct {
				content  []byte
				complete int
			}
			var states []state
			for cut := 0; cut <= len(full); cut++ {
				complete := 0
				for complete < len(batch) && ends[complete+1] <= int64(cut) {
					complete++
				}
				// A JSON record whole but for its ",\n" is kept: it may
				// be written twice, never lost.
				if format == "json" && complete < len(batch) && ends[complete+1]-int64(len(jsonSep)) <= int64(cut) && cut > len(jsonOpen) {
					complete++
				}
				states = append(states, state{full[:cut], complete})
			}
			if format == "json" {
				closing := string(full[:len(full)-len(jsonSep)])
				for i := 0; i <= len(jsonClose); i++ {
					states = append(states, state{[]byte(closing + jsonClose[:i]), len(batch)})
				}
			}
			part := filepath.Join(dir, name+partSuffix)
			for cut, st := range states {
				if err := os.WriteFile(part, st.content, 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := d.recoverPart(name); err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				complete := st.complete
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				recs, err := parseRun(format, got)
				if err != nil {
					t.Fatalf("cut %d: the recovered file does not parse: %v\n%q", cut, err, got)
				}
				var want []map[string]any
				for _, dl := range batch[:complete] {
					sku, name := dl.Record["sku"].(string), dl.Record["name"].(string)
					if format == "csv" { // encoding/csv reads \r\n inside quotes as \n
						sku, name = strings.ReplaceAll(sku, "\r\n", "\n"), strings.ReplaceAll(name, "\r\n", "\n")
					}
					want = append(want, map[string]any{"sku": sku, "name": name, "price": dl.Record["price"]})
				}
				if !reflect.DeepEqual(recs, want) && !(len(recs) == 0 && len(want) == 0) {
					t.Fatalf("state %d %q: recovered %v, want %v", cut, st.content, recs, want)
				}
				os.Remove(filepath.Join(dir, name))
			}
		})
	}
}

// parseRun reads a whole run file back into records (CSV prices as
// numbers, as written).
func parseRun(format string, b []byte) ([]map[string]any, error) {
	var out []map[string]any
	switch format {
	case "csv":
		rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 || strings.Join(rows[0], ",") != "sku,name,price" {
			return nil, errBadHeader
		}
		for _, r := range rows[1:] {
			price, err := convert(r[2], "number")
			if err != nil {
				return nil, err
			}
			out = append(out, map[string]any{"sku": r[0], "name": r[1], "price": price})
		}
	case "ndjson":
		for line := range strings.Lines(string(b)) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	default:
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var errBadHeader = &os.PathError{Op: "parse", Path: "header", Err: os.ErrInvalid}
