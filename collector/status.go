package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// Phases of a batch status: what a status code means to a monitor.
const (
	PhasePending   = "pending"
	PhaseRunning   = "running"
	PhaseSucceeded = "succeeded"
	PhaseFailed    = "failed"
	// PhaseUnknown is the phase of a code with no configured meaning.
	PhaseUnknown = "unknown"
)

// StatusMapping names one status code of the batches API. The codes are
// undocumented, so their meaning is configuration.
type StatusMapping struct {
	Name  string
	Phase string // one of the Phase constants
}

// BatchLookup reads one batch's status; *b2see.BatchesClient is one.
type BatchLookup interface {
	Batch(ctx context.Context, id string) (b2see.BatchStatus, error)
}

// StatusOptions turn on the tracking of batch statuses for an account.
type StatusOptions struct {
	Client   BatchLookup
	Statuses map[int]StatusMapping
	// Concurrency bounds the lookups under way at once;
	// b2see.DefaultLookupConcurrency when not positive.
	Concurrency int
	// StateFile keeps what is known of the account's batches across
	// restarts. Empty keeps it in memory only.
	StateFile string
}

// batchRef is what a read of the cakes API tells of a batch for status
// tracking.
type batchRef struct {
	id      int64
	created int64 // DateCreated in Unix seconds; 0 when the record has none
}

// Phase indexes, kept in a batchEntry instead of the phase's name.
const (
	phaseUnknown uint8 = iota
	phasePending
	phaseRunning
	phaseSucceeded
	phaseFailed
)

var phaseNames = [...]string{PhaseUnknown, PhasePending, PhaseRunning, PhaseSucceeded, PhaseFailed}

func phaseIndex(name string) uint8 {
	for i, n := range phaseNames {
		if n == name {
			return uint8(i)
		}
	}
	return phaseUnknown
}

const (
	flagKnown = 1 << iota
	flagFailedCounted
	flagTimedOutCounted
	// flagBaseline: the batch was in the first read of a fresh memory. What
	// it already is when first learnt (failed, timed out) is the starting
	// point, not news, as for the counters of engagement.
	flagBaseline
)

// batchEntry is what is known of one batch in the window. It is small and
// holds no pointer: a window has up to some hundred thousand.
type batchEntry struct {
	id      int64
	created int64  // Unix seconds; 0 when unknown
	asked   uint64 // sequence number of the last lookup started; 0 never
	code    int32
	timeout int32  // minutes
	gen     uint32 // the read that last saw the batch
	seen    int64  // Unix seconds of the last read that listed the batch
	phase   uint8  // of code, under the tracker's mapping
	// flags: the status is known; the batch was counted as failed, as
	// timed out (each at most once).
	flags uint8
}

// statusMemory is what must survive a restart: the known statuses and the
// counters, with the flags that keep a batch from counting twice. It holds
// only the batches of the last window, so it stays bounded. Batches live in
// a slice with an index by ID, which a window's worth of updates walks far
// faster than a map of structs.
type statusMemory struct {
	index              map[int64]int32
	batches            []batchEntry
	failures, timeouts uint64
	// since is when the memory started (Unix seconds): a batch created
	// before it and first listed later, as when the window is widened, is
	// part of the baseline, not news.
	since int64
}

func newStatusMemory() statusMemory {
	return statusMemory{index: map[int64]int32{}}
}

// get returns the batch id, or nil.
func (m *statusMemory) get(id int64) *batchEntry {
	if i, ok := m.index[id]; ok {
		return &m.batches[i]
	}
	return nil
}

// put adds or replaces a batch.
func (m *statusMemory) put(e batchEntry) {
	if p := m.get(e.id); p != nil {
		*p = e
		return
	}
	m.index[e.id] = int32(len(m.batches))
	m.batches = append(m.batches, e)
}

// remove deletes the batch at i, moving the last one into its place.
func (m *statusMemory) remove(i int) {
	delete(m.index, m.batches[i].id)
	last := len(m.batches) - 1
	if i != last {
		m.batches[i] = m.batches[last]
		m.index[m.batches[i].id] = int32(i)
	}
	m.batches = m.batches[:last]
}

