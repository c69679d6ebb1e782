package collector

import (
	"cmp"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2see-exporter/b2see_exporter/state"
)

// overflowValue is the value the label values beyond a cap are summed
// into. An upstream value of the form other, other_, other__, ... is given
// one more "_" by labelValue, so that the overflow is never an upstream
// value and no two upstream values meet.
const overflowValue = "other"

// maxLabelBytes is the longest label value made of an upstream string,
// cutMarker included.
const maxLabelBytes = 128

// cutMarker ends a label value that was cut short.
const cutMarker = "…"

// labelValue makes an upstream string fit to be a label value: "" is
// unknownValue, invalid UTF-8 becomes U+FFFD, a value that could be taken
// for the overflow gets one more "_", and one longer than maxLabelBytes is
// cut at a character boundary and ends with cutMarker.
func labelValue(s string) string {
	if s == "" {
		return unknownValue
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(utf8.RuneError))
	}
	if strings.HasPrefix(s, overflowValue) && strings.Trim(s[len(overflowValue):], "_") == "" {
		s += "_"
	}
	if len(s) > maxLabelBytes {
		cut := maxLabelBytes - len(cutMarker)
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + cutMarker
	}
	return s
}

// optionalValue is labelValue for a field whose absence means none (a
// customer action state, a payment outcome): "" stays "".
func optionalValue(s string) string {
	if s == "" {
		return ""
	}
	return labelValue(s)
}

// cappedLabel is one of the labels whose values come from the upstream.
type cappedLabel int

const (
	capProductType cappedLabel = iota
	capSender
	capState
	capOutcome
	capRating
	numCapped
)

// cappedLabelNames are the label names, the values of b2see_label_values'
// label label.
var cappedLabelNames = [numCapped]string{labelProductType, labelSender, "state", "outcome", "rating"}

// LabelCaps are the most values each upstream-valued label keeps series
// of its own for, per account; 0 for no cap. Beyond a cap, the values with
// the most batches in the window keep theirs and the others are summed
// into "other".
type LabelCaps struct {
	ProductTypes, Senders, ActionStates, PaymentOutcomes, Ratings int
}

func (c LabelCaps) of(l cappedLabel) int {
	return [numCapped]int{c.ProductTypes, c.Senders, c.ActionStates, c.PaymentOutcomes, c.Ratings}[l]
}

// Hysteresis: a value outside the kept ones takes the place of the weakest
// kept one only when it has at least swapRatio times its batches and
// swapMargin more, so that values near the edge do not flap in and out
// from one scrape to the next.
const (
	swapRatio  = 1.25
	swapMargin = 2
)

// valueCap is the choice of the values one label keeps, carried from one
// read to the next.
type valueCap struct {
	kept     map[string]bool // nil when nothing is folded
	shown    map[string]bool // when nothing is folded, the values, all shown; at most the cap
	folding  bool            // values were folded on the last read
	distinct int             // values on the last read, to size the next one's counts
	spare    *tally          // the last read's tally, for the next to reuse
}

type valueCount struct {
	value string
	n     int64
}

// choose picks the values of counts (batches per value in the window)
// that keep series of their own under cap n, and returns how many it
// folds. Values kept on the last read stay as long as they are in the
// window and no outsider beats them by the hysteresis margin.
func (c *valueCap) choose(counts map[string]int64, n int) int {
	if n <= 0 || len(counts) <= n {
		c.kept = nil
		return 0
	}
	c.distinct = len(counts)
	in := make([]valueCount, 0, n)
	var out topValues // only n outsiders can be needed: to fill up, or to swap
	out.k, out.top = n, make([]valueCount, 0, n+1)
	for v, k := range counts {
		if c.kept[v] {
			in = append(in, valueCount{v, k})
		} else {
			out.add(valueCount{v, k})
		}
	}
	slices.SortFunc(in, byCount)
	if len(in) > n { // the cap was lowered
		for _, v := range in[n:] {
			out.add(v)
		}
		in = in[:n]
	}
	top := out.top
	for len(in) < n { // fill up with the strongest outsiders
		in, top = append(in, top[0]), top[1:]
	}
	// Swap the weakest insiders for the strongest outsiders while an
	// outsider beats the margin.
	for i, j := len(in)-1, 0; i >= 0 && j < len(top); i, j = i-1, j+1 {
		weak, strong := in[i].n, top[j].n
		if strong < weak+swapMargin || float64(strong) < swapRatio*float64(weak) {
			break
		}
		in[i] = top[j]
	}
	c.kept = make(map[string]bool, n)
	for _, v := range in {
		c.kept[v.value] = true
	}
	return len(counts) - n
}

