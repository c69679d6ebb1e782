package b2see_test

import (
	"slices"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

// TestFakeSpeaksThePhases: the fake keeps its own words, as it imports
// nothing of the project, but its example mapping, which the demo
// configures, must use the phases the exporter knows.
func TestFakeSpeaksThePhases(t *testing.T) {
	for _, st := range b2seetest.ExampleStatuses {
		if !slices.Contains(b2see.Phases, b2see.Phase(st.State)) {
			t.Errorf("example status %d: state %q is none of %v", st.Code, st.State, b2see.Phases)
		}
	}
}