// statusMagic starts the file; its last byte is the format's version.
var statusMagic = []byte(statusMagicString)

const statusMagicString = "B2SEEBS\x02"

// encode renders the memory: the magic, the two counters, when the memory
// started, the number of batches, then per batch its ID, code, timeout,
// when it was last listed and its flags, all varints, and a CRC-32 of what
// precedes. Batches with nothing worth keeping are left out. A memory of
// more batches than a state file may hold is not saved, as it would not
// load again.
func (m *statusMemory) encode() ([]byte, error) {
	keep := make([]batchEntry, 0, len(m.batches))
	for _, e := range m.batches {
		if e.flags != 0 {
			keep = append(keep, e)
		}
	}
	if len(keep) > state.MaxBatches {
		return nil, fmt.Errorf("the memory holds more than %d batches, more than a state file may: not saved", state.MaxBatches)
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].id < keep[j].id })
	buf := make([]byte, 0, len(statusMagic)+30+len(keep)*12)
	buf = append(buf, statusMagic...)
	buf = binary.AppendUvarint(buf, m.failures)
	buf = binary.AppendUvarint(buf, m.timeouts)
	buf = binary.AppendVarint(buf, m.since)
	buf = binary.AppendUvarint(buf, uint64(len(keep)))
	for _, e := range keep {
		buf = binary.AppendVarint(buf, e.id)
		buf = binary.AppendVarint(buf, int64(e.code))
		buf = binary.AppendVarint(buf, int64(e.timeout))
		buf = binary.AppendVarint(buf, e.seen)
		buf = append(buf, e.flags)
	}
	return binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf)), nil
}

// maxStatusFileSize is the size of a memory of state.MaxBatches batches at
// their largest: what is read of a file at most.
const maxStatusFileSize = len(statusMagicString) + 4*binary.MaxVarintLen64 +
	state.MaxBatches*(2*binary.MaxVarintLen64+2*binary.MaxVarintLen32+1) + 4

// allFlags are the flags a saved batch may have.
const allFlags = flagKnown | flagFailedCounted | flagTimedOutCounted | flagBaseline

// decodeStatusMemory reads what encode wrote. A damaged file is an error,
// never a partial memory, and so is one encode would not write: a code or
// timeout past an int32, a time out of range, unknown flags, a batch
// twice. The phases are left for the tracker to set from its mapping, which
// may have changed since.
func decodeStatusMemory(data []byte) (statusMemory, error) {
	m := newStatusMemory()
	if len(data) < len(statusMagic)+4 || !bytes.Equal(data[:len(statusMagic)], statusMagic) {
		return m, errors.New("not a batch status file of this version")
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return m, errors.New("checksum mismatch")
	}
	r := bytes.NewReader(body[len(statusMagic):])
	var err error
	bad := func(what string) {
		if err == nil {
			err = errors.New(what)
		}
	}
	uvarint := func() uint64 {
		v, e := binary.ReadUvarint(r)
		if e != nil {
			bad("truncated or malformed")
		}
		return v
	}
	varint := func() int64 {
		v, e := binary.ReadVarint(r)
		if e != nil {
			bad("truncated or malformed")
		}
		return v
	}
	int32v := func(what string) int32 {
		v := varint()
		if v != int64(int32(v)) {
			bad(what + " out of range")
		}
		return int32(v)
	}
	m.failures, m.timeouts, m.since = uvarint(), uvarint(), varint()
	if !state.TimeInRange(m.since) {
		bad("start time out of range")
	}
	n := uvarint()
	if n > uint64(r.Len()) || n > state.MaxBatches {
		bad("too many batches")
	}
	for i := uint64(0); i < n && err == nil; i++ {
		id, code, timeout, seen := varint(), int32v("code"), int32v("timeout"), varint()
		flags, e := r.ReadByte()
		switch {
		case e != nil:
			bad("truncated or malformed")
		case flags == 0 || flags&^allFlags != 0:
			bad("unknown flags")
		case !state.TimeInRange(seen):
			bad("time last seen out of range")
		case m.get(id) != nil:
			bad("duplicate batch")
		}
		m.put(batchEntry{id: id, code: code, timeout: timeout, seen: seen, flags: flags})
	}
	if err == nil && r.Len() != 0 {
		bad("truncated or malformed")
	}
	if err != nil {
		return newStatusMemory(), err
	}
	return m, nil
}

