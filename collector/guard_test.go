package collector

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// hostileRecord is batch i of a read whose every upstream-valued label has
// a value of its own: product type, sender, action state, payment outcome
// and rating.
func hostileRecord(i int) b2see.Record {
	return b2see.Record{
		ID: int64(i), HasID: true,
		ProductType: fmt.Sprintf("pt-%d", i), SendingUserName: fmt.Sprintf("user-%d", i),
		VideoPlayCount: 1, CustomerActionState: fmt.Sprintf("state-%d", i), CustomerActionPrice: 1,
		CustomerActionPaymentOutcome: fmt.Sprintf("outcome-%d", i),
		HasRating:                    true, CustomerRating: float64(i%190_000)/100 - 950,
	}
}

// TestGuardBoundsEveryRead: a read whose labels all bring a new value with
// each batch, with no earlier choice of values to keep (the first read
// after a start), never holds more than a few thousand series or entries
// of a label, whatever the caps fold; the next read, which starts from the
// first one's choice, neither. Every total stays exact, and the values
// seen are counted within 2%.
func TestGuardBoundsEveryRead(t *testing.T) {
	const n = 100_000
	caps := LabelCaps{ProductTypes: 20, Senders: 100, ActionStates: 20, PaymentOutcomes: 20, Ratings: 20}
	var lc labelCaps
	for read := 1; read <= 2; read++ {
		w := newWindow(true)
		w.pre = lc.begin(caps)
		most, mostEntries := 0, [numCapped]int{}
		for i := range n {
			b := hostileRecord(i)
			k := w.keyOf(&b)
			w.addNew(&b, &k)
			most = max(most, len(w.series))
			if i%1000 == 0 || i == n-1 {
				for l, e := range w.entryCounts() {
					mostEntries[l] = max(mostEntries[l], e)
				}
			}
		}
		if most > guardSeries {
			t.Errorf("read %d: the window held %d series, more than %d", read, most, guardSeries)
		}
		for l, e := range mostEntries {
			if e > guardEntries {
				t.Errorf("read %d: the window held %d entries of %s, more than %d", read, e, cappedLabelNames[l], guardEntries)
			}
		}
		for l, tl := range w.pre.tallies {
			if tl != nil && len(tl.names) > maxTallyValues {
				t.Errorf("read %d: the tally of %s holds %d values", read, cappedLabelNames[l], len(tl.names))
			}
		}
		w, _ = lc.apply(w, caps, slog.New(slog.DiscardHandler))

		var batches, plays, actions, outcomes, ratings int64
		for _, s := range w.series {
			batches += s.batches
			plays += s.plays
			for _, cv := range s.actions {
				actions += cv.count
			}
			for _, c := range s.outcomes {
				outcomes += c
			}
			for _, c := range s.ratings {
				ratings += c
			}
		}
		for name, got := range map[string]int64{"batches": batches, "plays": plays, "actions": actions, "outcomes": outcomes, "ratings": ratings} {
			if got != n {
				t.Errorf("read %d: %s sum to %d, want %d", read, name, got, n)
			}
		}
		if len(w.series) > (caps.ProductTypes+1)*(caps.Senders+1) {
			t.Errorf("read %d: %d series served", read, len(w.series))
		}
		distinctRatings := 190_000.0 // hostileRecord's ratings: 190,000 values, of which n are read
		for l, st := range w.labels {
			want := float64(n)
			if cappedLabel(l) == capRating {
				want = min(want, distinctRatings)
			}
			if math.Abs(float64(st.values)-want) > 0.02*want {
				t.Errorf("read %d: %s: %d values counted, want %v within 2%%", read, cappedLabelNames[l], st.values, want)
			}
			// The first read names no value (it has no earlier choice);
			// the second names the cap's worth.
			named := 0
			if read > 1 {
				named = caps.of(cappedLabel(l))
			}
			if st.folded != st.values-named {
				t.Errorf("read %d: %s: %d folded of %d, want %d named", read, cappedLabelNames[l], st.folded, st.values, named)
			}
		}
	}
}