// byCount orders values by their batches, most first, then by name.
func byCount(a, b valueCount) int {
	return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.value, b.value))
}

// topValues keeps the k strongest values added, in byCount order, without
// sorting all of them: a label may have tens of thousands of values.
type topValues struct {
	k   int
	top []valueCount
}

func (t *topValues) add(v valueCount) {
	if len(t.top) == t.k && byCount(v, t.top[len(t.top)-1]) >= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(t.top, v, byCount)
	if len(t.top) == t.k {
		t.top = t.top[:len(t.top)-1]
	}
	t.top = slices.Insert(t.top, i, v)
}

// fold is the label value v of l as exported: itself, or overflowValue.
func (c *valueCap) fold(v string) string {
	if c.kept == nil || c.kept[v] {
		return v
	}
	return overflowValue
}

// labelStat is what b2see_label_values and b2see_label_values_folded
// report of one label.
type labelStat struct{ values, folded int }

// labelCaps carries an account's choices of kept values from read to
// read.
type labelCaps struct {
	mu     sync.Mutex
	labels [numCapped]valueCap
}

// prefold is the choice of kept values applied to the records of a read as
// they come, so that a label with many values costs a count per value
// rather than series per value. It starts as the last read's choice; a
// label the last read did not fold is watched (see window.guard) and, once
// the read has brought it more values than its cap, folded in the middle of
// the read, keeping the values the last read showed. Its tallies are what
// the next choice is made from.
type prefold struct {
	caps    LabelCaps
	kept    [numCapped]map[string]bool // nil for a label not folded (yet) on this read
	tallies [numCapped]*tally          // batches per value, for the labels folded
	shown   [numCapped]map[string]bool // the values of the labels the last read did not fold

	// The watch on the labels not folded: the window's series (product
	// types and senders) and its entries of each other label are looked
	// at again once they reach seriesCheck and checks; pending says one
	// has.
	seriesCheck int
	entries     [numCapped]int
	checks      [numCapped]int
	pending     bool
}

// First sizes of the window at which a read looks at a label it does not
// fold yet, then at each doubling: a few thousand series, well past what
// the default caps let through (21 product types by 101 senders), cost a
// few MB at most.
const (
	guardSeries  = 4096
	guardEntries = 8192
)

// maxTallyValues is the most values of a label a read counts one by one.
// The values beyond it are summed into "other" at once and only their
// number is estimated (see distinctSketch): a read can bring a million
// values, and the tally would hold them all until its end.
const maxTallyValues = 1 << 15

// Refs of a value in a tally (see prefold.ref) that are not entries.
const (
	noTally   int32 = -1 // the read does not fold the label
	pastTally int32 = -2 // the value came after maxTallyValues others
	newValue  int32 = -3 // a value the tally has not counted yet: it takes a slot when it is
)

// tally counts batches per value by the value's 64-bit hash, which spares
// the comparison of strings scattered over the heap on every record of a
// label with tens of thousands of values. Two values whose hashes collide
// (for 20,000 values, about once in 10¹¹ reads) count as the first.
//
// It is a table of its own, open addressing with linear probing, rather
// than a map of hashes to entries: a record's value is then found, counted
// and told kept or not in one slot of 16 bytes, where a map and a slice of
// entries cost two or three cache misses per record once a label has tens
// of thousands of values. A value's ref (see prefold.ref) is its slot,
// valid until the tally next grows: a record takes one ref per tally.
type tally struct {
	slots []tallySlot     // a power of two long, at most half full
	names []string        // the values, by tallySlot.name
	kept  map[string]bool // the values the read keeps
	past  distinctSketch  // the values beyond maxTallyValues, of batches counted
	// last is the hash and the name of the last value entry did not
	// find, for add: like a slot's ref, a newValue or pastTally ref holds
	// until the next entry. So a value takes a slot, or counts past the
	// tally, only once a batch counted has it, not for the record of a
	// batch already counted, whose key is taken all the same.
	last     uint64
	lastName string
}

type tallySlot struct {
	hash uint64
	n    uint32 // batches: a read takes at most maxBatches
	name uint32 // 1 + the value's index in names, keptBit set when kept; 0 for a free slot
}

