package state

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// obs is a short way to write an observation of the series svc/alice.
func obs(id int64, watches int64, state string, price float64) Observation {
	return Observation{ID: id, ProductType: "svc", Sender: "alice", Created: t0.Add(-time.Hour),
		Counts: Counts{Watches: watches}, ActionState: state, ActionPrice: price}
}

// step is one read of the upstream: its records, and whether it failed
// after them.
type step struct {
	records []Observation
	fail    bool
}

// run feeds steps to tr a minute apart and returns the time after them.
func run(t *testing.T, tr *Tracker, at time.Time, steps ...step) time.Time {
	t.Helper()
	for _, st := range steps {
		sc := tr.Begin()
		for i := range st.records {
			sc.Add(&st.records[i])
		}
		if st.fail {
			sc.Discard()
		} else if err := sc.Commit(at); err != nil {
			t.Fatalf("commit: %v", err)
		}
		at = at.Add(time.Minute)
	}
	return at
}

// flat returns the non-zero totals of tr by name.
func flat(tr *Tracker) map[string]float64 {
	m := map[string]float64{}
	put := func(k string, v float64) {
		if v != 0 {
			m[k] = v
		}
	}
	names := [NumCounts]string{"watches", "plays", "image", "facebook", "google"}
	for _, s := range tr.Totals() {
		key := s.ProductType + "/" + s.Sender
		put("created "+key, float64(s.Created))
		for i, c := range s.Counts {
			put(names[i]+" "+key, float64(c))
		}
		for _, a := range s.Actions {
			put("actions "+key+" "+a.State, float64(a.Count))
			put("value "+key+" "+a.State, a.Value)
		}
	}
	put("corrections", float64(tr.Status().Corrections))
	return m
}