// clamp32 fits an upstream number into an int32: codes and timeouts are
// small, and a wild one must not wrap around.
func clamp32[T int | int64](v T) int32 {
	return int32(min(max(int64(v), math.MinInt32), math.MaxInt32))
}

// statusTracker follows the statuses of one account's batches. Lookups of
// batches in a terminal phase are never repeated; the others are asked
// again on each read, oldest-asked first, within what the scrape's
// deadline leaves.
type statusTracker struct {
	client      BatchLookup
	statuses    map[int]StatusMapping
	concurrency int
	path        string
	logger      *slog.Logger
	count       func(err error, took time.Duration) // records one lookup
	now         func() time.Time

	roundMu sync.Mutex // one round of lookups at a time
	fresh   bool       // no saved memory was loaded: the first read is the baseline

	mu       sync.Mutex
	mem      statusMemory
	gen      uint32 // reads seen; 0 before the first
	seq      uint64 // lookups started
	owed     int    // lookups the last round did not get an answer to
	dirty    bool   // mem changed since the last save
	failing  string // the lookup failure last logged at warning level
	unmapped map[int32]bool
	retryAt  time.Time  // no lookup before, after a 429 with Retry-After
	refs     []batchRef // kept between reads, for takeRefs

	saveMu  sync.Mutex
	saveErr string
	noSave  error // set when an unusable file must not be overwritten
}

func newStatusTracker(opts StatusOptions, logger *slog.Logger, now func() time.Time, count func(error, time.Duration)) *statusTracker {
	t := &statusTracker{
		client:      opts.Client,
		statuses:    map[int]StatusMapping{},
		concurrency: opts.Concurrency,
		logger:      logger,
		now:         now,
		count:       count,
		mem:         newStatusMemory(),
		unmapped:    map[int32]bool{},
		fresh:       true,
	}
	if t.concurrency <= 0 {
		t.concurrency = b2see.DefaultLookupConcurrency
	}
	t.statuses = normalizeStatuses(opts.Statuses)
	if opts.StateFile != "" {
		t.path = opts.StateFile
		t.load()
	}
	return t
}

// load reads the memory saved in t.path. An unusable file is moved aside
// and the memory starts afresh.
func (t *statusTracker) load() {
	state.RemoveTemporaryFiles(t.path)
	data, err := state.ReadFile(t.path, int64(maxStatusFileSize))
	if err == nil {
		if t.mem, err = decodeStatusMemory(data); err == nil {
			t.fresh = false
		}
	}
	switch {
	case err == nil:
		for i := range t.mem.batches {
			e := &t.mem.batches[i]
			e.phase = phaseIndex(t.mapping(e.code).Phase)
		}
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		// No memory yet; a save will say if the place is wrong.
	default:
		// Unreadable, damaged or too large: keep the file for an operator,
		// as the counters do, and never write over it if it cannot be moved.
		t.mem = newStatusMemory()
		aside, rerr := state.MoveAside(t.path, t.now())
		if rerr != nil {
			t.noSave = fmt.Errorf("the unusable batch status memory could not be moved aside, so it is not overwritten: %w", rerr)
			t.logger.Error("the batch status memory is unusable and could not be moved aside; starting afresh, in memory only", "file", t.path, "err", err, "rename_err", rerr)
		} else {
			t.logger.Error("the batch status memory is unusable: moved aside, starting afresh", "file", t.path, "moved_to", aside, "err", err)
		}
	}
}