// TestGuardKeepsWhatTheLastReadShowed: when the guard folds a label in the
// middle of a read, the values the last read showed keep their series and
// no other value is named on the strength of the batches read so far; a
// read with no earlier one names none. The read after chooses from all of
// its batches.
func TestGuardKeepsWhatTheLastReadShowed(t *testing.T) {
	caps := LabelCaps{Senders: 2}
	batches := func(senders ...any) []b2see.Record { // sender, batches, sender, batches...
		var bs []b2see.Record
		for i := 0; i < len(senders); i += 2 {
			for range senders[i+1].(int) {
				bs = append(bs, b2see.Record{ID: int64(len(bs)), HasID: true, ProductType: "svc", SendingUserName: senders[i].(string)})
			}
		}
		return bs
	}
	small := batches("a", 3, "b", 2)
	big := batches("a", 3, "b", 2)
	for i := range guardSeries {
		big = append(big, batches(fmt.Sprintf("one-%d", i), 1)...)
	}
	big = append(big, batches("late", 50)...) // the strongest, but after the guard has folded
	for i := range big {
		big[i].ID = int64(i)
	}
	read := func(lc *labelCaps, caps LabelCaps, records []b2see.Record) map[string]int64 {
		w := newWindow(true)
		w.pre = lc.begin(caps)
		for i := range records {
			k := w.keyOf(&records[i])
			w.addNew(&records[i], &k)
		}
		w, _ = lc.apply(w, caps, slog.New(slog.DiscardHandler))
		got := map[string]int64{}
		for k, s := range w.series {
			got[k.sender] += s.batches
		}
		return got
	}
	rest := int64(len(big) - 5)
	for _, tt := range []struct {
		name  string
		reads [][]b2see.Record
		want  map[string]int64
	}{
		{"first read", [][]b2see.Record{big}, map[string]int64{overflowValue: int64(len(big))}},
		{"after a read that showed a and b", [][]b2see.Record{small, big}, map[string]int64{"a": 3, "b": 2, overflowValue: rest}},
		{"the read after", [][]b2see.Record{small, big, big}, map[string]int64{"late": 50, "a": 3, overflowValue: rest - 50 + 2}},
	} {
		var lc labelCaps
		var got map[string]int64
		for _, r := range tt.reads {
			got = read(&lc, caps, r)
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: batches by sender %v, want %v", tt.name, got, tt.want)
		}
	}

	// A cap lowered since the read that showed them: the strongest of
	// those values are kept, no more than the cap.
	var lc labelCaps
	read(&lc, caps, small)
	want := map[string]int64{"a": 3, overflowValue: rest + 2}
	if got := read(&lc, LabelCaps{Senders: 1}, big); !maps.Equal(got, want) {
		t.Errorf("with the cap lowered: batches by sender %v, want %v", got, want)
	}
}

// TestTallyPastItsSize: a tally counts at most maxTallyValues values; a
// value beyond them is folded, a kept value never is, and the values past
// the tally are counted within 2%.
func TestTallyPastItsSize(t *testing.T) {
	p := &prefold{}
	p.tallies[capSender] = newTally(0)
	p.tallies[capSender].reset(map[string]bool{"kept": true})
	const past = 50_000
	for i := range maxTallyValues + past {
		p.value(capSender, fmt.Sprintf("v%d", i))
	}
	tl := p.tallies[capSender]
	if len(tl.names) != maxTallyValues {
		t.Fatalf("the tally holds %d values, want %d", len(tl.names), maxTallyValues)
	}
	if got := p.value(capSender, "kept"); got != "kept" {
		t.Errorf("a kept value seen after the tally filled up is %q", got)
	}
	if got := p.value(capSender, "late"); got != overflowValue {
		t.Errorf("a value past the tally is %q, want %q", got, overflowValue)
	}
	counted := len(tl.counts())
	want := float64(maxTallyValues + past + 1) // and "late"; "kept" was in the tally
	if got := tl.distinct(counted); math.Abs(float64(got)-want) > 0.02*want {
		t.Errorf("%d values counted, want %v within 2%%", got, want)
	}
}

