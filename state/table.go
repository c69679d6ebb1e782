package state

import (
	"cmp"
	"math"
	"slices"
)

// batchTable is what an account remembers of each batch, for the counters
// and the batch status memory together: one row per batch, one ID index,
// one creation and last-seen time. A row holds no pointer and fits in 44
// bytes beside its 8-byte ID, so that a million batches cost the garbage
// collector nothing and take some 60 MB.
//
// Values that rarely need more room than a row gives them (a count of 2³²
// or more, a time before 1970 or after 2105, a last value below the
// high-water mark) keep a mark in the row and their exact value in a side
// map by ID.
type batchTable struct {
	ids   []int64
	rows  []batchRow
	index idIndex

	wideHW   map[int64]Counts // high-water marks of the rows marked rowWideHW
	last     map[int64]Counts // last values of the rows marked rowLastBelow
	wideTime map[timeKey]int64
	wideRef  map[refKey]int32

	counted int // rows in the counters' memory
	inMem   int // rows in the batch status memory
	// pinned counts the reads staged and not yet committed or discarded:
	// they refer to rows by number, so no row moves meanwhile.
	pinned int
}

// batchRow is one batch. Times are Unix seconds; the status fields are
// those of a state.StatusEntry.
type batchRow struct {
	created uint32 // 0 when unknown
	seen    uint32 // the last read that listed the batch
	hw      [NumCounts]uint32
	series  int32
	asked   uint32 // status: sequence number of the last lookup started
	state   uint16 // index in the tracker's strings
	pair    uint16 // status: index in StatusMemory's (code, timeout) pairs
	flags   uint8  // status: the Status flags
	phase   uint8  // status: set by the memory's user
	marks   uint8  // of the row marks
}

// Row marks.
const (
	rowCounted   = 1 << iota // in the counters' memory
	rowInStatus              // in the batch status memory
	rowListed                // status: in the last read
	rowNoCreated             // status: the last read gave no creation time
	rowCommitted             // counters: seen by the commit under way
	rowLastBelow             // counters: the last values are below the high-water marks
	rowWideHW                // counters: a high-water mark does not fit a uint32
)

// Fields whose value may not fit a row; wide marks it.
const (
	wide32 = math.MaxUint32
	wide16 = math.MaxUint16
)

type timeKey struct {
	id    int64
	which uint8 // 0 created, 1 seen
}

type refKey struct {
	id    int64
	which uint8 // 0 state, 1 pair
}

func newBatchTable() *batchTable {
	return &batchTable{wideHW: map[int64]Counts{}, last: map[int64]Counts{}, wideTime: map[timeKey]int64{}, wideRef: map[refKey]int32{}}
}

// find returns the row of id, trying hint first: answers list the batches
// in much the same order each time, and rows keep the order first seen.
func (t *batchTable) find(id int64, hint int) (int, bool) {
	if hint >= 0 && hint < len(t.ids) && t.ids[hint] == id {
		return hint, true
	}
	return t.index.find(t.ids, id)
}

// add appends a row for id, which must not be there, with no marks.
func (t *batchTable) add(id int64) int {
	if len(t.rows) == cap(t.rows) {
		// Grow by an eighth rather than the quarter append would: the
		// table is most of an account's memory.
		n := len(t.rows) + len(t.rows)/8 + 64
		t.rows = append(make([]batchRow, 0, n), t.rows...)
		t.ids = append(make([]int64, 0, n), t.ids...)
	}
	i := len(t.rows)
	t.rows = append(t.rows, batchRow{})
	t.ids = append(t.ids, id)
	t.index.insert(t.ids, i)
	return i
}

// reserve makes room for n rows in all, as when a file is loaded.
func (t *batchTable) reserve(n int) {
	if n > cap(t.rows) {
		t.rows = append(make([]batchRow, 0, n), t.rows...)
		t.ids = append(make([]int64, 0, n), t.ids...)
	}
	t.index.reserve(t.ids, n)
}

// grow makes room for n rows more, once for all the batches a commit
// adds rather than by an eighth again and again. It grows by at least
// what add would, so that reads adding a few batches each do not copy the
// table each time.
func (t *batchTable) grow(n int) {
	if need := len(t.rows) + n; need > cap(t.rows) {
		t.reserve(max(need, len(t.rows)+len(t.rows)/8+64))
	}
}

