package state

import (
	"math/rand/v2"
	"testing"
)

// TestTableKeepsWideValuesExactly: what does not fit a row (counts of 2³²
// and more, times before 1970 or after 2105, indexes of 2¹⁶ and more, last
// values below the high-water marks) comes back as it was set, and
// setting a narrow value again drops the side entry.
func TestTableKeepsWideValuesExactly(t *testing.T) {
	tab := newBatchTable()
	i := tab.add(42)
	hw := Counts{1 << 32, 0, wide32 - 1, 5, 1 << 62}
	last := Counts{1, 0, wide32 - 1, 5, 1 << 40}
	tab.setCounts(i, hw, last)
	tab.setCreated(i, -86400)
	tab.setLastSeen(i, MaxTime)
	tab.setRef(i, 0, 70000)
	tab.setRef(i, 1, wide16)
	if got := tab.hw(i); got != hw {
		t.Errorf("hw %v, want %v", got, hw)
	}
	if got := tab.lastValues(i); got != last {
		t.Errorf("last %v, want %v", got, last)
	}
	if tab.created(i) != -86400 || tab.lastSeen(i) != MaxTime || tab.ref(i, 0) != 70000 || tab.ref(i, 1) != wide16 {
		t.Errorf("times %d %d, refs %d %d", tab.created(i), tab.lastSeen(i), tab.ref(i, 0), tab.ref(i, 1))
	}
	small := Counts{1, 2, 3, 4, 5}
	tab.setCounts(i, small, small)
	tab.setCreated(i, 7)
	tab.setLastSeen(i, 8)
	tab.setRef(i, 0, 1)
	tab.setRef(i, 1, 2)
	if tab.hw(i) != small || tab.lastValues(i) != small || tab.created(i) != 7 || tab.lastSeen(i) != 8 || tab.ref(i, 0) != 1 || tab.ref(i, 1) != 2 {
		t.Error("narrow values set over wide ones do not read back")
	}
	if n := len(tab.wideHW) + len(tab.last) + len(tab.wideTime) + len(tab.wideRef); n != 0 {
		t.Errorf("%d side entries left for values that fit the row", n)
	}
}

// TestTableIndexAgreesWithAMap adds and drops random IDs and checks every
// lookup against a map, across growths and compactions.
func TestTableIndexAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tab := newBatchTable()
	want := map[int64]bool{}
	for round := range 50 {
		for range r.IntN(2000) {
			id := r.Int64N(20000) - 10000
			if _, ok := tab.find(id, -1); ok != want[id] {
				t.Fatalf("round %d: find(%d) = %v, want %v", round, id, ok, want[id])
			}
			if !want[id] {
				i := tab.add(id)
				tab.rows[i].marks = rowCounted
				want[id] = true
			}
		}
		for i := range tab.rows {
			if r.IntN(4) == 0 {
				tab.rows[i].marks = 0
				delete(want, tab.ids[i])
			}
		}
		tab.compact()
		if len(tab.rows) != len(want) || tab.index.n != len(want) {
			t.Fatalf("round %d: %d rows, %d indexed, want %d", round, len(tab.rows), tab.index.n, len(want))
		}
		for id := range want {
			if i, ok := tab.find(id, -1); !ok || tab.ids[i] != id {
				t.Fatalf("round %d: %d not found after compaction", round, id)
			}
		}
	}
}