func TestDistinctSketch(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 100_000, 1_000_000} {
		var s distinctSketch
		for i := range n {
			h := maphash.String(tallySeed, strconv.Itoa(i)) // as the tallies hash
			s.add(h)
			s.add(h) // twice: counted once
		}
		got := s.estimate()
		if math.Abs(float64(got-n)) > 0.01*float64(n)+1 {
			t.Errorf("%d values: estimated %d", n, got)
		}
	}
}

// TestTallyCounts: the tally's counts, through its growth from 16 slots
// to room for thousands of values, are those of a map.
func TestTallyCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := &prefold{}
	p.tallies[capSender] = newTally(0)
	kept := map[string]bool{"v7": true, "v70": true}
	p.tallies[capSender].reset(kept)
	want := map[string]int64{}
	for range 200_000 {
		v := "v" + strconv.Itoa(int(rng.ExpFloat64()*2000))
		want[v]++
		if got := p.value(capSender, v); (got == v) != kept[v] {
			t.Fatalf("%s folded as %q, kept %v", v, got, kept[v])
		}
	}
	if got := p.tallies[capSender].counts(); !maps.Equal(got, want) {
		t.Errorf("the tally counted %d values, want %d; they differ", len(got), len(want))
	}
}

// TestCountersAcrossAFoldOnTheWay: with counters, reads whose senders and
// action states are many enough to fold on the way, from the first read on,
// keep every counter monotonic and, summed over all series, exactly the
// upstream's growth, while the values named change from read to read.
func TestCountersAcrossAFoldOnTheWay(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	src := &memSource{}
	acc := newTestAccount(src, func(o *AccountOptions) {
		o.Counters = state.Open(state.Options{Account: "north"})
		o.Caps = LabelCaps{Senders: 3, ActionStates: 2}
	})
	const n = guardEntries + 2000 // more senders, and states, than the guard lets through
	bs := make([]b2see.Record, n)
	for i := range bs {
		bs[i] = b2see.Record{ID: int64(i), HasID: true, ProductType: "svc", SendingUserName: fmt.Sprint("s", i)}
	}
	var grown, entries int64
	prev := map[string]float64{}
	named := map[string]bool{}
	for step := range 6 {
		heavy := fmt.Sprint("heavy", step/2) // a new strong sender every other read
		for i := range bs {
			if i%50 == 0 {
				bs[i].SendingUserName = heavy
			}
			inc := int64(rng.IntN(3))
			if step > 0 {
				grown += inc
			}
			bs[i].VideoPlayCount += inc
			st := fmt.Sprint("state-", rng.IntN(n)) // mostly distinct
			if step > 0 && st != bs[i].CustomerActionState {
				entries++
			}
			bs[i].CustomerActionState = st
		}
		src.set(append([]b2see.Record(nil), bs...), nil)
		got := gather(t, collectorFor(acc))
		var plays, entered float64
		for k, v := range got {
			switch {
			case strings.HasPrefix(k, "b2see_video_plays_total,"):
				plays += v
			case strings.HasPrefix(k, "b2see_customer_actions_total,"):
				entered += v
			case strings.HasPrefix(k, "b2see_window_batches,") && !strings.HasSuffix(k, "sender=other"):
				named[k] = true
			}
		}
		if plays != float64(grown) || entered != float64(entries) {
			t.Fatalf("step %d: over all series plays %v, entries %v; upstream grew %d, %d", step, plays, entered, grown, entries)
		}
		for k, v := range prev {
			if strings.Contains(k, "_total,") && got[k] < v {
				t.Fatalf("step %d: %s went from %v to %v (present: %v)", step, k, v, got[k], hasKey(got, k))
			}
		}
		if step == 0 {
			// The first read names no sender (it has no earlier choice):
			// none has a counter series of its own, to be frozen once the
			// next read names others.
			counters := 0
			for k := range got {
				if strings.Contains(k, "_total,") && strings.Contains(k, "sender=") {
					counters++
					if !strings.Contains(k, "sender=other") {
						t.Errorf("after the first read, a sender has counters of its own: %s", k)
					}
				}
			}
			if counters == 0 {
				t.Fatal("the first read made no counter series: the test looks at none")
			}
		}
		if got["b2see_label_values_folded,label=sender"] == 0 || got["b2see_label_values_folded,label=state"] == 0 {
			t.Fatalf("step %d: nothing folded: the test does not fold", step)
		}
		prev = got
	}
	if len(named) < 4 {
		t.Errorf("only %d senders ever had series of their own: the test moves too few across the cap", len(named))
	}
}