// mapping is the name and phase of a code.
func (t *statusTracker) mapping(code int32) StatusMapping {
	if m, ok := t.statuses[int(code)]; ok {
		return m
	}
	return StatusMapping{Name: strconv.Itoa(int(code)), Phase: PhaseUnknown}
}

func terminal(e *batchEntry) bool {
	return e.flags&flagKnown != 0 && (e.phase == phaseSucceeded || e.phase == phaseFailed)
}

// timedOut reports whether a batch is overdue at now (Unix nanoseconds):
// still pending or running more than its timeout after it was created.
func timedOut(e *batchEntry, now int64) bool {
	if e.flags&flagKnown == 0 || e.timeout <= 0 || e.created == 0 {
		return false
	}
	if e.phase != phasePending && e.phase != phaseRunning {
		return false
	}
	// time.Time has the range for any date an upstream sends; a timeout
	// past a century is no timeout worth the overflow.
	timeout := time.Duration(min(e.timeout, maxTimeoutMinutes)) * time.Minute
	return time.Unix(0, now).After(time.Unix(e.created, 0).Add(timeout))
}

const maxTimeoutMinutes = 100 * 365 * 24 * 60

// statusGrace is how long a batch missing from the answers is remembered.
const statusGrace = 7 * 24 * time.Hour

// takeRefs returns an empty list for the next read's batches, with the
// room of the last one: the list a refresh gave back, when there is one.
func (t *statusTracker) takeRefs() []batchRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	refs := t.refs
	t.refs = nil
	if refs == nil {
		refs = make([]batchRef, 0, len(t.mem.batches)+len(t.mem.batches)/8)
	}
	return refs[:0]
}

// lookupMargin is what a round of lookups leaves of the time to a deadline,
// for the scrape to answer once the lookups stop.
func lookupMargin(left time.Duration) time.Duration {
	return min(max(left/10, 50*time.Millisecond), time.Second)
}

// refresh takes the batches of a successful read as the window and looks
// up those whose status is not known to be final, until ctx's deadline
// less a margin. Lookups not made are owed to the next read.
func (t *statusTracker) refresh(ctx context.Context, refs []batchRef) {
	t.roundMu.Lock()
	defer t.roundMu.Unlock()

	type due struct {
		id    int64
		asked uint64
	}
	var todo []due
	t.mu.Lock()
	client, concurrency := t.client, t.concurrency // reconfigure may change them
	t.gen++
	m := &t.mem
	now := t.now().Unix()
	if m.since == 0 {
		m.since = now
		t.dirty = true
	}
	// Answers list the batches in much the same order each time, so the
	// batch after the last one found is tried before the index.
	next := 0
	for _, r := range refs {
		i := next
		if i >= len(m.batches) || m.batches[i].id != r.id {
			j, ok := m.index[r.id]
			if !ok {
				j = int32(len(m.batches))
				m.index[r.id] = j
				e := batchEntry{id: r.id}
				if (t.fresh && t.gen == 1) || (r.created != 0 && r.created < m.since) {
					e.flags = flagBaseline
				}
				m.batches = append(m.batches, e)
			}
			i = int(j)
		}
		m.batches[i].created, m.batches[i].gen, m.batches[i].seen = r.created, t.gen, now
		next = i + 1
	}
	t.refs = refs
	for i := 0; i < len(m.batches); {
		e := &m.batches[i]
		if e.gen != t.gen {
			// Not in this answer. Forget the batch only once it has been
			// gone for a while: an answer that leaves batches out (an empty
			// one, a narrower window) must not make them news again.
			if now-e.seen > int64(statusGrace/time.Second) {
				t.dirty = t.dirty || e.flags != 0
				m.remove(i)
				continue
			}
			i++
			continue
		}
		if !terminal(e) {
			todo = append(todo, due{e.id, e.asked})
		}
		i++
	}
	t.mu.Unlock()
	// Oldest-asked first, never-asked before all, so that when the time
	// runs out every batch gets its turn on a later read.
	sort.Slice(todo, func(i, j int) bool {
		if todo[i].asked != todo[j].asked {
			return todo[i].asked < todo[j].asked
		}
		return todo[i].id < todo[j].id
	})

	t.mu.Lock()
	wait := t.now().Before(t.retryAt)
	if wait {
		t.owed = len(todo)
	}
	t.mu.Unlock()
	if wait {
		// The batches API asked us to wait (429 Retry-After): every lookup
		// is owed until then.
		t.saveIfDirty()
		return
	}

	var lctx context.Context
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); ok {
		lctx, cancel = context.WithDeadline(ctx, dl.Add(-lookupMargin(time.Until(dl))))
	} else {
		lctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	var (
		answered atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	var g errgroup.Group
	g.SetLimit(concurrency)
	for _, d := range todo {
		if lctx.Err() != nil {
			break
		}
		g.Go(func() error {
			// The slot may have come only after the deadline: then the
			// lookup is owed, not made.
			if lctx.Err() != nil {
				return nil
			}
			t.mu.Lock()
			t.seq++
			if e := t.mem.get(d.id); e != nil {
				e.asked = t.seq
			}
			t.mu.Unlock()
			start := t.now()
			st, err := client.Batch(lctx, strconv.FormatInt(d.id, 10))
			t.count(err, t.now().Sub(start))
			if err != nil {
				// A lookup cut by the round's own deadline is owed, not failed.
				if lctx.Err() == nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				}
				var rl *b2see.RateLimitError
				var un *b2see.UnauthorizedError
				if errors.As(err, &rl) || errors.As(err, &un) {
					// Asking again now would fail the same way.
					cancel()
				}
				if rl != nil && rl.RetryAfter > 0 {
					t.mu.Lock()
					if until := t.now().Add(rl.RetryAfter); until.After(t.retryAt) {
						t.retryAt = until
					}
					t.mu.Unlock()
				}
				return nil
			}
			t.apply(d.id, st)
			answered.Add(1)
			return nil
		})
	}
	_ = g.Wait() // failures are counted and owed, never returned

	t.mu.Lock()
	t.owed = len(todo) - int(answered.Load())
	t.mu.Unlock()
	t.logRound(firstErr)
	t.saveIfDirty()
}

