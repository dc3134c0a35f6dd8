package all

import "testing"

func TestSetBuilds(t *testing.T) {
	s := Set()
	if _, ok := s.Kind("http"); !ok {
		t.Fatalf("kinds %v lack http", s.Names())
	}
}