// TestStatePastTheTally: an action state that comes after a read's tally
// of states has filled up reaches the counters as "other", so that their
// staging holds no more distinct states than the tally; a state kept, or
// one in the tally, reaches them as the upstream gave it.
func TestStatePastTheTally(t *testing.T) {
	w := newWindow(true)
	var lc labelCaps
	w.pre = lc.begin(LabelCaps{ActionStates: 1})
	w.pre.tallies[capState] = newTally(0)
	w.pre.tallies[capState].reset(map[string]bool{"kept": true})
	w.pre.kept[capState] = map[string]bool{"kept": true}
	id := int64(0)
	stateOf := func(s string) string { // as a read takes a record of a batch not counted yet
		id++
		b := b2see.Record{ID: id, HasID: true, CustomerActionState: s}
		k := w.keyOf(&b)
		w.addNew(&b, &k)
		return k.state
	}
	for i := range maxTallyValues - 1 {
		if got, want := stateOf(fmt.Sprint("s", i)), fmt.Sprint("s", i); got != want {
			t.Fatalf("state %q, in the tally, reaches the counters as %q", want, got)
		}
	}
	if got := stateOf("late"); got != overflowValue {
		t.Errorf("a state past the tally reaches the counters as %q, want %q", got, overflowValue)
	}
	if got := stateOf("kept"); got != "kept" {
		t.Errorf("a kept state reaches the counters as %q", got)
	}
	if got := stateOf("s7"); got != "s7" {
		t.Errorf("a state in the tally reaches the counters as %q", got)
	}
}

// TestValuesOfDuplicatesNotCounted: values take a slot in the tally, or
// count among the label's values past it, only when a batch counted has
// them, not when only a record of a batch already counted (whose key is
// taken, but which is not counted) brought them.
func TestValuesOfDuplicatesNotCounted(t *testing.T) {
	p := &prefold{}
	p.tallies[capSender] = newTally(0)
	p.tallies[capSender].reset(nil)
	for i := range maxTallyValues {
		p.value(capSender, fmt.Sprint("v", i))
	}
	tl := p.tallies[capSender]
	for i := range 1000 {
		if r := p.ref(capSender, fmt.Sprint("dup", i)); r != pastTally {
			t.Fatalf("a value past the full tally has ref %d", r)
		}
	}
	// Nor do they take a slot while the tally has room.
	room := &prefold{}
	room.tallies[capSender] = newTally(0)
	room.tallies[capSender].reset(nil)
	for i := range 1000 {
		room.ref(capSender, fmt.Sprint("dup", i))
	}
	room.value(capSender, "counted")
	if got := room.tallies[capSender].counts(); len(got) != 1 || got["counted"] != 1 || len(room.tallies[capSender].names) != 1 {
		t.Errorf("values only duplicates brought take slots: %d names, counts %v", len(room.tallies[capSender].names), got)
	}
	if got := tl.distinct(maxTallyValues); got != maxTallyValues {
		t.Errorf("values only duplicates brought are counted: %d values, want %d", got, maxTallyValues)
	}
	for i := range 1000 {
		p.count(capSender, p.ref(capSender, fmt.Sprint("new", i)))
	}
	if got := tl.distinct(maxTallyValues) - maxTallyValues; got < 980 || got > 1020 {
		t.Errorf("1,000 values past the tally, counted: estimated %d", got)
	}
}
