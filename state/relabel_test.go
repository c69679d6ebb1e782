package state

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// folder is a random choice of the label values that keep series of their
// own, the others mapped to "other", as a cap on label values does; it
// changes now and then, so that values enter and leave the kept set.
type folder struct {
	rng  *rand.Rand
	kept map[Label]map[string]bool
}

func (f *folder) next() {
	if f.kept != nil && f.rng.IntN(3) != 0 {
		return
	}
	f.kept = map[Label]map[string]bool{}
	for l, values := range map[Label][]string{
		LabelProductType: {"svc", "mot"},
		LabelSender:      {"alice", "bob", ""},
		LabelActionState: {"offered", "accepted", "paid"},
	} {
		f.kept[l] = map[string]bool{}
		for _, v := range values {
			if f.rng.IntN(2) == 0 {
				f.kept[l][v] = true
			}
		}
	}
}

func (f *folder) fold(l Label, v string) string {
	if f.kept[l][v] {
		return v
	}
	return "other"
}

// TestTrackerPropertiesWithFolding is TestTrackerProperties with the label
// values mapped before each commit, values moving in and out of "other"
// between scrapes: no counter goes down or vanishes, the totals are the
// model's, and summed over all series they are those of the same history
// with no mapping, so increase() over all series is the upstream's growth.
func TestTrackerPropertiesWithFolding(t *testing.T) {
	for seed := range uint64(200) {
		u := &upstream{rng: rand.New(rand.NewPCG(seed, 7)), items: map[int64]*Observation{}}
		f := &folder{rng: rand.New(rand.NewPCG(seed, 8))}
		m := &model{batches: map[int64]*modelBatch{}, totals: map[[2]string]*SeriesTotals{}}
		plain := &model{batches: map[int64]*modelBatch{}, totals: map[[2]string]*SeriesTotals{}}
		opts := Options{Account: fmt.Sprint("fold-", seed), Window: 365 * 24 * time.Hour}
		tr := Open(opts)
		at := t0
		prev := tr.Totals()
		for i := range 60 {
			at = at.Add(time.Minute)
			records := u.next()
			f.next()
			sc := tr.Begin()
			for j := range records {
				sc.Add(&records[j])
			}
			sc.MapLabels(f.fold)
			if err := sc.Commit(at); err != nil {
				t.Fatal(err)
			}
			m.scrapeMapped(records, f.fold)
			plain.scrape(records)
			if u.rng.IntN(10) == 0 {
				tr = restart(t, tr, opts, at)
			}
			got := tr.Totals()
			if want := m.sum(); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, step %d: totals\n got %+v\nwant %+v", seed, i, got, want)
			}
			if g, w := grandTotal(got), grandTotal(plain.sum()); g != w {
				t.Fatalf("seed %d, step %d: over all series %+v, without folding %+v", seed, i, g, w)
			}
			checkMonotonic(t, prev, got)
			prev = got
		}
	}
}

type grand struct {
	created, entries uint64
	counts           [NumCounts]uint64
	value            float64
}

func grandTotal(ts []SeriesTotals) grand {
	var g grand
	for _, s := range ts {
		g.created += s.Created
		for i, c := range s.Counts {
			g.counts[i] += c
		}
		for _, a := range s.Actions {
			g.entries += a.Count
			g.value += a.Value
		}
	}
	return g
}

// TestUnreferencedSeriesForgotten: a series no remembered batch refers to
// any more, because its batches moved to another sender, keeps its totals
// through the grace period and is then forgotten; a series still referred
// to stays.
func TestUnreferencedSeriesForgotten(t *testing.T) {
	const window = 10 * 24 * time.Hour
	tr := Open(Options{Account: "north", Window: window, Grace: 24 * time.Hour})
	a := Observation{ID: 1, ProductType: "svc", Sender: "alice"}
	b := Observation{ID: 2, ProductType: "svc", Sender: "bob"}
	at := run(t, tr, t0, step{records: []Observation{a, b}}) // the starting point
	a.Counts[Plays], b.Counts[Plays] = 3, 4
	at = run(t, tr, at, step{records: []Observation{a, b}})
	// alice's batch now counts under "other".
	fold := func(l Label, v string) string {
		if l == LabelSender && v == "alice" {
			return "other"
		}
		return v
	}
	commit := func(at time.Time) {
		sc := tr.Begin()
		sc.Add(&a)
		sc.Add(&b)
		sc.MapLabels(fold)
		if err := sc.Commit(at); err != nil {
			t.Fatal(err)
		}
	}
	a.Counts[Plays] = 5
	commit(at)
	want := map[string]float64{"plays svc/alice": 3, "plays svc/bob": 4, "plays svc/other": 2}
	if got := flat(tr); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the move: %v, want %v", got, want)
	}
	// The hourly sweep finds it unreferenced; the grace period starts.
	at = at.Add(time.Hour)
	commit(at)
	commit(at.Add(23 * time.Hour)) // within the grace period: frozen, kept
	if got := flat(tr); !reflect.DeepEqual(got, want) {
		t.Fatalf("within the grace period: %v, want %v", got, want)
	}
	commit(at.Add(25 * time.Hour))
	delete(want, "plays svc/alice")
	if got := flat(tr); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the grace period: %v, want %v", got, want)
	}
	for _, s := range tr.Totals() {
		if s.Sender == "alice" {
			t.Errorf("the unreferenced series svc/alice is still there: %+v", s)
		}
	}
	// What stays still counts, and saves and loads.
	b.Counts[Plays] = 6
	commit(at.Add(26 * time.Hour))
	if got := flat(tr)["plays svc/bob"]; got != 6 {
		t.Errorf("plays svc/bob = %v, want 6", got)
	}
	re := restart(t, tr, Options{Account: "north", Window: window, Grace: 24 * time.Hour}, at.Add(26*time.Hour))
	if got, w := flat(re), flat(tr); !reflect.DeepEqual(got, w) {
		t.Errorf("after a restart %v, want %v", got, w)
	}
}
