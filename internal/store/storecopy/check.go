package storecopy

import (
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
)

// Holdings says what counts hold, e.g. "12 entries, 3 runs" ("nothing"
// when all are 0), in copy order.
func Holdings(counts map[string]int64) string {
	var parts []string
	for _, t := range store.CopyTables() {
		if n := counts[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(t, "_", " ")))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// CheckEmpty fails when counts hold any row: a copy goes only into an
// empty store, so nothing there is overwritten or mixed up.
func CheckEmpty(counts map[string]int64) error {
	for _, t := range store.CopyTables() {
		if counts[t] > 0 {
			return fmt.Errorf("the target store is not empty: it holds %s; copy into a new SQLite file or an empty PostgreSQL schema", Holdings(counts))
		}
	}
	return nil
}

// CheckCounts compares the rows an import holds with those exported.
func CheckCounts(got, want map[string]int64) error {
	var diffs []string
	for _, t := range store.CopyTables() {
		if got[t] != want[t] {
			diffs = append(diffs, fmt.Sprintf("%s: %d exported, %d imported", t, want[t], got[t]))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("import: final check failed (nothing was committed): %s", strings.Join(diffs, "; "))
	}
	return nil
}
