package collector

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/internal/failure"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// StatusMapping names one status code of the batches API. The codes are
// undocumented, so their meaning is configuration.
type StatusMapping struct {
	Name  string
	Phase string // one of b2see.Phases
}

// BatchLookup reads one batch's status; *b2see.BatchesClient is one.
type BatchLookup interface {
	Status(ctx context.Context, id string) (b2see.BatchStatus, error)
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

// Phase indexes, kept in a state.StatusEntry instead of the phase's name:
// phaseUnknown, then those of b2see.Phases.
const (
	phaseUnknown uint8 = iota
	phasePending
	phaseRunning
	phaseSucceeded
	phaseFailed
)

// phaseNames are the names of the phase indexes.
var phaseNames = func() []string {
	names := []string{string(b2see.PhaseUnknown)}
	for _, p := range b2see.Phases {
		names = append(names, string(p))
	}
	return names
}()

func phaseIndex(name string) uint8 {
	for i, n := range phaseNames {
		if n == name {
			return uint8(i)
		}
	}
	return phaseUnknown
}

// The flags of a batch are those its status file keeps.
const (
	flagKnown           = state.StatusKnown
	flagFailedCounted   = state.StatusFailedCounted
	flagTimedOutCounted = state.StatusTimedOutCounted
	flagBaseline        = state.StatusBaseline
)

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
	file        *state.StatusFile // nil when the memory is not saved
	logger      *slog.Logger
	count       func(err error, took time.Duration) // records one lookup
	now         func() time.Time

	roundMu sync.Mutex // one round of lookups at a time
	fresh   bool       // no saved memory was loaded: the first read is the baseline

	// mu is the memory's lock: the counters' when they share their table.
	mu *sync.Mutex
	// mem holds the batches of the last window with what is known of
	// them; only those, so it stays bounded.
	mem                *state.StatusMemory
	failures, timeouts uint64
	// since is when the memory started (Unix seconds): a batch created
	// before it and first listed later, as when the window is widened, is
	// part of the baseline, not counted as new.
	since    int64
	gen      uint32        // reads seen; 0 before the first
	unasked  int           // lookups the last round did not get an answer to
	dirty    bool          // mem changed since the last save
	failing  failure.Latch // the lookup failure last logged at warning level
	unmapped unmappedCodes
	retryAt  time.Time // no lookup before, after a 429 with Retry-After
	lastRefs int       // bytes of the last read's list of batches, to size the next

	saveMu sync.Mutex // one save at a time, so that none overwrites a newer one
}

// newStatusTracker returns the status tracker of opts. When counters is
// not nil, its memory shares their table of batches.
func newStatusTracker(opts StatusOptions, counters *state.Tracker, logger *slog.Logger, now func() time.Time, count func(error, time.Duration)) *statusTracker {
	mem := state.NewStatusMemory()
	if counters != nil {
		mem = counters.StatusMemory()
	}
	t := &statusTracker{
		client:      opts.Client,
		statuses:    map[int]StatusMapping{},
		concurrency: opts.Concurrency,
		logger:      logger,
		now:         now,
		count:       count,
		mem:         mem,
		mu:          mem.Mutex(),
		fresh:       true,
	}
	if t.concurrency <= 0 {
		t.concurrency = b2see.DefaultLookupConcurrency
	}
	t.statuses = normalizeStatuses(opts.Statuses)
	if opts.StateFile != "" {
		t.load(opts.StateFile)
	}
	return t
}

// load reads the memory saved in path. An unusable file is moved aside
// and the memory starts afresh.
func (t *statusTracker) load(path string) {
	file, saved, ok := state.OpenStatusFile(path, t.logger, t.now())
	t.file = file
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mem.Load(&saved)
	t.failures, t.timeouts, t.since, t.fresh = saved.Failures, saved.Timeouts, saved.Since, false
	t.setPhases()
}