const keptBit = 1 << 31

// tallySeed keys the tallies' hashes; one for the process.
var tallySeed = maphash.MakeSeed()

// newTally returns a tally with room for size values.
func newTally(size int) *tally {
	t := &tally{}
	t.resize(min(size, maxTallyValues))
	return t
}

// resize gives t room for size values, keeping those it has.
func (t *tally) resize(size int) {
	n := 16
	for n < 2*size {
		n *= 2
	}
	old := t.slots
	t.slots = make([]tallySlot, n)
	for _, s := range old {
		if s.name != 0 {
			t.slots[t.free(s.hash)] = s
		}
	}
}

// free is the index of the free slot where a value of hash h goes.
func (t *tally) free(h uint64) int32 {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if t.slots[i].name == 0 {
			return int32(i)
		}
	}
}

// reset empties t for a read that keeps the values kept, and gives each of
// them its entry, so that a kept value is never past the tally.
func (t *tally) reset(kept map[string]bool) {
	clear(t.slots)
	clear(t.names)
	t.names, t.kept = t.names[:0], kept
	t.past.reset()
	for v := range kept {
		t.add(t.entry(v), 0)
	}
}

// entry returns the ref of v's slot; newValue when v has none, or
// pastTally when the tally is full.
func (t *tally) entry(v string) int32 {
	h := maphash.String(tallySeed, v)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.name == 0 {
			break
		}
		if s.hash == h {
			return int32(i)
		}
	}
	t.last, t.lastName = h, v
	if len(t.names) >= maxTallyValues {
		return pastTally
	}
	return newValue
}

// insert gives the value v, of hash h, a slot, and returns its ref.
func (t *tally) insert(h uint64, v string) int32 {
	if 2*(len(t.names)+1) > len(t.slots) {
		t.resize(len(t.names) + 1)
	}
	t.names = append(t.names, v)
	r := t.free(h)
	t.slots[r] = tallySlot{hash: h, name: uint32(len(t.names))}
	if t.kept[v] {
		t.slots[r].name |= keptBit
	}
	return r
}

// add counts k batches more of the value whose ref is r, giving it a slot
// for newValue; for pastTally, the value is only counted among the values
// past the tally.
func (t *tally) add(r int32, k int64) {
	switch r {
	case pastTally:
		t.past.add(t.last)
		return
	case newValue:
		r = t.insert(t.last, t.lastName)
	}
	t.slots[r].n += uint32(k)
}

// isKept reports whether the read keeps the value whose ref is r.
func (t *tally) isKept(r int32) bool { return t.slots[r].name&keptBit != 0 }

// distinct is the number of values t has seen with batches: the counted
// ones, and an estimate of those past the tally.
func (t *tally) distinct(counted int) int {
	return counted + t.past.estimate()
}

// counts are the tally by value, of the values with batches.
func (t *tally) counts() map[string]int64 {
	out := make(map[string]int64, len(t.names))
	for _, s := range t.slots {
		if s.name != 0 && s.n > 0 {
			out[t.names[s.name&^keptBit-1]] = int64(s.n)
		}
	}
	return out
}

