package state

import (
	"math"
	"time"
)

// Staged holds the records of one read of the upstream until it is
// committed or discarded. Nothing of it reaches the tracker before Commit.
//
// It keeps each record in a fixed-size row of numbers: the strings of a read
// (product types, senders, action states) are few, so each is stored once,
// in a table of the read's own, and the rows refer to it. What a read
// stages grows by some 56 bytes a record, whatever its strings; callers
// bound the number of records (see MaxBatches).
type Staged struct {
	t    *Tracker
	recs []stagedRecord
	// wide holds the counts of the rare records with a count that does not
	// fit a row.
	wide []Counts
	// series are the read's distinct (product type, sender) pairs, and
	// states its distinct action states, states[0] being "". Rewriting a
	// label value is rewriting these tables, never the rows.
	series      []seriesKey
	seriesIndex map[seriesKey]uint32
	states      []string
	stateIndex  map[string]uint32
	lastSeries  uint32 // the series of the last record, tried first

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

// wideCounts in a staged record's first count says its counts are in
// Staged.wide.
const wideCounts = math.MaxUint32

// Begin starts staging the records of a read. The room for them is made
// for as many as the last read staged, and not kept between reads: it
// would take as much memory again as the batches themselves.
func (t *Tracker) Begin() *Staged {
	t.mu.Lock()
	n := t.lastStaged
	t.mu.Unlock()
	return &Staged{
		t:           t,
		recs:        make([]stagedRecord, 0, n+n/16),
		seriesIndex: map[seriesKey]uint32{},
		states:      []string{""},
		stateIndex:  map[string]uint32{"": 0},
	}
}

// Add stages one record. Records are taken in order; of several with the
// same ID, the first wins.
func (s *Staged) Add(o *Observation) {
	s.flush()
	s.add(o)
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
		return len(s.recs) + 1
	}
	return len(s.recs)
}

// flush stages what Next returned.
func (s *Staged) flush() {
	if s.pending {
		s.pending = false
		s.add(&s.scratch)
	}
}

func (s *Staged) add(o *Observation) {
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
		s.wide = append(s.wide, o.Counts)
	}
	s.recs = append(s.recs, r)
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
	s.recs = nil
}

// Commit applies the staged records, read successfully at now, and saves the state
// when it changed. The error is that of the save, already logged and
// counted; the counters are updated whatever it is.
func (s *Staged) Commit(now time.Time) error {
	s.flush()
	t := s.t
	t.mu.Lock()
	t.commitStaged(s, now)
	t.lastStaged = len(s.recs)
	save := t.path != "" && (t.dirty || t.touched && now.Sub(t.encodedAt) >= touchSaveInterval)
	t.mu.Unlock()
	s.recs = nil
	if !save {
		return nil
	}
	return t.Save(now)
}