// apply records the answer of a lookup.
func (t *statusTracker) apply(id int64, st b2see.BatchStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.mem.get(id)
	if e == nil {
		return
	}
	code, timeout := clamp32(st.Status), clamp32(st.TimeoutMinutes)
	if e.flags&flagKnown == 0 || e.code != code || e.timeout != timeout {
		t.dirty = true
	}
	m := t.mapping(code)
	first := e.flags&flagKnown == 0
	e.code, e.timeout, e.phase = code, timeout, phaseIndex(m.Phase)
	e.flags |= flagKnown
	if first && e.flags&flagBaseline != 0 {
		if e.phase == phaseFailed {
			e.flags |= flagFailedCounted
		}
		if timedOut(e, t.now().UnixNano()) {
			e.flags |= flagTimedOutCounted
		}
	}
	if _, ok := t.statuses[int(code)]; !ok && !t.unmapped[code] {
		t.unmapped[code] = true
		t.logger.Warn("the batches API answered a status code with no configured meaning; it is exported as its number, phase unknown", "code", code)
	}
	if e.phase == phaseFailed && e.flags&flagFailedCounted == 0 {
		e.flags |= flagFailedCounted
		t.mem.failures++
		t.dirty = true
	}
}

// logRound logs a lookup failure once when it starts or changes.
func (t *statusTracker) logRound(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		if t.failing != "" {
			t.logger.Info("batch status lookups answer again")
			t.failing = ""
		}
		return
	}
	if msg := err.Error(); msg != t.failing {
		t.logger.Warn("looking up batch statuses failed; retrying on the next scrape", "reason", b2see.Reason(err), "err", msg)
		t.failing = msg
	}
}