// setPhases sets the phase of every batch from its code, under the
// current mapping. t.mu must be held.
func (t *statusTracker) setPhases() {
	for i := range t.mem.Rows() {
		if t.mem.In(i) {
			e := t.mem.Entry(i)
			e.Phase = phaseIndex(t.mapping(e.Code).Phase)
			t.mem.Set(i, e)
		}
	}
}

// mapping is the name and phase of a code.
func (t *statusTracker) mapping(code int32) StatusMapping {
	if m, ok := t.statuses[int(code)]; ok {
		return m
	}
	return StatusMapping{Name: strconv.Itoa(int(code)), Phase: string(b2see.PhaseUnknown)}
}

func terminal(e *state.StatusEntry) bool {
	return e.Flags&flagKnown != 0 && (e.Phase == phaseSucceeded || e.Phase == phaseFailed)
}

// timedOut reports whether a batch is overdue at now (Unix nanoseconds):
// still pending or running more than its timeout after it was created.
func timedOut(e *state.StatusEntry, now int64) bool {
	if e.Flags&flagKnown == 0 || e.Timeout <= 0 || e.Created == 0 {
		return false
	}
	if e.Phase != phasePending && e.Phase != phaseRunning {
		return false
	}
	// time.Time has the range for any date an upstream sends; a timeout
	// past a century is no timeout worth the overflow.
	timeout := time.Duration(min(e.Timeout, maxTimeoutMinutes)) * time.Minute
	return time.Unix(0, now).After(time.Unix(e.Created, 0).Add(timeout))
}

const maxTimeoutMinutes = 100 * 365 * 24 * 60

// statusGrace is how long a batch missing from the answers is remembered:
// as long as the counters remember theirs.
const statusGrace = state.DefaultGrace

// takeRefs returns an empty list for the next read's batches, with room
// for as many as the last one listed.
func (t *statusTracker) takeRefs() *batchList {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &batchList{buf: make([]byte, 0, t.lastRefs+t.lastRefs/8)}
}

// lookupMargin is what a round of lookups leaves of the time to a deadline,
// for the scrape to answer once the lookups stop.
func lookupMargin(left time.Duration) time.Duration {
	return min(max(left/10, 50*time.Millisecond), time.Second)
}

// refresh takes the batches of a successful read as the window and looks
// up those whose status is not known to be final, until ctx's deadline
// less a margin. Lookups not made are left for the next read.
func (t *statusTracker) refresh(ctx context.Context, refs *batchList) {
	t.roundMu.Lock()
	defer t.roundMu.Unlock()

	t.mu.Lock()
	client, concurrency := t.client, t.concurrency // reconfigure may change them
	todo := t.takeWindow(refs)
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
		t.unasked = len(todo)
	}
	t.mu.Unlock()
	if wait {
		// The batches API asked us to wait (429 Retry-After): every lookup
		// waits until then.
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
	answered, firstErr := t.lookUp(lctx, cancel, client, concurrency, todo)
	due := len(todo)
	todo = nil

	t.mu.Lock()
	t.unasked = due - answered
	t.mu.Unlock()
	t.logRound(firstErr)
	if due >= largeRead {
		// The list of lookups is as large as the file the save makes:
		// gone before it, they never take room together.
		releaseRead()
	}
	t.saveIfDirty()
}

// dueLookup is a batch whose status is to be looked up.
type dueLookup struct {
	id    int64
	asked uint32
}