// begin returns the prefold of the next read under caps, nil when caps
// caps nothing.
func (lc *labelCaps) begin(caps LabelCaps) *prefold {
	if caps == (LabelCaps{}) {
		return nil
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	p := &prefold{caps: caps, seriesCheck: guardSeries}
	for l := range numCapped {
		p.checks[l] = guardEntries
		c := &lc.labels[l]
		if c.kept == nil || caps.of(l) <= 0 {
			p.shown[l] = c.shown
			continue
		}
		t := c.spare
		if t == nil {
			t = newTally(c.distinct)
		}
		t.reset(c.kept)
		p.kept[l], p.tallies[l], c.spare = c.kept, t, nil
	}
	return p
}

// value is v of label l as the record is aggregated, counting it.
func (p *prefold) value(l cappedLabel, v string) string {
	r := p.ref(l, v)
	p.count(l, r)
	return p.fold(l, v, r)
}

// ref is the entry of value v in the tally of label l, noTally when the
// read does not fold l, or newValue or pastTally (see tally.entry). It
// counts nothing.
func (p *prefold) ref(l cappedLabel, v string) int32 {
	if p == nil || p.tallies[l] == nil {
		return noTally
	}
	return p.tallies[l].entry(v)
}

// count counts a batch of the value of label l whose entry is r.
func (p *prefold) count(l cappedLabel, r int32) {
	if r != noTally {
		p.tallies[l].add(r, 1)
	}
}

// fold is value v of label l, whose entry is r, as the record is
// aggregated: v, or overflowValue when the read folds l and does not keep v.
func (p *prefold) fold(l cappedLabel, v string, r int32) string {
	if r == noTally || r >= 0 && p.tallies[l].isKept(r) {
		return v
	}
	return overflowValue
}

// noteSeries notes that the window has n series.
func (p *prefold) noteSeries(n int) {
	if p != nil && n >= p.seriesCheck {
		p.pending = true
	}
}

// noteEntry notes a new entry of label l in the window.
func (p *prefold) noteEntry(l cappedLabel) {
	if p == nil {
		return
	}
	if p.entries[l]++; p.entries[l] >= p.checks[l] {
		p.pending = true
	}
}

// apply chooses the values each label of w keeps under caps, logging when
// an account starts to fold a label, and returns w with the others summed
// into overflowValue, and the mapping of values for the counters (nil when
// nothing is folded). A label the read already folded on the way (see
// prefold) keeps the last read's choice on this one: values enter and
// leave the kept ones from the next read on, so that no read shows a value
// gone before the one that takes its place.
func (lc *labelCaps) apply(w *window, caps LabelCaps, logger *slog.Logger) (*window, func(cappedLabel, string) string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	counts := w.valueCounts()
	var eff [numCapped]map[string]bool // the values kept on this read; nil keeps all
	any, refold := false, false        // refold: w has series of values this read folds
	for l := range numCapped {
		c := &lc.labels[l]
		c.choose(counts[l], caps.of(l))
		c.shown = nil
		if c.kept == nil && caps.of(l) > 0 {
			c.shown = make(map[string]bool, len(counts[l]))
			for v := range counts[l] {
				c.shown[v] = true
			}
		}
		eff[l] = c.kept
		if w.pre != nil && w.pre.kept[l] != nil {
			eff[l] = map[string]bool{}
			for v := range w.pre.kept[l] {
				if _, seen := counts[l][v]; seen {
					eff[l][v] = true
				}
			}
		} else if c.kept != nil {
			refold = true
		}
		values := len(counts[l])
		if w.pre != nil && w.pre.tallies[l] != nil {
			values = w.pre.tallies[l].distinct(values)
		}
		folded := 0
		if eff[l] != nil {
			folded = values - len(eff[l])
			any = true
		}
		w.labels[l] = labelStat{values: values, folded: folded}
		if folded > 0 && !c.folding {
			logger.Info(`label values beyond the cap are summed into "other"`, "label", cappedLabelNames[l],
				"values", values, "cap", caps.of(l))
		}
		c.folding = folded > 0
	}
	if w.pre != nil {
		for l, t := range w.pre.tallies {
			lc.labels[l].spare = t
		}
		w.pre = nil // the window served must not hold the tallies the next read reuses
	}
	if !any {
		return w, nil
	}
	fold := func(l cappedLabel, v string) string {
		if eff[l] == nil || eff[l][v] {
			return v
		}
		return overflowValue
	}
	if refold {
		w = w.folded(fold)
	}
	return w, fold
}

// counterLabels is fold for the labels of the counters' staged records.
func counterLabels(fold func(cappedLabel, string) string) func(state.Label, string) string {
	return func(f state.Label, v string) string {
		switch f {
		case state.LabelProductType:
			return fold(capProductType, v)
		case state.LabelSender:
			if v == "" { // the sender label is off
				return v
			}
			return fold(capSender, v)
		default:
			return fold(capState, v)
		}
	}
}

var (
	labelValuesDesc = newDesc("label_values",
		"Distinct values of an upstream-valued label in the account's history window.",
		[]string{labelAccount}, "label")
	labelValuesFoldedDesc = newDesc("label_values_folded",
		`Values of an upstream-valued label beyond its cap, whose series are summed into "other".`,
		[]string{labelAccount}, "label")
)

// collectLabels emits what w saw of each capped label.
func (w *window) collectLabels(ch chan<- prometheus.Metric, account string) {
	e := emitter(ch)
	for l, st := range w.labels {
		e.gauge(labelValuesDesc, float64(st.values), account, cappedLabelNames[l])
		e.gauge(labelValuesFoldedDesc, float64(st.folded), account, cappedLabelNames[l])
	}
}