func TestTrackerSemantics(t *testing.T) {
	moved := obs(1, 9, "", 0)
	moved.ProductType = "mot"
	tests := []struct {
		name  string
		steps []step
		want  map[string]float64
	}{
		{
			name:  "first scrape is the starting point",
			steps: []step{{records: []Observation{obs(1, 5, "offered", 10), obs(2, 3, "", 0)}}},
			want:  map[string]float64{},
		},
		{
			name: "growth and a batch created later",
			steps: []step{
				{records: []Observation{obs(1, 5, "", 0)}},
				{records: []Observation{obs(1, 7, "", 0), obs(2, 3, "accepted", 100)}},
			},
			want: map[string]float64{"created svc/alice": 1, "watches svc/alice": 2 + 3,
				"actions svc/alice accepted": 1, "value svc/alice accepted": 100},
		},
		{
			name: "a correction is not subtracted and re-growth not counted twice",
			steps: []step{
				{records: []Observation{obs(1, 5, "", 0)}},
				{records: []Observation{obs(1, 10, "", 0)}},
				{records: []Observation{obs(1, 4, "", 0)}},
				{records: []Observation{obs(1, 8, "", 0)}},
				{records: []Observation{obs(1, 12, "", 0)}},
			},
			want: map[string]float64{"watches svc/alice": 5 + 2, "corrections": 1},
		},
		{
			name: "each entry into a state counts, at its price then",
			steps: []step{
				{records: []Observation{obs(1, 0, "offered", 10)}},
				{records: []Observation{obs(1, 0, "accepted", 20)}},
				{records: []Observation{obs(1, 0, "accepted", 30)}},
				{records: []Observation{obs(1, 0, "offered", 40)}},
				{records: []Observation{obs(1, 0, "", 0)}},
				{records: []Observation{obs(1, 0, "offered", -5)}},
			},
			want: map[string]float64{"actions svc/alice accepted": 1, "value svc/alice accepted": 20,
				"actions svc/alice offered": 2, "value svc/alice offered": 40},
		},
		{
			name: "a batch leaving the window keeps its contribution and is not created again",
			steps: []step{
				{records: []Observation{obs(1, 1, "", 0)}},
				{records: []Observation{obs(1, 4, "", 0)}},
				{records: []Observation{}},
				{records: []Observation{obs(1, 6, "", 0)}},
			},
			want: map[string]float64{"watches svc/alice": 3 + 2},
		},
		{
			name: "a failed scrape changes nothing",
			steps: []step{
				{records: []Observation{obs(1, 1, "", 0)}},
				{records: []Observation{obs(1, 50, "paid", 9), obs(2, 50, "", 0)}, fail: true},
				{records: []Observation{obs(1, 3, "", 0)}},
			},
			want: map[string]float64{"watches svc/alice": 2},
		},
		{
			name: "a failed first scrape is no starting point",
			steps: []step{
				{records: []Observation{obs(1, 1, "", 0)}, fail: true},
				{records: []Observation{obs(1, 3, "", 0)}},
				{records: []Observation{obs(1, 4, "", 0)}},
			},
			want: map[string]float64{"watches svc/alice": 1},
		},
		{
			name: "a batch twice in one answer counts once, the first wins",
			steps: []step{
				{records: []Observation{}},
				{records: []Observation{obs(1, 2, "", 0), obs(1, 9, "paid", 5), obs(1, 1, "", 0)}},
				{records: []Observation{obs(1, 3, "", 0), obs(1, 3, "", 0)}},
			},
			want: map[string]float64{"created svc/alice": 1, "watches svc/alice": 3},
		},
		{
			name: "growth goes to the series the batch has when it grows",
			steps: []step{
				{records: []Observation{obs(1, 1, "", 0)}},
				{records: []Observation{obs(1, 4, "", 0)}},
				{records: []Observation{moved}},
			},
			want: map[string]float64{"watches svc/alice": 3, "watches mot/alice": 5},
		},
		{
			name: "negative counts are zero",
			steps: []step{
				{records: []Observation{}},
				{records: []Observation{obs(1, -4, "", 0)}},
				{records: []Observation{obs(1, 2, "", 0)}},
			},
			want: map[string]float64{"created svc/alice": 1, "watches svc/alice": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := Open(Options{Account: "acme", Window: 30 * 24 * time.Hour})
			run(t, tr, t0, tt.steps...)
			if got := flat(tr); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("totals\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestTrackerStartsSeriesAtZero checks that the series of the starting
// point are there at 0, so that rate() sees their first growth.
func TestTrackerStartsSeriesAtZero(t *testing.T) {
	tr := Open(Options{Account: "acme"})
	run(t, tr, t0, step{records: []Observation{obs(1, 5, "offered", 10)}})
	want := []SeriesTotals{{ProductType: "svc", Sender: "alice", Actions: []ActionTotal{{State: "offered"}}}}
	if got := tr.Totals(); !reflect.DeepEqual(got, want) {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
}

func TestTrackerForgetsOldBatches(t *testing.T) {
	const window = 30 * 24 * time.Hour
	tr := Open(Options{Account: "acme", Window: window, Grace: 24 * time.Hour})
	old, young := obs(1, 1, "", 0), obs(2, 1, "", 0)
	old.Created = t0.Add(-window - time.Hour)
	young.Created = t0.Add(48 * time.Hour) // still within the window at "later"
	run(t, tr, t0, step{records: []Observation{old, young}})
	old.Counts[Watches], young.Counts[Watches] = 5, 5
	run(t, tr, t0.Add(time.Hour), step{records: []Observation{old, young}})
	before := flat(tr)

	// Unseen for longer than the window and grace: the old batch goes,
	// the young one stays, since the upstream may still show it.
	later := t0.Add(window + 24*time.Hour + 2*time.Hour)
	run(t, tr, later, step{records: []Observation{}})
	if n := tr.Status().Batches; n != 1 {
		t.Fatalf("remembers %d batches, want 1", n)
	}
	if got := flat(tr); !reflect.DeepEqual(got, before) {
		t.Errorf("forgetting changed the totals: %v, was %v", got, before)
	}
	young.Counts[Watches] = 6
	run(t, tr, later.Add(time.Hour), step{records: []Observation{young}})
	if got := flat(tr)["watches svc/alice"]; got != before["watches svc/alice"]+1 {
		t.Errorf("watches = %v after the young batch grew by 1, was %v", got, before["watches svc/alice"])
	}
}

// model is a plain reference of the counters' semantics, for the property
// test: maps and loops, no high-water tricks shared with the tracker.
type model struct {
	started     bool
	batches     map[int64]*modelBatch
	totals      map[[2]string]*SeriesTotals
	corrections uint64
}

type modelBatch struct {
	last, high Counts
	state      string
}

func (m *model) scrape(records []Observation) { m.scrapeMapped(records, nil) }

// scrapeMapped is scrape with the label values mapped by fold, when not
// nil, as Staged.MapLabels does: growth goes to the mapped series and an
// entry into a state counts under its mapped label, but whether a batch
// entered a state is told from the upstream's own state.
func (m *model) scrapeMapped(records []Observation, fold func(Label, string) string) {
	if fold == nil {
		fold = func(_ Label, v string) string { return v }
	}
	seen := map[int64]bool{}
	for _, o := range records {
		if seen[o.ID] {
			continue
		}
		seen[o.ID] = true
		pt, sender, label := fold(LabelProductType, o.ProductType), fold(LabelSender, o.Sender), o.ActionState
		if label != "" {
			label = fold(LabelActionState, label)
		}
		key := [2]string{pt, sender}
		tot := m.totals[key]
		if tot == nil {
			tot = &SeriesTotals{ProductType: pt, Sender: sender, Actions: []ActionTotal{}}
			m.totals[key] = tot
		}
		enter := func(state string, count uint64, value float64) {
			for i := range tot.Actions {
				if tot.Actions[i].State == state {
					tot.Actions[i].Count += count
					tot.Actions[i].Value += value
					return
				}
			}
			tot.Actions = append(tot.Actions, ActionTotal{State: state, Count: count, Value: value})
		}
		price := max(o.ActionPrice, 0)
		b := m.batches[o.ID]
		if b == nil {
			b = &modelBatch{state: o.ActionState}
			m.batches[o.ID] = b
			for i, v := range o.Counts {
				b.last[i], b.high[i] = max(v, 0), max(v, 0)
				if m.started {
					tot.Counts[i] += uint64(max(v, 0))
				}
			}
			if m.started {
				tot.Created++
			}
			if o.ActionState != "" {
				if m.started {
					enter(label, 1, price)
				} else {
					enter(label, 0, 0)
				}
			}
			continue
		}
		for i, v := range o.Counts {
			v = max(v, 0)
			if v < b.last[i] {
				m.corrections++
			}
			b.last[i] = v
			if v > b.high[i] {
				tot.Counts[i] += uint64(v - b.high[i])
				b.high[i] = v
			}
		}
		if o.ActionState != b.state {
			b.state = o.ActionState
			if o.ActionState != "" {
				enter(label, 1, price)
			}
		}
	}
	m.started = true
}

// sum is the model's totals in the order of Tracker.Totals.
func (m *model) sum() []SeriesTotals {
	tr := Open(Options{Account: "order"})
	for _, s := range m.totals {
		tr.series = append(tr.series, series{key: seriesKey{s.ProductType, s.Sender}})
	}
	var out []SeriesTotals
	for _, s := range tr.Totals() {
		st := *m.totals[[2]string{s.ProductType, s.Sender}]
		st.Actions = append([]ActionTotal{}, st.Actions...)
		sortActions(st.Actions)
		out = append(out, st)
	}
	if out == nil {
		out = []SeriesTotals{}
	}
	return out
}

func sortActions(a []ActionTotal) {
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			if a[j].State < a[i].State {
				a[i], a[j] = a[j], a[i]
			}
		}
	}
}

// upstream is a random B2see account: batches appear, grow, get corrected,
// change state, and drop out of the answers.
type upstream struct {
	rng   *rand.Rand
	items map[int64]*Observation
}

func (u *upstream) next() []Observation {
	r := u.rng
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	for range r.IntN(3) {
		id := int64(r.IntN(40))
		if u.items[id] == nil {
			u.items[id] = &Observation{ID: id, ProductType: pick("svc", "mot"), Sender: pick("alice", "bob", "")}
		}
	}
	var out []Observation
	for id := range int64(40) {
		o := u.items[id]
		if o == nil {
			continue
		}
		for i := range o.Counts {
			switch r.IntN(10) {
			case 0:
				o.Counts[i] -= int64(r.IntN(5)) // a correction, sometimes below 0
			case 1, 2, 3:
				o.Counts[i] += int64(r.IntN(4))
			}
		}
		if r.IntN(5) == 0 {
			o.ActionState = pick("", "offered", "accepted", "paid")
			o.ActionPrice = float64(r.IntN(500) - 50)
		}
		if r.IntN(20) == 0 {
			o.ProductType = pick("svc", "mot")
		}
		if r.IntN(4) == 0 {
			continue // dropped from this answer
		}
		out = append(out, *o)
		if r.IntN(10) == 0 {
			dup := *o
			dup.Counts[Watches] += 100
			out = append(out, dup)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestTrackerProperties checks over random histories that no counter ever
// goes down or vanishes, and that the totals are the growth the reference
// model sees, through failures and restarts.
func TestTrackerProperties(t *testing.T) {
	for seed := range uint64(200) {
		u := &upstream{rng: rand.New(rand.NewPCG(seed, 42)), items: map[int64]*Observation{}}
		m := &model{batches: map[int64]*modelBatch{}, totals: map[[2]string]*SeriesTotals{}}
		opts := Options{Account: fmt.Sprint("seed-", seed), Window: 365 * 24 * time.Hour}
		tr := Open(opts)
		at := t0
		prev := tr.Totals()
		var prevCorrections uint64
		for i := range 60 {
			at = at.Add(time.Minute)
			records := u.next()
			if u.rng.IntN(6) == 0 {
				sc := tr.Begin()
				for j := range records[:u.rng.IntN(len(records)+1)] {
					sc.Add(&records[j])
				}
				sc.Discard()
			} else {
				run(t, tr, at, step{records: records})
				m.scrape(records)
			}
			if u.rng.IntN(10) == 0 {
				tr = restart(t, tr, opts, at)
			}
			got := tr.Totals()
			if want := m.sum(); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, step %d: totals\n got %+v\nwant %+v", seed, i, got, want)
			}
			if c := tr.Status().Corrections; c != m.corrections || c < prevCorrections {
				t.Fatalf("seed %d, step %d: corrections = %d, want %d (was %d)", seed, i, c, m.corrections, prevCorrections)
			}
			checkMonotonic(t, prev, got)
			prev, prevCorrections = got, tr.Status().Corrections
		}
	}
}

// restart returns a tracker loaded from what tr would save at now. It
// skips the disk, whose part TestRestartContinues checks, to keep many
// restarts fast.
func restart(t *testing.T, tr *Tracker, opts Options, now time.Time) *Tracker {
	t.Helper()
	tr.mu.Lock()
	data, err := tr.encode(now)
	tr.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	re, err := decodeTracker(opts, data)
	if err != nil {
		t.Fatalf("loading what was saved: %v", err)
	}
	return re
}

// checkMonotonic fails unless every counter of before is in after, and
// not lower.
func checkMonotonic(t *testing.T, before, after []SeriesTotals) {
	t.Helper()
	find := func(s SeriesTotals) *SeriesTotals {
		for i := range after {
			if after[i].ProductType == s.ProductType && after[i].Sender == s.Sender {
				return &after[i]
			}
		}
		return nil
	}
	for _, b := range before {
		a := find(b)
		if a == nil {
			t.Fatalf("series %s/%s vanished", b.ProductType, b.Sender)
		}
		if a.Created < b.Created {
			t.Fatalf("created of %s/%s went down: %d to %d", b.ProductType, b.Sender, b.Created, a.Created)
		}
		for i := range b.Counts {
			if a.Counts[i] < b.Counts[i] {
				t.Fatalf("count %d of %s/%s went down: %d to %d", i, b.ProductType, b.Sender, b.Counts[i], a.Counts[i])
			}
		}
	next:
		for _, ba := range b.Actions {
			for _, aa := range a.Actions {
				if aa.State == ba.State {
					if aa.Count < ba.Count || aa.Value < ba.Value {
						t.Fatalf("action %s of %s/%s went down: %+v to %+v", ba.State, b.ProductType, b.Sender, ba, aa)
					}
					continue next
				}
			}
			t.Fatalf("action %s of %s/%s vanished", ba.State, b.ProductType, b.Sender)
		}
	}
}

func TestHugePricesKeepTheFileLoadable(t *testing.T) {
	dir := t.TempDir()
	tr := Open(Options{Dir: dir, Account: "acme"})
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	commit := func(tr *Tracker, obs ...Observation) {
		t.Helper()
		sc := tr.Begin()
		for i := range obs {
			*sc.Next() = obs[i]
		}
		if err := sc.Commit(now); err != nil {
			t.Fatal(err)
		}
	}
	commit(tr) // the starting point
	commit(tr,
		Observation{ID: 1, ProductType: "p", ActionState: "accepted", ActionPrice: 1.7e308},
		Observation{ID: 2, ProductType: "p", ActionState: "accepted", ActionPrice: 1.7e308})
	if err := tr.Save(now); err != nil {
		t.Fatal(err)
	}
	again := Open(Options{Dir: dir, Account: "acme"})
	totals := again.Totals()
	if len(totals) == 0 {
		t.Fatal("the state file was not loadable after huge prices")
	}
	for _, s := range totals {
		for _, a := range s.Actions {
			if math.IsInf(a.Value, 0) || a.Value != math.MaxFloat64 {
				t.Errorf("value %v, want the largest float", a.Value)
			}
		}
	}
}

func TestNewScopeIsAStartingPointForNewBatches(t *testing.T) {
	for _, how := range []string{"reload", "restart"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour, Scope: "4242/30d"}
			tr := Open(opts)
			at := run(t, tr, t0, step{records: []Observation{obs(1, 2, "", 0)}}) // the starting point
			at = run(t, tr, at, step{records: []Observation{obs(1, 3, "", 0), obs(2, 4, "", 0)}})
			before := flat(tr)
			if before["created svc/alice"] != 1 || before["watches svc/alice"] != 5 {
				t.Fatalf("before the change: %v", before)
			}
			// The window widens: batch 3, old, shows up with counts of its
			// own; batch 1 grows meanwhile.
			switch how {
			case "reload":
				tr.SetScope("4242/90d", 90*24*time.Hour)
			case "restart":
				if err := tr.Save(at); err != nil {
					t.Fatal(err)
				}
				opts.Scope = "4242/90d"
				tr = Open(opts)
			}
			at = run(t, tr, at, step{records: []Observation{obs(1, 4, "", 0), obs(2, 4, "", 0), obs(3, 50, "accepted", 10)}})
			after := flat(tr)
			if after["created svc/alice"] != 1 {
				t.Errorf("a batch the wider window showed counted as created: %v", after)
			}
			if after["watches svc/alice"] != 6 {
				t.Errorf("watches = %v, want 6: batch 1's growth only, not batch 3's 50", after["watches svc/alice"])
			}
			// After that, batch 3 counts like any other, and new batches do.
			run(t, tr, at, step{records: []Observation{obs(1, 4, "", 0), obs(2, 4, "", 0), obs(3, 51, "accepted", 10), obs(4, 1, "", 0)}})
			if got := flat(tr); got["created svc/alice"] != 2 || got["watches svc/alice"] != 8 {
				t.Errorf("after the starting point: %v", got)
			}
		})
	}
}