// takeWindow takes the batches of a read as the window: it adds those
// first listed, forgets those gone for longer than the grace period, and
// returns those whose status is not known to be final. t.mu must be held.
func (t *statusTracker) takeWindow(refs *batchList) []dueLookup {
	t.gen++
	m := t.mem
	now := t.now().Unix()
	if t.since == 0 {
		t.since = now
		t.dirty = true
	}
	m.BeginRead(refs.n)
	// Answers list the batches in much the same order each time, so the
	// batch after the last one found is tried before the index.
	next := 0
	refs.each(func(id, created int64) {
		i, added := m.Add(id, next)
		if added {
			var e state.StatusEntry
			if (t.fresh && t.gen == 1) || (created != 0 && created < t.since) {
				e.Flags = flagBaseline
			}
			m.Set(i, e)
		}
		m.List(i, created, now)
		next = i + 1
	})
	t.lastRefs = len(refs.buf)
	gone := false
	for i := range m.Rows() {
		if !m.In(i) || m.Listed(i) {
			continue
		}
		// Not in this answer. Forget the batch only once it has been gone
		// for a while: an answer that leaves batches out (an empty one, a
		// narrower window) must not make them count as new again.
		if e := m.Entry(i); now-e.Seen > int64(statusGrace/time.Second) {
			t.dirty = t.dirty || e.Flags != 0
			m.Forget(i)
			gone = true
		}
	}
	if gone {
		m.Compact()
	}
	return t.due()
}

// due returns the batches of the window whose status is not known to be
// final. The list is made to size: grown by appending, a list of a million
// would leave three or four times its size in garbage. t.mu must be held.
func (t *statusTracker) due() []dueLookup {
	m, n := t.mem, 0
	for i := range m.Rows() {
		if m.In(i) && m.Listed(i) && !terminal(new(m.Entry(i))) {
			n++
		}
	}
	todo := make([]dueLookup, 0, n)
	for i := range m.Rows() {
		if !m.In(i) || !m.Listed(i) {
			continue
		}
		if e := m.Entry(i); !terminal(&e) {
			todo = append(todo, dueLookup{m.ID(i), e.Asked})
		}
	}
	return todo
}

