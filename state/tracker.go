// Package state keeps true counters over an account's batch records across
// scrapes and restarts, for the counters that rate() and increase() work on.
//
// The upstream only ever answers with the current counts of the batches in
// its history window. A Tracker remembers, per batch, the highest counts and
// the customer action state seen so far, and turns what grew since the last
// successful scrape into per-series totals:
//
//   - The first scrape with no saved state is where counting starts: every
//     total starts at 0 and no batch counts as created.
//   - A batch first seen on a later scrape counts as created, and its counts
//     grow from zero.
//   - A count only adds what it grew beyond the batch's highest value seen
//     (its high-water mark). A count that goes down upstream is a correction:
//     it never makes a total go down, and re-growth up to the old high is not
//     counted twice. Corrections are counted on their own.
//   - A batch entering a customer action state adds 1 to that state and its
//     price (negative prices count as 0) to the state's value; a batch whose
//     state goes back and forth counts each entry.
//   - A failed or partial scrape changes nothing: records are staged and only
//     committed once the whole answer was read. A batch seen twice in one
//     answer counts once, the first record winning.
//   - Growth goes to the series (product type, sender) the batch has when it
//     grows. A batch that leaves the window keeps what it contributed.
//
// State is saved per account in one file, atomically, after a successful
// scrape that changed something, in a versioned and checksummed binary
// format. A missing file starts fresh; an unreadable or corrupt one is moved
// aside, never deleted, and the tracker starts fresh. Batches not seen for
// longer than the window plus a grace period, and created before the window,
// are forgotten; their contribution stays in the totals.
//
// The package knows nothing of Prometheus nor of the upstream's types.
package state