// fill makes the table, which must be empty, a row with no marks for each
// of ids, in their order: the batches of a first read, which the commit
// then finds at its hints without a look at the index, and indexes in one
// pass without a search for each.
func (t *batchTable) fill(ids []int64) {
	n := len(ids)
	t.ids = append(make([]int64, 0, n), ids...)
	t.rows = make([]batchRow, n)
	t.index.n = n
	t.index.resize(t.ids, int(float64(n)/maxLoad)+16)
}

// compact drops the rows in neither memory, keeping the order of the
// others, and rebuilds the index when any went. While a read is staged it
// does nothing.
func (t *batchTable) compact() {
	if t.pinned > 0 {
		return // a later compaction drops them
	}
	kept := 0
	for i := range t.rows {
		r := &t.rows[i]
		if r.marks&(rowCounted|rowInStatus) == 0 {
			t.dropSide(i)
			continue
		}
		t.rows[kept], t.ids[kept] = *r, t.ids[i]
		kept++
	}
	if kept == len(t.rows) {
		return
	}
	t.rows, t.ids = t.rows[:kept], t.ids[:kept]
	t.index.rebuild(t.ids)
}

// dropSide forgets what the side maps hold of row i.
func (t *batchTable) dropSide(i int) {
	id, r := t.ids[i], &t.rows[i]
	if r.marks&rowWideHW != 0 {
		delete(t.wideHW, id)
	}
	if r.marks&rowLastBelow != 0 {
		delete(t.last, id)
	}
	if r.created == wide32 {
		delete(t.wideTime, timeKey{id, 0})
	}
	if r.seen == wide32 {
		delete(t.wideTime, timeKey{id, 1})
	}
	if r.state == wide16 {
		delete(t.wideRef, refKey{id, 0})
	}
	if r.pair == wide16 {
		delete(t.wideRef, refKey{id, 1})
	}
}

// setTime sets a time field of row i, which is 0 (created) or 1 (seen).
func (t *batchTable) setTime(i int, which uint8, sec int64) {
	f := &t.rows[i].created
	if which == 1 {
		f = &t.rows[i].seen
	}
	k := timeKey{t.ids[i], which}
	if *f == wide32 {
		delete(t.wideTime, k)
	}
	if sec >= 0 && sec < wide32 {
		*f = uint32(sec)
		return
	}
	*f = wide32
	t.wideTime[k] = sec
}

func (t *batchTable) time(i int, which uint8) int64 {
	v := t.rows[i].created
	if which == 1 {
		v = t.rows[i].seen
	}
	if v != wide32 {
		return int64(v)
	}
	return t.wideTime[timeKey{t.ids[i], which}]
}

func (t *batchTable) created(i int) int64        { return t.time(i, 0) }
func (t *batchTable) lastSeen(i int) int64       { return t.time(i, 1) }
func (t *batchTable) setCreated(i int, s int64)  { t.setTime(i, 0, s) }
func (t *batchTable) setLastSeen(i int, s int64) { t.setTime(i, 1, s) }

// setRef sets a small index of row i: its state (which 0) or pair (1).
func (t *batchTable) setRef(i int, which uint8, v int32) {
	f := &t.rows[i].state
	if which == 1 {
		f = &t.rows[i].pair
	}
	k := refKey{t.ids[i], which}
	if *f == wide16 {
		delete(t.wideRef, k)
	}
	if v >= 0 && v < wide16 {
		*f = uint16(v)
		return
	}
	*f = wide16
	t.wideRef[k] = v
}

func (t *batchTable) ref(i int, which uint8) int32 {
	v := t.rows[i].state
	if which == 1 {
		v = t.rows[i].pair
	}
	if v != wide16 {
		return int32(v)
	}
	return t.wideRef[refKey{t.ids[i], which}]
}

// hw returns the high-water marks of row i.
func (t *batchTable) hw(i int) Counts {
	r := &t.rows[i]
	if r.marks&rowWideHW != 0 {
		return t.wideHW[t.ids[i]]
	}
	var c Counts
	for j, v := range r.hw {
		c[j] = int64(v)
	}
	return c
}

// lastValues returns the last values seen of row i.
func (t *batchTable) lastValues(i int) Counts {
	if t.rows[i].marks&rowLastBelow != 0 {
		return t.last[t.ids[i]]
	}
	return t.hw(i)
}

