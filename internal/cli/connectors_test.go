package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/catalog"
)

type tableConfig struct {
	Table string `yaml:"table" jsonschema:"description=Table to read"`
	Batch int    `yaml:"batch,omitempty" jsonschema:"description=Rows per batch"`
}

// connectorsTestSet is two small kinds, so the test does not depend on
// which connectors the build has.
func connectorsTestSet() *connector.Set {
	noBuild := errors.New("not built in tests")
	s, err := connector.NewSet(
		connector.Kind{
			Name:    "table",
			Summary: "Rows of a test table",
			Source: &connector.SourcePart{
				Spec: connector.Spec{Config: func() any { return &tableConfig{} }, Caps: []connector.Capability{connector.CapPrune, connector.CapCursor}},
				Build: func(context.Context, connector.Env, any) (connector.Source, error) {
					return nil, noBuild
				},
			},
			Destination: &connector.DestinationPart{
				Spec: connector.Spec{Config: func() any { return &tableConfig{} }, Caps: []connector.Capability{connector.CapUpsert}},
				Build: func(context.Context, connector.Env, any) (connector.Destination, error) {
					return nil, noBuild
				},
			},
		},
		connector.Kind{
			Name:    "bell",
			Summary: "Rings a bell",
			Operation: &connector.OperationPart{
				Spec: connector.Spec{Config: func() any { return &struct{}{} }},
				Build: func(context.Context, connector.Env, any) (connector.Operation, error) {
					return nil, noBuild
				},
			},
		},
	)
	if err != nil {
		panic(err)
	}
	return s
}

// runConnectors runs `ferry connectors ARGS` over the test kinds.
func runConnectors(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out}
	cmd := a.connectorsCommandFor(connectorsTestSet)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestConnectorsTable(t *testing.T) {
	out, err := runConnectors(t)
	if err != nil {
		t.Fatal(err)
	}
	want := "KIND   ROLES               CAPABILITIES         SUMMARY\n" +
		"bell   operation           -                    Rings a bell\n" +
		"table  source,destination  cursor,upsert,prune  Rows of a test table\n"
	if out != want {
		t.Errorf("ferry connectors:\n%s\nwant:\n%s", out, want)
	}
}

func TestConnectorsJSON(t *testing.T) {
	out, err := runConnectors(t, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []catalog.Entry
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(got) != 2 || got[1].Name != "table" || len(got[1].Parts) != 2 {
		t.Fatalf("entries: %s", out)
	}
	src := got[1].Parts[0]
	if src.Role != connector.RoleSource || strings.Join(capNames(src.Capabilities), ",") != "cursor,prune" ||
		len(src.Options) != 2 || src.Options[0].Path != "table" || !src.Options[0].Required || src.Options[1].Required {
		t.Errorf("table source: %+v", src)
	}
	if got[0].Capabilities == nil || got[0].Parts[0].Options == nil {
		t.Errorf("empty lists should be [] in JSON, not null: %s", out)
	}
}

func capNames(cs []connector.Capability) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func TestConnectorsWriteAndCheckDocs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "connectors")
	if _, err := runConnectors(t, "--check-docs", dir); err == nil || exitCode(err) != ExitFailed ||
		!strings.Contains(err.Error(), catalog.RegenerateCommand) {
		t.Errorf("--check-docs of a missing folder: %v", err)
	}
	out, err := runConnectors(t, "--write-docs", dir)
	if err != nil || !strings.Contains(out, "wrote 2 connector pages") {
		t.Fatalf("--write-docs: %v\n%s", err, out)
	}
	for _, f := range []string{"README.md", "table.md", "bell.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if out, err := runConnectors(t, "--check-docs", dir); err != nil || !strings.Contains(out, "is current") {
		t.Errorf("--check-docs after writing: %v\n%s", err, out)
	}
	if _, err := runConnectors(t, "--json", "--write-docs", dir); err == nil {
		t.Error("--json with --write-docs accepted")
	}
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return -1
}

// The command is wired to the kinds of the build.
func TestConnectorsOfTheBuild(t *testing.T) {
	code, out, errOut := ferry(t, "connectors")
	if code != ExitOK || !strings.HasPrefix(out, "KIND ") || !strings.Contains(out, "\nhttp ") {
		t.Fatalf("ferry connectors: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = ferry(t, "connectors", "--json", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	var entries []catalog.Entry
	if code != ExitOK || json.Unmarshal([]byte(out), &entries) != nil || len(entries) == 0 {
		t.Fatalf("ferry connectors --json without a config: exit %d\n%.300s", code, out)
	}
}

func TestConnectorsOneKind(t *testing.T) {
	out, err := runConnectors(t, "table")
	if err != nil || !strings.HasPrefix(out, "# `table`\n") || !strings.Contains(out, "| `table` | string | required | Table to read. |") {
		t.Errorf("ferry connectors table: %v\n%s", err, out)
	}
	out, err = runConnectors(t, "table", "--json")
	var e catalog.Entry
	if err != nil || json.Unmarshal([]byte(out), &e) != nil || e.Name != "table" || len(e.Parts) != 2 {
		t.Errorf("ferry connectors table --json: %v\n%s", err, out)
	}
	_, err = runConnectors(t, "tabel")
	if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), `no connector kind "tabel"; the kinds are bell, table`) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := runConnectors(t, "table", "--write-docs", t.TempDir()); exitCode(err) != ExitUsage {
		t.Errorf("a kind with --write-docs: %v", err)
	}
}