import (
	"cmp"
	"errors"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// Indices of Counts.
const (
	Watches = iota // landing page watches
	Plays          // video plays
	ImageClicks
	FacebookClicks
	GoogleClicks
	NumCounts
)

// Counts are a batch's counts, indexed by Watches, Plays, ....
type Counts [NumCounts]int64

// Observation is one batch record as the upstream answered it.
type Observation struct {
	ID int64
	// ProductType and Sender name the series the batch's growth goes to,
	// as they will be exported.
	ProductType, Sender string
	Created             time.Time // zero when unknown
	Counts              Counts
	ActionState         string // "" for none
	ActionPrice         float64
}

// DefaultGrace is how long a batch is remembered beyond the window after it
// was last seen, so that an upstream that briefly drops it does not make it
// count as created again.
const DefaultGrace = 7 * 24 * time.Hour

// Intervals of the upkeep done at commit time.
const (
	// pruneInterval spaces out the sweep over all batches.
	pruneInterval = time.Hour
	// touchSaveInterval is how stale the batches' last seen times may get on
	// disk when nothing else changed.
	touchSaveInterval = time.Hour
)

// Options configure a Tracker.
type Options struct {
	// Dir is the directory of the state files; "" keeps state in memory
	// only.
	Dir string
	// Account names the account. It picks the file and is checked on load.
	Account string
	// Window is the upstream's history window (days of history).
	Window time.Duration
	// Scope says what the answers cover, such as the customer ID and the
	// window. When it differs from the saved state's, or changes through
	// SetScope, the next commit takes the batches it has not seen as
	// already there, as the first commit does, so that a wider window or
	// another customer does not count old batches as new.
	Scope string
	// Grace is DefaultGrace when zero.
	Grace  time.Duration
	Logger *slog.Logger
}

// Tracker is the counter state of one account. Its methods are safe for
// concurrent use; scrapes are expected to be serialised by the caller.
type Tracker struct {
	opts   Options
	logger *slog.Logger
	path   string // "" when in memory only

	mu          sync.Mutex
	fresh       bool        // no state yet: counting starts with the next commit
	rescoped    bool        // the scope changed: batches first seen on the next commit are not counted as new
	tab         *batchTable // the batches, shared with the status memory
	series      []series
	seriesIndex map[seriesKey]int32
	strs        []string // action states; strs[0] is ""
	strIndex    map[string]int32
	corrections uint64
	lastPrune   time.Time
	encodedAt   time.Time // when the state was last taken to be saved
	dirty       bool      // changed since the last successful save
	touched     bool      // batches seen since the last successful save

	// started is when counting started, in Unix
	// seconds; 0 when unknown, as in files saved before it was recorded.
	started int64
	opened  time.Time // when this process opened the tracker; never changes

	// unreferenced is since when (Unix seconds) each series no batch
	// refers to has been so, for pruneSeries.
	unreferenced map[seriesKey]int64

	saveMu       sync.Mutex // serialises writes of the file
	lastSave     time.Time  // last successful save, or the loaded file's
	lastSaveOK   bool
	saveFailures uint64
	saveLog      saveLog
	noSave       error // why saves are refused for good
}

type seriesKey struct{ productType, sender string }

type series struct {
	key     seriesKey
	created uint64
	counts  [NumCounts]uint64
	actions []action
}

type action struct {
	state int32 // index in strs
	count uint64
	value float64
}

// SetScope gives the tracker a new scope and window, after a reload. A new
// scope makes the next commit take the batches it has not seen as already
// there, not new; counting goes on for the others.
func (t *Tracker) SetScope(scope string, window time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if scope != t.opts.Scope && !t.fresh {
		t.rescoped = true
		t.logger.Info("what the account's answers cover changed: batches first seen on the next scrape are a starting point, not news", "account", t.opts.Account)
	}
	t.opts.Scope, t.opts.Window = scope, window
}

// Open returns the tracker of opts.Account, loaded from its file under
// opts.Dir when there is a good one. It never fails: a file it cannot use
// is logged and moved aside, and the tracker starts fresh.
func Open(opts Options) *Tracker {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	t := newTracker(opts)
	if opts.Dir != "" {
		t.path = Path(opts.Dir, opts.Account)
		t = t.load()
	}
	t.opened = time.Now()
	return t
}

func newTracker(opts Options) *Tracker {
	t := &Tracker{
		opts:        opts,
		logger:      opts.Logger,
		fresh:       true,
		tab:         newBatchTable(),
		seriesIndex: map[seriesKey]int32{},
		strs:        []string{""},
		strIndex:    map[string]int32{"": 0},
		lastSaveOK:  true,
		saveLog: saveLog{
			failed: "saving the counter state failed; counters go on in memory",
			still:  "saving the counter state still fails",
			works:  "saving the counter state works again",
		},
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	return t
}

// intern returns the index of s in strs, adding it.
func (t *Tracker) intern(s string) int32 {
	if i, ok := t.strIndex[s]; ok {
		return i
	}
	i := int32(len(t.strs))
	t.strs = append(t.strs, s)
	t.strIndex[s] = i
	return i
}

// seriesOf returns the index of the series key, adding it.
func (t *Tracker) seriesOf(key seriesKey) int32 {
	if i, ok := t.seriesIndex[key]; ok {
		return i
	}
	i := int32(len(t.series))
	t.series = append(t.series, series{key: key})
	t.seriesIndex[key] = i
	return i
}

// action returns the totals of state in s, adding them.
func (s *series) action(state int32) *action {
	for i := range s.actions {
		if s.actions[i].state == state {
			return &s.actions[i]
		}
	}
	s.actions = append(s.actions, action{state: state})
	return &s.actions[len(s.actions)-1]
}

// change is what one staged record brings to the tracker, its series and
// action state as the tracker's own indexes.
type change struct {
	id      int64
	created int64
	counts  Counts
	series  int32
	state   int32 // as the upstream gave it: a change is an entry into a state
	label   int32 // the state's label, under which the entry counts
	price   float64
}

// noIndexes returns n indexes of -1: none yet.
func noIndexes(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = -1
	}
	return out
}

// commitStaged commits the records of s. t.mu must be held.
func (t *Tracker) commitStaged(s *Staged, now time.Time) {
	seen := now.Unix()
	next := 0 // where the next record's batch likely is
	baseline := t.fresh || t.rescoped
	if baseline {
		if t.fresh {
			t.started = seen
		}
		t.fresh, t.rescoped = false, false
		t.dirty = true // so that a restart does not start counting again
	}
	if s.n > 0 {
		t.touched = true
	}
	if len(t.tab.rows) == 0 && len(s.newIDs) > 0 {
		// A first read: the batches it staged whole are its new ones, in
		// order, each once.
		t.tab.fill(s.newIDs)
	} else {
		t.tab.grow(len(s.newIDs))
	}
	// The read's few series and states, as the tracker's indexes, taken
	// when a record first needs them: a series or state only duplicates
	// refer to is not the tracker's.
	seriesOf := noIndexes(len(s.series))
	stateOf := noIndexes(len(s.states))
	labelOf := noIndexes(len(s.states))
	mapped := func(c *change, series, state uint32) {
		if seriesOf[series] < 0 {
			seriesOf[series] = t.seriesOf(s.series[series])
		}
		if stateOf[state] < 0 {
			stateOf[state] = t.intern(s.states[state])
			labelOf[state] = t.intern(s.labelOf(state))
		}
		c.series, c.state, c.label = seriesOf[series], stateOf[state], labelOf[state]
	}
	changeOf := func(r *stagedRecord) change {
		c := change{id: r.id, created: r.created, counts: s.counts(r), price: r.price}
		mapped(&c, r.series, r.state)
		return c
	}
	for _, block := range s.recs {
		for i := range block {
			next = t.commitRecord(&block[i], next, baseline, seen, changeOf)
		}
	}
	// The batches whose counts did not move: their series and state may
	// have, as may what a label value is mapped to.
	s.sameRows(func(i int, r *sameRecord) {
		c := change{id: t.tab.ids[i], counts: t.tab.lastValues(i), price: r.price}
		mapped(&c, r.series, r.state)
		t.updateBatch(i, &c, seen)
	})
	t.tab.clearMarks(rowCommitted)
	if now.Sub(t.lastPrune) >= pruneInterval {
		t.prune(now)
		t.lastPrune = now
	}
}

// commitRecord commits r, whose batch is likely at row next, and returns
// where the next record's batch likely is. t.mu must be held.
func (t *Tracker) commitRecord(r *stagedRecord, next int, baseline bool, seen int64, changeOf func(*stagedRecord) change) int {
	bi, ok := t.tab.find(r.id, next)
	if !ok {
		bi = t.tab.add(r.id)
	}
	switch marks := t.tab.rows[bi].marks; {
	case marks&rowCommitted != 0: // a duplicate in this answer
	case marks&rowCounted == 0:
		c := changeOf(r)
		t.addBatch(bi, &c, seen, baseline)
	default:
		c := changeOf(r)
		t.updateBatch(bi, &c, seen)
	}
	return bi + 1
}

// addBatch takes row i, first seen by the counters in c, into the
// counters' memory. On a starting point its counts and action state are
// where counting starts, else they are growth. t.mu must be held.
func (t *Tracker) addBatch(i int, c *change, seen int64, baseline bool) {
	tab := t.tab
	tab.rows[i].marks |= rowCounted | rowCommitted
	tab.rows[i].series = c.series
	tab.setRef(i, 0, c.state)
	tab.setCounts(i, c.counts, c.counts)
	tab.setCreated(i, c.created)
	tab.setLastSeen(i, seen)
	tab.counted++
	s := &t.series[c.series]
	if baseline {
		if c.state != 0 {
			s.action(c.label) // exported at 0 from the start
		}
	} else {
		s.created++
		for j, v := range c.counts {
			s.counts[j] = addCount(s.counts[j], uint64(v))
		}
		if c.state != 0 {
			a := s.action(c.label)
			a.count++
			a.value = addPrice(a.value, c.price)
		}
	}
	t.dirty = true
}

// updateBatch counts what the batch of row i grew to in c. t.mu must be
// held.
func (t *Tracker) updateBatch(i int, c *change, seen int64) {
	tab := t.tab
	r := &tab.rows[i]
	r.marks |= rowCommitted
	tab.setLastSeen(i, seen)
	if c.created != 0 && c.created != tab.created(i) {
		tab.setCreated(i, c.created)
		t.dirty = true
	}
	if c.series != r.series {
		r.series = c.series
		t.dirty = true
	}
	state := tab.ref(i, 0)
	last := tab.lastValues(i)
	if c.counts == last && c.state == state {
		return // the common case: nothing moved
	}
	hw := tab.hw(i)
	s := &t.series[c.series]
	for j, v := range c.counts {
		if v < last[j] {
			t.corrections++
		}
		if v > hw[j] {
			s.counts[j] = addCount(s.counts[j], uint64(v-hw[j]))
			hw[j] = v
		}
	}
	tab.setCounts(i, hw, c.counts)
	if c.state != state {
		tab.setRef(i, 0, c.state)
		if c.state != 0 {
			a := s.action(c.label)
			a.count++
			a.value = addPrice(a.value, c.price)
		}
	}
	t.dirty = true
}

// addCount adds a batch's growth to a total. Counts near the top of int64
// sum past the largest uint64, and a sum that wrapped round would make the
// counter fall, so the total stops there instead. The state file keeps
// totals as unsigned varints: the largest uint64 saves and loads as it is.
func addCount(total, n uint64) uint64 {
	sum, carry := bits.Add64(total, n, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return sum
}

// addPrice adds what a customer action brings to its state's value: a
// counter never goes down, so neither negative nor non-finite prices count,
// and the sum stops at the largest float rather than become +Inf, which
// would make the state file unloadable.
func addPrice(total, p float64) float64 {
	if !(p > 0) || math.IsInf(p, 1) {
		return total
	}
	if sum := total + p; !math.IsInf(sum, 1) {
		return sum
	}
	return math.MaxFloat64
}

// prune forgets the batches that left the window for good. t.mu must be
// held.
func (t *Tracker) prune(now time.Time) {
	seenBefore := now.Add(-(t.opts.Window + t.opts.Grace)).Unix()
	createdBefore := now.Add(-t.opts.Window).Unix()
	tab, gone := t.tab, false
	for i := range tab.rows {
		if tab.rows[i].marks&rowCounted == 0 || tab.lastSeen(i) >= seenBefore || tab.created(i) >= createdBefore {
			continue
		}
		tab.forgetCounts(i)
		gone = true
	}
	if gone {
		// Compacting in place keeps the order, and with it the hint of
		// commitStaged.
		tab.compact()
		t.dirty = true
	}
	t.pruneSeries(now)
	t.pruneStrings()
}

// ActionTotal are the totals of one customer action state.
type ActionTotal struct {
	State string
	Count uint64  // entries into the state
	Value float64 // sum of the prices at entry
}

// SeriesTotals are the counters of one series.
type SeriesTotals struct {
	ProductType, Sender string
	Created             uint64
	Counts              [NumCounts]uint64
	Actions             []ActionTotal // by state
}

// Totals returns a copy of the counters of every series, by product type
// and sender.
func (t *Tracker) Totals() []SeriesTotals {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]SeriesTotals, len(t.series))
	for i := range t.series {
		s := &t.series[i]
		st := SeriesTotals{ProductType: s.key.productType, Sender: s.key.sender, Created: s.created, Counts: s.counts,
			Actions: make([]ActionTotal, len(s.actions))}
		for j, a := range s.actions {
			st.Actions[j] = ActionTotal{State: t.strs[a.state], Count: a.count, Value: a.value}
		}
		slices.SortFunc(st.Actions, func(a, b ActionTotal) int { return cmp.Compare(a.State, b.State) })
		out[i] = st
	}
	slices.SortFunc(out, func(a, b SeriesTotals) int {
		return cmp.Or(cmp.Compare(a.ProductType, b.ProductType), cmp.Compare(a.Sender, b.Sender))
	})
	return out
}