// setCounts sets the high-water marks and last values of row i; no last
// value may pass its high-water mark.
func (t *batchTable) setCounts(i int, hw, last Counts) {
	r, id := &t.rows[i], t.ids[i]
	wide := false
	for j, v := range hw {
		if v < 0 || v >= wide32 {
			wide = true
			break
		}
		r.hw[j] = uint32(v)
	}
	if wide {
		r.marks |= rowWideHW
		t.wideHW[id] = hw
	} else if r.marks&rowWideHW != 0 {
		r.marks &^= rowWideHW
		delete(t.wideHW, id)
	}
	if last != hw {
		r.marks |= rowLastBelow
		t.last[id] = last
	} else if r.marks&rowLastBelow != 0 {
		r.marks &^= rowLastBelow
		delete(t.last, id)
	}
}

// forgetCounts takes row i out of the counters' memory.
func (t *batchTable) forgetCounts(i int) {
	t.setCounts(i, Counts{}, Counts{})
	t.setRef(i, 0, 0)
	r := &t.rows[i]
	r.series = 0
	r.marks &^= rowCounted
	t.counted--
	if r.marks&rowInStatus == 0 {
		t.setTime(i, 0, 0)
		t.setTime(i, 1, 0)
	}
}

// clearMarks clears marks m of every row.
func (t *batchTable) clearMarks(m uint8) {
	for i := range t.rows {
		t.rows[i].marks &^= m
	}
}

// idIndex maps batch IDs to rows: open addressing with linear probing over
// slots holding a row number plus one, 0 for none. At 4 bytes a slot and a
// load of at most 0.7 it costs 6 to 11 bytes a batch, where a Go map of
// int64 to int32 costs 20 to 40.
type idIndex struct {
	slots []int32
	n     int
}

// maxLoad is the share of slots in use past which the index grows.
const maxLoad = 0.7

func slotOf(id int64, size int) int {
	h := uint64(id) * 0x9E3779B97F4A7C15 // Fibonacci hashing spreads close IDs
	return int((h >> 32) * uint64(size) >> 32)
}

// find returns the row of id among ids.
func (x *idIndex) find(ids []int64, id int64) (int, bool) {
	size := len(x.slots)
	if size == 0 {
		return 0, false
	}
	for s := slotOf(id, size); ; {
		v := x.slots[s]
		if v == 0 {
			return 0, false
		}
		if ids[v-1] == id {
			return int(v - 1), true
		}
		if s++; s == size {
			s = 0
		}
	}
}

// insert indexes row i of ids, whose ID is not indexed yet.
func (x *idIndex) insert(ids []int64, i int) {
	if float64(x.n+1) > maxLoad*float64(len(x.slots)) {
		x.resize(ids, 2*(x.n+1)) // half full: the next growth is at 1.4 times the IDs
	}
	x.put(ids[i], i)
	x.n++
}

// findOrInsert returns the row of an ID equal to that of row i among the
// rows indexed, or else indexes row i and returns i, in one search.
func (x *idIndex) findOrInsert(ids []int64, i int) (int, bool) {
	if float64(x.n+1) > maxLoad*float64(len(x.slots)) {
		x.resize(ids, 2*(x.n+1))
	}
	id, size := ids[i], len(x.slots)
	for s := slotOf(id, size); ; {
		v := x.slots[s]
		if v == 0 {
			x.slots[s] = int32(i + 1)
			x.n++
			return i, false
		}
		if ids[v-1] == id {
			return int(v - 1), true
		}
		if s++; s == size {
			s = 0
		}
	}
}

func (x *idIndex) put(id int64, i int) {
	size := len(x.slots)
	s := slotOf(id, size)
	for x.slots[s] != 0 {
		if s++; s == size {
			s = 0
		}
	}
	x.slots[s] = int32(i + 1)
}

// reserve makes room for n IDs in all without growing.
func (x *idIndex) reserve(ids []int64, n int) {
	if float64(n) > maxLoad*float64(len(x.slots)) {
		x.resize(ids, int(float64(n)/maxLoad)+16)
	}
}

// resize rebuilds the index over size slots.
func (x *idIndex) resize(ids []int64, size int) {
	x.slots = make([]int32, size)
	for i := range x.n {
		x.put(ids[i], i)
	}
}

// rebuild indexes ids afresh, after rows were dropped.
func (x *idIndex) rebuild(ids []int64) {
	x.n = 0
	clear(x.slots)
	for i := range ids {
		x.put(ids[i], i)
		x.n++
	}
}

// sortByAsked sorts the row numbers of is by their rows' asked.
func sortByAsked(rows []batchRow, is []int) {
	slices.SortFunc(is, func(a, b int) int { return cmp.Compare(rows[a].asked, rows[b].asked) })
}
