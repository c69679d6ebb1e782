package state

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// Staged holds the records of one read of the upstream until it is
// committed or discarded. Nothing of it reaches the counters before
// Commit.
//
// A read mostly repeats what the counters know: the same batches, most of
// them unchanged. A record of a known batch whose counts and creation time
// did not move is kept as a bit and 16 bytes in row order (its series,
// action state and price, which Commit looks at again); any other record
// in a fixed-size row of 56 bytes. Both refer to the read's own table of
// strings: product types, senders and action states are stored once per
// read. Callers bound the number of records (see MaxBatches).
type Staged struct {
	t *Tracker
	// recs are the records kept whole, in blocks of stagedBlock: a read
	// that grows never copies what it staged, nor holds two copies at
	// once.
	recs [][]stagedRecord
	n    int // records staged, duplicates left out
	// wide holds the counts of the rare records with a count that does not
	// fit a row.
	wide []Counts
	// rows marks the rows of the counters' table this read staged; same
	// holds, by row, what Commit needs of those kept as unchanged.
	rows []uint64
	same []sameRecord
	// newIDs are the IDs staged that the counters do not hold, in the
	// order staged, and newIndex their index: the set that tells a
	// duplicate among them. A first read stages nothing else, so it is as
	// large as the table the read makes; an index of row numbers costs a
	// fraction of a Go map's inserts, growth and garbage.
	newIDs   []int64
	newIndex idIndex
	next     int // the row the next record's batch likely is
	// series are the read's distinct (product type, sender) pairs, and
	// states its distinct action states, states[0] being "". Rewriting a
	// label value before Commit is rewriting these tables, never the
	// records: both kinds of record refer to them by index, and Commit maps
	// each entry to the tracker's series and states once, by value, so
	// that entries rewritten alike merge. A rewrite must keep states[0] ""
	// and pass what it makes through fitString; seriesIndex and stateIndex
	// still key the values as read, so it comes after the last Add.
	series      []seriesKey
	seriesIndex map[seriesKey]uint32
	states      []string
	stateIndex  map[string]uint32
	// labels are what MapLabels made of states, the labels entries into
	// them count under; nil when it was not called, and states are their
	// own labels.
	labels     []string
	lastSeries uint32 // the series of the last record, tried first

	scratch Observation // what Next returned, staged on the next call
	pending bool
}

// stagedRecord is one staged record. Counts are never negative once
// staged (a negative count counts as 0); one that does not fit a uint32 is
// kept in Staged.wide, and counts[0] is wideCounts and counts[1] its index.
type stagedRecord struct {
	id      int64
	created int64 // Unix seconds; 0 when unknown
	price   float64
	counts  [NumCounts]uint32
	series  uint32 // index in Staged.series
	state   uint32 // index in Staged.states
}

// sameRecord is a record of a known batch whose counts and creation time
// are those the counters hold.
type sameRecord struct {
	series, state uint32 // as in stagedRecord
	price         float64
}

// stagedBlock is the number of records in a block of Staged.recs: 224 KiB.
const stagedBlock = 4096

// wideCounts in a staged record's first count says its counts are in
// Staged.wide.
const wideCounts = math.MaxUint32

// Begin starts staging the records of a read. The room for them is not
// kept between reads: it would take as much memory again as the batches
// themselves. Until Commit or Discard, the counters' table keeps its rows
// where they are.
func (t *Tracker) Begin() *Staged {
	t.mu.Lock()
	t.tab.pinned++
	t.mu.Unlock()
	return &Staged{
		t:           t,
		seriesIndex: map[seriesKey]uint32{},
		states:      []string{""},
		stateIndex:  map[string]uint32{"": 0},
	}
}

// Add stages one record and reports whether it was: of several records
// with the same ID, the first is taken, the others left out.
func (s *Staged) Add(o *Observation) bool {
	s.flush()
	return s.add(o)
}

// Next stages one record and returns it to be filled in before the next
// call to Add, Next, Commit or Discard.
func (s *Staged) Next() *Observation {
	s.flush()
	s.scratch, s.pending = Observation{}, true
	return &s.scratch
}

// Len is the number of records staged.
func (s *Staged) Len() int {
	if s.pending {
		return s.n + 1
	}
	return s.n
}

// flush stages what Next returned.
func (s *Staged) flush() {
	if s.pending {
		s.pending = false
		s.add(&s.scratch)
	}
}

func (s *Staged) add(o *Observation) bool {
	r := stagedRecord{id: o.ID, price: o.ActionPrice, series: s.seriesOf(o.ProductType, o.Sender), state: s.stateOf(o.ActionState)}
	if !o.Created.IsZero() {
		if sec := o.Created.Unix(); TimeInRange(sec) {
			r.created = sec
		}
	}
	wide := false
	for j, v := range o.Counts {
		if v >= wideCounts {
			wide = true
			break
		}
		r.counts[j] = uint32(max(v, 0))
	}
	if wide {
		r.counts = [NumCounts]uint32{wideCounts, uint32(len(s.wide))}
	}
	switch s.known(&r, wide) {
	case stageDuplicate:
		return false
	case stageSame:
		s.n++
		return true
	}
	if wide {
		s.wide = append(s.wide, o.Counts)
	}
	if len(s.recs) == 0 || len(s.recs[len(s.recs)-1]) == stagedBlock {
		s.recs = append(s.recs, make([]stagedRecord, 0, stagedBlock))
	}
	last := &s.recs[len(s.recs)-1]
	*last = append(*last, r)
	s.n++
	return true
}