// Status is the tracker's own health.
type Status struct {
	Persistent   bool      // saved to a file
	LastSave     time.Time // zero before the first save
	LastSaveOK   bool      // the last save, if any, succeeded
	SaveFailures uint64
	Corrections  uint64 // times an upstream count went down
	Batches      int    // batches remembered
	// Started is when the totals and corrections started counting: the
	// first commit. Zero when unknown: before it, or for state saved
	// before it was recorded.
	Started time.Time
	// Opened is when this process opened the tracker, since when
	// SaveFailures counts.
	Opened time.Time
}

// Status reports the tracker's health.
func (t *Tracker) Status() Status {
	t.saveMu.Lock()
	s := Status{Persistent: t.path != "", LastSave: t.lastSave, LastSaveOK: t.lastSaveOK, SaveFailures: t.saveFailures, Opened: t.opened}
	t.saveMu.Unlock()
	t.mu.Lock()
	s.Corrections, s.Batches = t.corrections, t.tab.counted
	if t.started != 0 {
		s.Started = time.Unix(t.started, 0)
	}
	t.mu.Unlock()
	return s
}

// Save writes the state to its file now. Failures are logged and counted.
func (t *Tracker) Save(now time.Time) error {
	if t.path == "" {
		return errors.New("state is kept in memory only")
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	err := t.noSave
	if err == nil {
		t.mu.Lock()
		var data []byte
		data, err = t.encode(now)
		t.dirty, t.touched, t.encodedAt = false, false, now
		t.mu.Unlock()
		if err == nil {
			err = WriteAtomic(t.path, data)
		}
		if err != nil {
			// Try again on the next commit, whatever changes.
			t.mu.Lock()
			t.dirty = true
			t.mu.Unlock()
		}
	}
	t.saveLog.saved(t.logger, t.path, err)
	if err != nil {
		t.saveFailures++
		t.lastSaveOK = false
		return err
	}
	t.lastSave, t.lastSaveOK = now, true
	return nil
}
