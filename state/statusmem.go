package state

import (
	"sync"
)

// StatusMemory is the in-memory table of an account's batch status
// memory: per batch, its status as last looked up and what keeps it from
// counting twice. When the account keeps counters it shares their table
// (one row and one index entry per batch for both) and their lock;
// otherwise it has a table of its own.
//
// Rows are numbered from 0 to Rows()-1; a row is the memory's when In says
// so. Row numbers stay valid until Compact. Every method must be called
// with Mutex() held.
type StatusMemory struct {
	mu        *sync.Mutex
	tab       *batchTable
	pairs     []statusPair // (code, timeout) pairs; pairs[0] is (0, 0)
	pairIndex map[statusPair]int32
	seq       uint32 // lookups started
}

type statusPair struct{ code, timeout int32 }

// StatusEntry is what the memory knows of one batch.
type StatusEntry struct {
	Created int64 // as of the last read that listed it, Unix seconds; 0 when unknown
	Seen    int64 // Unix seconds of the last read that listed the batch
	Asked   uint32
	Code    int32
	Timeout int32 // minutes
	Phase   uint8 // for the memory's user
	Flags   uint8 // of the Status flags
}

// NewStatusMemory returns an empty memory with a table of its own.
func NewStatusMemory() *StatusMemory {
	return newStatusMemory(&sync.Mutex{}, newBatchTable())
}

func newStatusMemory(mu *sync.Mutex, tab *batchTable) *StatusMemory {
	return &StatusMemory{mu: mu, tab: tab, pairs: []statusPair{{}}, pairIndex: map[statusPair]int32{{}: 0}}
}

// StatusMemory returns an empty status memory that shares the tracker's
// table and lock. What an earlier one held is dropped: an account has one
// status memory at a time.
func (t *Tracker) StatusMemory() *StatusMemory {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := newStatusMemory(&t.mu, t.tab)
	for i := range t.tab.rows {
		if t.tab.rows[i].marks&rowInStatus != 0 {
			m.Forget(i)
		}
	}
	t.tab.compact()
	return m
}

// Mutex is the lock that guards the memory.
func (m *StatusMemory) Mutex() *sync.Mutex { return m.mu }

// Rows is the number of rows, the memory's and others.
func (m *StatusMemory) Rows() int { return len(m.tab.rows) }

// Len is the number of batches in the memory.
func (m *StatusMemory) Len() int { return m.tab.inMem }

// In reports whether row i is the memory's.
func (m *StatusMemory) In(i int) bool { return m.tab.rows[i].marks&rowInStatus != 0 }

// ID is the batch ID of row i.
func (m *StatusMemory) ID(i int) int64 { return m.tab.ids[i] }

// Find returns the row of batch id in the memory, trying hint first.
func (m *StatusMemory) Find(id int64, hint int) (int, bool) {
	i, ok := m.tab.find(id, hint)
	return i, ok && m.In(i)
}

// Add returns the row of batch id, taking it into the memory with nothing
// known when it is not there yet; added says whether it was not.
func (m *StatusMemory) Add(id int64, hint int) (i int, added bool) {
	i, ok := m.tab.find(id, hint)
	if !ok {
		i = m.tab.add(id)
	}
	if m.In(i) {
		return i, false
	}
	m.tab.rows[i].marks |= rowInStatus
	m.tab.inMem++
	return i, true
}

// Entry returns what is known of row i.
func (m *StatusMemory) Entry(i int) StatusEntry {
	r := &m.tab.rows[i]
	p := m.pairs[m.tab.ref(i, 1)]
	e := StatusEntry{Seen: m.tab.lastSeen(i), Asked: r.asked, Code: p.code, Timeout: p.timeout, Phase: r.phase, Flags: r.flags}
	if r.marks&rowNoCreated == 0 {
		e.Created = m.tab.created(i)
	}
	return e
}

// Set records the status fields of e (code, timeout, phase, flags) for row
// i. The times and Asked are set by List and MarkAsked.
func (m *StatusMemory) Set(i int, e StatusEntry) {
	k := statusPair{e.Code, e.Timeout}
	p, ok := m.pairIndex[k]
	if !ok {
		p = int32(len(m.pairs))
		m.pairs = append(m.pairs, k)
		m.pairIndex[k] = p
	}
	m.tab.setRef(i, 1, p)
	r := &m.tab.rows[i]
	r.phase, r.flags = e.Phase, e.Flags
}

// BeginRead starts taking a read's list of n batches: no row is listed
// any more.
func (m *StatusMemory) BeginRead(n int) {
	m.tab.clearMarks(rowListed)
	if len(m.tab.rows) == 0 {
		m.tab.reserve(n) // a first read: all of it is new
	}
}

