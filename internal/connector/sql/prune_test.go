package sqlconn

import "testing"

// Pruning is on for capture sources and off for plain queries unless
// asked: a row that left a filtered query (status = 'paid') is still sent.
func TestPrunesDefault(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		cfg  SourceConfig
		want bool
	}{
		{"plain query", SourceConfig{}, false},
		{"plain query, prune: true", SourceConfig{Prune: &yes}, true},
		{"capture", SourceConfig{Capture: &CaptureConfig{Table: "orders"}}, true},
		{"capture, prune: false", SourceConfig{Capture: &CaptureConfig{Table: "orders"}, Prune: &no}, false},
	} {
		s := &Source{cfg: tc.cfg}
		if got := s.Prunes(); got != tc.want {
			t.Errorf("%s: Prunes() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
