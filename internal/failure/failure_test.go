package failure

import "testing"

func TestLatch(t *testing.T) {
	var l Latch
	if l.Clear() {
		t.Error("a new latch holds a failure")
	}
	steps := []struct {
		key  string // "" clears
		want bool
	}{
		{"a", true}, {"a", false}, {"b", true}, {"b", false}, {"", true}, {"", false}, {"b", true},
	}
	for i, s := range steps {
		var got bool
		if s.key == "" {
			got = l.Clear()
		} else {
			got = l.Fail(s.key)
		}
		if got != s.want {
			t.Errorf("step %d (%q): %v, want %v", i, s.key, got, s.want)
		}
	}
}
