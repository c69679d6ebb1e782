package state

import (
	"math/rand/v2"
	"testing"
	"time"
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

// TestFirstReadTellsDuplicatesAmongManyNewBatches stages a first read of
// many batches, some listed more than once, through several growths of
// the staged set of new IDs: Add takes the first record of each batch and
// leaves out the others, the commit keeps one row per batch, found by the
// index, and a second read of the same records finds them all.
func TestFirstReadTellsDuplicatesAmongManyNewBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var records []Observation
	first := map[int64]int64{} // the watches of each batch's first record
	for range 20_000 {
		id := r.Int64N(15_000) - 5_000
		o := obs(id, r.Int64N(100), "", 0)
		if _, ok := first[id]; !ok {
			first[id] = o.Counts[Watches]
		}
		records = append(records, o)
	}
	tr := Open(Options{Account: "acme", Window: 30 * 24 * time.Hour})
	for round := range 2 {
		sc := tr.Begin()
		seen := map[int64]bool{}
		for i := range records {
			if got, want := sc.Add(&records[i]), !seen[records[i].ID]; got != want {
				t.Fatalf("round %d: Add of record %d (batch %d) = %v, want %v", round, i, records[i].ID, got, want)
			}
			seen[records[i].ID] = true
		}
		if err := sc.Commit(t0.Add(time.Duration(round) * time.Minute)); err != nil {
			t.Fatal(err)
		}
		tab := tr.tab
		if len(tab.rows) != len(first) || tab.counted != len(first) || tab.index.n != len(first) {
			t.Fatalf("round %d: %d rows, %d counted, %d indexed, want %d", round, len(tab.rows), tab.counted, tab.index.n, len(first))
		}
		for id, watches := range first {
			i, ok := tab.find(id, -1)
			if !ok || tab.ids[i] != id || tab.hw(i)[Watches] != watches {
				t.Fatalf("round %d: batch %d: row %d found %v, watches %v, want %d", round, id, i, ok, tab.hw(i), watches)
			}
		}
	}
	if got := flat(tr); len(got) != 0 {
		t.Errorf("a starting point read again counted %v", got)
	}
}

// TestTableGrowsByAShareForFewNewBatches: reads that each add a batch or
// two to a large table copy it only now and then, not on every commit.
func TestTableGrowsByAShareForFewNewBatches(t *testing.T) {
	tr := Open(Options{Account: "acme", Window: 30 * 24 * time.Hour})
	var records []Observation
	for id := range int64(10_000) {
		records = append(records, obs(id, 1, "", 0))
	}
	at := run(t, tr, t0, step{records: records})
	copies, last := 0, cap(tr.tab.rows)
	for id := range int64(100) {
		records = append(records, obs(10_000+id, 1, "", 0))
		at = run(t, tr, at, step{records: records})
		if c := cap(tr.tab.rows); c != last {
			copies, last = copies+1, c
		}
	}
	if copies > 1 {
		t.Errorf("100 reads of one new batch each grew the table of 10,000 rows %d times, want at most once", copies)
	}
}