// List marks row i as listed by the read under way, at seen, with its
// creation time (0 when the read gave none).
func (m *StatusMemory) List(i int, created, seen int64) {
	r := &m.tab.rows[i]
	r.marks |= rowListed
	if created == 0 {
		r.marks |= rowNoCreated
	} else {
		r.marks &^= rowNoCreated
		m.tab.setCreated(i, created)
	}
	m.tab.setLastSeen(i, seen)
}

// Listed reports whether the last read listed row i.
func (m *StatusMemory) Listed(i int) bool { return m.tab.rows[i].marks&rowListed != 0 }

// MarkAsked records that a lookup of row i starts now: Asked orders the
// rows from the least recently asked. When the sequence runs out, the rows
// are numbered again in the same order.
func (m *StatusMemory) MarkAsked(i int) {
	if m.seq == wide32 {
		m.renumber()
	}
	m.seq++
	m.tab.rows[i].asked = m.seq
}

// renumber gives the rows asked so far the numbers 1, 2, ... in the order
// they were asked.
func (m *StatusMemory) renumber() {
	var asked []int
	for i := range m.tab.rows {
		if m.tab.rows[i].asked != 0 {
			asked = append(asked, i)
		}
	}
	sortByAsked(m.tab.rows, asked)
	for n, i := range asked {
		m.tab.rows[i].asked = uint32(n + 1)
	}
	m.seq = uint32(len(asked))
}

// Forget takes row i out of the memory. Compact drops it from the table.
func (m *StatusMemory) Forget(i int) {
	r := &m.tab.rows[i]
	if r.marks&rowInStatus == 0 {
		return
	}
	m.tab.setRef(i, 1, 0)
	r.phase, r.flags, r.asked = 0, 0, 0
	r.marks &^= rowInStatus | rowListed | rowNoCreated
	m.tab.inMem--
}

// Compact drops the rows no memory holds. Row numbers change.
func (m *StatusMemory) Compact() { m.tab.compact() }

// Load takes the batches saved in s into the memory, which must be empty.
// Their creation time is unknown until a read lists them.
func (m *StatusMemory) Load(s *Statuses) {
	if len(m.tab.rows) == 0 {
		// A table shared with the counters already holds most of these
		// batches: room for all of them again would double it for good.
		m.tab.reserve(len(s.Batches))
	}
	// A file lists its batches in the table's order (see Encode), and the
	// counters' file loads in the same order: the row after the last one
	// is tried before the index.
	next := 0
	for _, b := range s.Batches {
		i, _ := m.Add(b.ID, next)
		next = i + 1
		m.Set(i, StatusEntry{Code: b.Code, Timeout: b.Timeout, Flags: b.Flags})
		m.tab.rows[i].marks |= rowNoCreated
		if m.tab.rows[i].marks&rowCounted == 0 || b.Seen > m.tab.lastSeen(i) {
			m.tab.setLastSeen(i, b.Seen)
		}
	}
}

// Saved returns what of the memory must outlive a restart, with the
// counters given: the batches with something worth keeping.
func (m *StatusMemory) Saved(failures, timeouts uint64, since int64) Statuses {
	s := Statuses{Failures: failures, Timeouts: timeouts, Since: since}
	for i := range m.tab.rows {
		if !m.In(i) || m.tab.rows[i].flags == 0 {
			continue
		}
		e := m.Entry(i)
		s.Batches = append(s.Batches, SavedStatus{ID: m.tab.ids[i], Seen: e.Seen, Code: e.Code, Timeout: e.Timeout, Flags: e.Flags})
	}
	return s
}

// Encode renders what Saved returns as a status file's content, as
// EncodeStatuses does, but without a copy of the batches: their list
// would take some 32 bytes a batch, on top of the file's 15, for every
// save. The batches are in the table's order.
func (m *StatusMemory) Encode(failures, timeouts uint64, since int64) ([]byte, error) {
	n, size := 0, 0
	for i := range m.tab.rows {
		if m.In(i) && m.tab.rows[i].flags != 0 {
			n++
			size += statusLen(m.saved(i))
		}
	}
	if err := fitsAFile(n); err != nil {
		return nil, err
	}
	// The buffer is made to size: regrown at its end, the file of a
	// million batches would take its room twice over.
	buf := beginStatuses(failures, timeouts, since, n, size)
	for i := range m.tab.rows {
		if m.In(i) && m.tab.rows[i].flags != 0 {
			buf = appendStatus(buf, m.saved(i))
		}
	}
	return statusFile.seal(buf), nil
}

// saved is what a file keeps of row i.
func (m *StatusMemory) saved(i int) SavedStatus {
	e := m.Entry(i)
	return SavedStatus{ID: m.tab.ids[i], Seen: e.Seen, Code: e.Code, Timeout: e.Timeout, Flags: e.Flags}
}