// saveIfDirty writes the memory to its file when it changed. A failure is
// logged and retried on the next change; tracking goes on in memory.
func (t *statusTracker) saveIfDirty() {
	if t.path == "" || t.noSave != nil {
		return
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return
	}
	data, err := t.mem.encode()
	t.dirty = false
	t.mu.Unlock()
	if err == nil {
		err = state.WriteAtomic(t.path, data)
	}
	if err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		if msg := err.Error(); msg != t.saveErr {
			t.logger.Error("saving the batch status memory failed; failure and timeout counts may repeat after a restart", "file", t.path, "err", msg)
			t.saveErr = msg
		}
		return
	}
	if t.saveErr != "" {
		t.logger.Info("saving the batch status memory works again", "file", t.path)
		t.saveErr = ""
	}
}

type statusLabels struct{ name, phase string }

// codeCount is the number of known batches with one code.
type codeCount struct {
	code int32
	n    int
}

// collect emits the status metrics of the window at now, counting the
// batches that passed their timeout since the last scrape.
func (t *statusTracker) collect(ch chan<- prometheus.Metric, account string, now time.Time) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- constMetric(d, prometheus.GaugeValue, v, labels...)
	}
	t.mu.Lock()
	var counts map[statusLabels]int
	timedOutNow := 0
	if t.gen > 0 {
		// A window has few distinct codes: a short list beats a map.
		var byCode []codeCount
		nowNano := now.UnixNano()
		for i := range t.mem.batches {
			e := &t.mem.batches[i]
			if e.flags&flagKnown == 0 || e.gen != t.gen {
				continue // unknown, or not in the last read's window
			}
			j := 0
			for j < len(byCode) && byCode[j].code != e.code {
				j++
			}
			if j == len(byCode) {
				byCode = append(byCode, codeCount{code: e.code})
			}
			byCode[j].n++
			if timedOut(e, nowNano) {
				timedOutNow++
				if e.flags&flagTimedOutCounted == 0 {
					e.flags |= flagTimedOutCounted
					t.mem.timeouts++
					t.dirty = true
				}
			}
		}
		// Every configured status is exported, at 0 when no batch has it,
		// so that alerts see a series change rather than appear.
		counts = make(map[statusLabels]int, len(t.statuses)+len(byCode))
		for _, m := range t.statuses {
			counts[statusLabels{m.Name, m.Phase}] += 0
		}
		for _, c := range byCode {
			m := t.mapping(c.code)
			counts[statusLabels{m.Name, m.Phase}] += c.n
		}
	}
	failures, timeouts, owed, dirty := t.mem.failures, t.mem.timeouts, t.owed, t.dirty
	var since time.Time // when the counts started, once known
	if t.mem.since != 0 {
		since = time.Unix(t.mem.since, 0)
	}
	t.mu.Unlock()

	for k, n := range counts {
		gauge(batchStatusDesc, float64(n), account, k.name, k.phase)
	}
	if counts != nil {
		gauge(batchesTimedOutDesc, float64(timedOutNow), account)
	}
	gauge(batchStatusPendingLookupsDesc, float64(owed), account)
	ch <- counter(batchFailuresDesc, float64(failures), since, account)
	ch <- counter(batchTimeoutsDesc, float64(timeouts), since, account)
	if dirty {
		t.saveIfDirty()
	}
}

// normalizeStatuses fills in what a configured mapping leaves out.
func normalizeStatuses(in map[int]StatusMapping) map[int]StatusMapping {
	out := make(map[int]StatusMapping, len(in))
	for code, m := range in {
		m.Phase = phaseNames[phaseIndex(m.Phase)]
		if m.Name == "" {
			m.Name = strconv.Itoa(code)
		}
		out[code] = m
	}
	return out
}

// reconfigure takes a new client, mapping and concurrency after a reload,
// keeping what is known of the batches.
func (t *statusTracker) reconfigure(opts StatusOptions) {
	statuses := normalizeStatuses(opts.Statuses)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.client = opts.Client
	t.statuses = statuses
	t.concurrency = opts.Concurrency
	if t.concurrency <= 0 {
		t.concurrency = b2see.DefaultLookupConcurrency
	}
	for i := range t.mem.batches {
		e := &t.mem.batches[i]
		e.phase = phaseIndex(t.mapping(e.code).Phase)
	}
}