// lookUp looks up the batches of todo, at most concurrency at once, until
// ctx ends, and returns how many answered and the first failure. A lookup
// that gets a 429 or a 401 calls cancel: the others would fail the same
// way.
func (t *statusTracker) lookUp(ctx context.Context, cancel context.CancelFunc, client BatchLookup, concurrency int, todo []dueLookup) (int, error) {
	var (
		answered atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	var g errgroup.Group
	g.SetLimit(concurrency)
	garbage := newGarbageBound(lookupGarbage, garbageCheckEvery)
	for _, d := range todo {
		if ctx.Err() != nil {
			break
		}
		garbage.tick()
		g.Go(func() error {
			// The slot may have come only after the deadline: then the
			// lookup is left for the next read, not made.
			if ctx.Err() != nil {
				return nil
			}
			err := t.lookUpOne(ctx, client, d.id)
			if err == nil {
				answered.Add(1)
				return nil
			}
			if ctx.Err() == nil {
				// A lookup cut by the round's own deadline is left for the
				// next read, not failed.
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
			return nil
		})
	}
	_ = g.Wait() // failures are counted and retried, never returned
	return int(answered.Load()), firstErr
}

// lookUpOne looks up one batch's status and records the answer, or the
// time a 429 asks to wait.
func (t *statusTracker) lookUpOne(ctx context.Context, client BatchLookup, id int64) error {
	t.mu.Lock()
	if i, ok := t.mem.Find(id, -1); ok {
		t.mem.MarkAsked(i)
	}
	t.mu.Unlock()
	start := t.now()
	st, err := client.Status(ctx, strconv.FormatInt(id, 10))
	t.count(err, t.now().Sub(start))
	if err != nil {
		var rl *b2see.RateLimitError
		if errors.As(err, &rl) && rl.RetryAfter > 0 {
			t.mu.Lock()
			if until := t.now().Add(rl.RetryAfter); until.After(t.retryAt) {
				t.retryAt = until
			}
			t.mu.Unlock()
		}
		return err
	}
	t.takeAnswer(id, st)
	return nil
}

// takeAnswer records the answer of a lookup.
func (t *statusTracker) takeAnswer(id int64, st b2see.BatchStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.mem.Find(id, -1)
	if !ok {
		return
	}
	e := t.mem.Entry(i)
	code, timeout := clamp32(st.Status), clamp32(st.TimeoutMinutes)
	if e.Flags&flagKnown == 0 || e.Code != code || e.Timeout != timeout {
		t.dirty = true
	}
	m := t.mapping(code)
	first := e.Flags&flagKnown == 0
	e.Code, e.Timeout, e.Phase = code, timeout, phaseIndex(m.Phase)
	e.Flags |= flagKnown
	if first && e.Flags&flagBaseline != 0 {
		if e.Phase == phaseFailed {
			e.Flags |= flagFailedCounted
		}
		if timedOut(&e, t.now().UnixNano()) {
			e.Flags |= flagTimedOutCounted
		}
	}
	if _, ok := t.statuses[int(code)]; !ok {
		t.unmapped.note(code, t.logger)
	}
	if e.Phase == phaseFailed && e.Flags&flagFailedCounted == 0 {
		e.Flags |= flagFailedCounted
		t.failures++
		t.dirty = true
	}
	t.mem.Set(i, e)
}

// logRound logs a lookup failure once when it starts or changes.
func (t *statusTracker) logRound(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		if t.failing.Clear() {
			t.logger.Info("batch status lookups answer again")
		}
		return
	}
	if t.failing.Fail(err.Error()) {
		t.logger.Warn("looking up batch statuses failed; retrying on the next scrape", "reason", b2see.Reason(err), "err", err.Error())
	}
}

// saveIfDirty writes the memory to its file when it changed. A failure is
// logged and retried on the next change; tracking goes on in memory.
func (t *statusTracker) saveIfDirty() {
	if t.file == nil || !t.file.Writable() {
		return
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return
	}
	data, err := t.mem.Encode(t.failures, t.timeouts, t.since)
	t.dirty = false
	t.mu.Unlock()
	if err := t.file.SaveEncoded(data, err); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
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
	e := emitter(ch)
	t.mu.Lock()
	var counts map[statusLabels]int
	timedOutNow := 0
	if t.gen > 0 {
		// A window has few distinct codes: a short list beats a map.
		var byCode []codeCount
		nowNano := now.UnixNano()
		for i := range t.mem.Rows() {
			if !t.mem.In(i) || !t.mem.Listed(i) {
				continue // not in the last read's window
			}
			e := t.mem.Entry(i)
			if e.Flags&flagKnown == 0 {
				continue
			}
			j := 0
			for j < len(byCode) && byCode[j].code != e.Code {
				j++
			}
			if j == len(byCode) {
				byCode = append(byCode, codeCount{code: e.Code})
			}
			byCode[j].n++
			if timedOut(&e, nowNano) {
				timedOutNow++
				if e.Flags&flagTimedOutCounted == 0 {
					e.Flags |= flagTimedOutCounted
					t.mem.Set(i, e)
					t.timeouts++
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
		t.unmapped.choose(byCode, t.statuses)
		for _, c := range byCode {
			m := t.mapping(c.code)
			if _, ok := t.statuses[int(c.code)]; !ok {
				m.Name = t.unmapped.shown.fold(m.Name)
			}
			counts[statusLabels{m.Name, m.Phase}] += c.n
		}
	}
	failures, timeouts, unasked, dirty := t.failures, t.timeouts, t.unasked, t.dirty
	var since time.Time // when the counts started, once known
	if t.since != 0 {
		since = time.Unix(t.since, 0)
	}
	t.mu.Unlock()

	for k, n := range counts {
		e.gauge(batchStatusDesc, float64(n), account, k.name, k.phase)
	}
	if counts != nil {
		e.gauge(batchesTimedOutDesc, float64(timedOutNow), account)
	}
	e.gauge(batchStatusPendingLookupsDesc, float64(unasked), account)
	e.counter(batchFailuresDesc, float64(failures), since, account)
	e.counter(batchTimeoutsDesc, float64(timeouts), since, account)
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
	t.setPhases()
}