// What known makes of a record.
const (
	stageWhole     = iota // keep it whole
	stageSame             // kept as unchanged
	stageDuplicate        // a batch staged already
)

// known looks r up among the counters' batches: a batch staged already is
// a duplicate; an unchanged one is kept in s.same.
func (s *Staged) known(r *stagedRecord, wide bool) int {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	tab := t.tab
	i, ok := tab.find(r.id, s.next)
	if !ok || tab.rows[i].marks&rowCounted == 0 {
		if len(s.newIDs) == cap(s.newIDs) {
			// Doubling: append grows a large slice by a quarter, which
			// for a first read allocates five times the list in all.
			s.newIDs = slices.Grow(s.newIDs, max(len(s.newIDs), 1024))
		}
		s.newIDs = append(s.newIDs, r.id)
		if _, dup := s.newIndex.findOrInsert(s.newIDs, len(s.newIDs)-1); dup {
			s.newIDs = s.newIDs[:len(s.newIDs)-1]
			return stageDuplicate
		}
		return stageWhole
	}
	s.next = i + 1
	if words := (len(tab.rows) + 63) / 64; len(s.rows) < words {
		s.rows = append(s.rows, make([]uint64, words-len(s.rows))...)
	}
	w, bit := i/64, uint64(1)<<(i%64)
	if s.rows[w]&bit != 0 {
		return stageDuplicate
	}
	s.rows[w] |= bit
	if wide || (r.created != 0 && r.created != tab.created(i)) || tab.rows[i].marks&(rowLastBelow|rowWideHW) != 0 || r.counts != tab.rows[i].hw {
		return stageWhole
	}
	if len(s.same) <= i {
		s.same = append(s.same, make([]sameRecord, len(tab.rows)-len(s.same))...)
	}
	s.same[i] = sameRecord{series: r.series, state: r.state, price: r.price}
	return stageSame
}

// sameRows calls fn with each row kept as unchanged. Rows staged whole
// are marked rowCommitted by then and left out.
func (s *Staged) sameRows(fn func(i int, r *sameRecord)) {
	for w, word := range s.rows {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if i < len(s.same) && s.t.tab.rows[i].marks&rowCommitted == 0 {
				fn(i, &s.same[i])
			}
		}
	}
}

// seriesOf returns the index of the series (productType, sender), adding
// it. A read's records mostly come in runs of one series.
func (s *Staged) seriesOf(productType, sender string) uint32 {
	if int(s.lastSeries) < len(s.series) {
		if k := &s.series[s.lastSeries]; k.productType == productType && k.sender == sender {
			return s.lastSeries
		}
	}
	key := seriesKey{productType, sender}
	i, ok := s.seriesIndex[key]
	if !ok {
		i = uint32(len(s.series))
		s.series = append(s.series, seriesKey{fitString(productType), fitString(sender)})
		s.seriesIndex[key] = i
	}
	s.lastSeries = i
	return i
}

// stateOf returns the index of an action state, adding it.
func (s *Staged) stateOf(state string) uint32 {
	i, ok := s.stateIndex[state]
	if !ok {
		i = uint32(len(s.states))
		s.states = append(s.states, fitString(state))
		s.stateIndex[state] = i
	}
	return i
}

// counts returns the counts of r.
func (s *Staged) counts(r *stagedRecord) Counts {
	var c Counts
	if r.counts[0] == wideCounts {
		for j, v := range s.wide[r.counts[1]] {
			c[j] = max(v, 0)
		}
		return c
	}
	for j, v := range r.counts {
		c[j] = int64(v)
	}
	return c
}

// Discard drops the staged records: the tracker is left as it was.
func (s *Staged) Discard() {
	s.pending = false
	s.t.mu.Lock()
	s.t.tab.pinned--
	s.t.mu.Unlock()
	s.drop()
}

func (s *Staged) drop() {
	s.recs, s.n, s.rows, s.same, s.newIDs, s.newIndex, s.wide = nil, 0, nil, nil, nil, idIndex{}, nil
}

// Commit applies the staged records, read successfully at now, and saves the state
// when it changed. The error is that of the save, already logged and
// counted; the counters are updated whatever it is.
func (s *Staged) Commit(now time.Time) error {
	s.flush()
	t := s.t
	t.mu.Lock()
	t.tab.pinned--
	t.commitStaged(s, now)
	save := t.path != "" && (t.dirty || t.touched && now.Sub(t.encodedAt) >= touchSaveInterval)
	t.mu.Unlock()
	s.drop()
	if !save {
		return nil
	}
	return t.Save(now)
}
