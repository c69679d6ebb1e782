package state

import (
	"math"
	"testing"
	"time"
)

// TestHugeCountsSaturate feeds counts at the top of int64, whose sums do
// not fit in a uint64: every total must stop at the largest uint64, never
// wrap round to a small number, and keep that value across a save and a
// load of the state file.
func TestHugeCountsSaturate(t *testing.T) {
	const huge = math.MaxInt64
	all := Counts{huge, huge, huge, huge, huge}
	batch := func(id int64, c Counts) Observation {
		return Observation{ID: id, ProductType: "p", Counts: c}
	}
	dir := t.TempDir()
	opts := Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour}
	tr := Open(opts)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	commit := func(tr *Tracker, obs ...Observation) []SeriesTotals {
		t.Helper()
		sc := tr.Begin()
		for i := range obs {
			sc.Add(&obs[i])
		}
		if err := sc.Commit(now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		return tr.Totals()
	}
	wantAll := func(when string, totals []SeriesTotals, want uint64) {
		t.Helper()
		if len(totals) != 1 {
			t.Fatalf("%s: %d series, want 1", when, len(totals))
		}
		for i, c := range totals[0].Counts {
			if c != want {
				t.Errorf("%s: count %d is %d, want %d", when, i, c, want)
			}
		}
	}

	before := commit(tr, batch(1, Counts{})) // the starting point
	// Two new batches: 2 × (2⁶³-1) still fits.
	after := commit(tr, batch(1, Counts{}), batch(2, all), batch(3, all))
	checkMonotonic(t, before, after)
	wantAll("two huge batches", after, 2*huge)

	// A third one would wrap round.
	before, after = after, commit(tr, batch(1, Counts{}), batch(2, all), batch(3, all), batch(4, all))
	checkMonotonic(t, before, after)
	wantAll("three huge batches", after, math.MaxUint64)

	// Growth of a known batch beyond its high-water mark saturates too.
	before, after = after, commit(tr, batch(1, all), batch(2, all), batch(3, all), batch(4, all))
	checkMonotonic(t, before, after)
	wantAll("growth of a known batch", after, math.MaxUint64)

	// The saturated totals round-trip through the file, and stay there.
	re := Open(opts)
	wantAll("after a load", re.Totals(), math.MaxUint64)
	after = commit(re, batch(1, all), batch(5, Counts{1, 1, 1, 1, 1}))
	wantAll("a new batch after a load", after, math.MaxUint64)
	if st := re.Status(); st.Batches != 5 {
		t.Errorf("%d batches remembered after the load, want 5", st.Batches)
	}
}
