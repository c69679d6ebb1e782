package collector

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// exampleStatuses is the fake batches API's example mapping.
var exampleStatuses = map[int]StatusMapping{
	0: {"defined", string(b2see.PhasePending)},
	1: {"processing", string(b2see.PhaseRunning)},
	2: {"completed", string(b2see.PhaseSucceeded)},
	3: {"failed", string(b2see.PhaseFailed)},
	4: {"cancelled", string(b2see.PhaseFailed)},
}

// memLookup is a BatchLookup over statuses held in memory.
type memLookup struct {
	mu       sync.Mutex
	statuses map[int64]b2see.BatchStatus
	errs     map[int64]error
	calls    map[int64]int
	order    []int64
	blocked  []int64 // lookups that waited for their context
	// budget, when not negative, is how many lookups answer before the
	// following ones wait for their context to end.
	budget int
	total  atomic.Int64
}

func newMemLookup() *memLookup {
	return &memLookup{statuses: map[int64]b2see.BatchStatus{}, errs: map[int64]error{}, calls: map[int64]int{}, budget: -1}
}

func (l *memLookup) Status(ctx context.Context, id string) (b2see.BatchStatus, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return b2see.BatchStatus{}, err
	}
	l.total.Add(1)
	l.mu.Lock()
	l.calls[n]++
	l.order = append(l.order, n)
	wait := l.budget == 0
	if l.budget > 0 {
		l.budget--
	}
	if wait {
		l.blocked = append(l.blocked, n)
	}
	st, ok := l.statuses[n]
	err = l.errs[n]
	l.mu.Unlock()
	if wait {
		<-ctx.Done()
		return b2see.BatchStatus{}, &b2see.TimeoutError{Op: "connecting"}
	}
	if err != nil {
		return b2see.BatchStatus{}, err
	}
	if !ok {
		return b2see.BatchStatus{}, &b2see.NotFoundError{ID: id}
	}
	st.ID = id
	return st, nil
}

func (l *memLookup) set(id int64, code, timeout int) {
	l.mu.Lock()
	l.statuses[id] = b2see.BatchStatus{Status: code, TimeoutMinutes: timeout}
	l.mu.Unlock()
}

func (l *memLookup) callsOf(id int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[id]
}

func (l *memLookup) takeOrder() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.order
	l.order = nil
	return o
}

func (l *memLookup) setBudget(n int) {
	l.mu.Lock()
	l.budget = n
	l.mu.Unlock()
}

// statusBatches are batches 1..n, created at t0.
func statusBatches(ids ...int64) []b2see.Record {
	bs := make([]b2see.Record, len(ids))
	for i, id := range ids {
		bs[i] = b2see.Record{ID: id, HasID: true, ProductType: "aftersales_via_portal", DateCreated: t0}
	}
	return bs
}

// statusBatchesAt is statusBatches created at a given time: batches that
// appear after the status memory started.
func statusBatchesAt(created time.Time, ids ...int64) []b2see.Record {
	bs := statusBatches(ids...)
	for i := range bs {
		bs[i].DateCreated = created
	}
	return bs
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func newStatusAccount(src Source, l BatchLookup, clk *clock, mod func(*StatusOptions)) *Account {
	so := &StatusOptions{Client: l, Statuses: exampleStatuses}
	if mod != nil {
		mod(so)
	}
	return newTestAccount(src, func(o *AccountOptions) {
		o.Status = so
		o.Now = clk.now
	})
}

// pastBaseline makes the account's first read an empty one, so that every
// batch the test adds afterwards is news: the first read of a fresh status
// memory is the baseline, whose failures and timeouts are not counted.
func pastBaseline(t *testing.T, acc *Account, src interface{ set([]b2see.Record, error) }, batches []b2see.Record) {
	t.Helper()
	src.set(nil, nil)
	collectOnce(acc)
	src.set(batches, nil)
}

var statusMetricNames = []string{
	"b2see_batch_status", "b2see_batches_timed_out", "b2see_batch_failures_total",
	"b2see_batch_timeouts_total", "b2see_batch_status_pending_lookups",
}

func TestStatusMetrics(t *testing.T) {
	l := newMemLookup()
	for id, code := range map[int64]int{1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 7, 7: 2} {
		l.set(id, code, 60)
	}
	bs := statusBatches(1, 2, 3, 4, 5, 6, 7, 7)
	bs = append(bs, b2see.Record{ProductType: "no_id"}) // cannot be looked up
	src := &memSource{}
	acc := newStatusAccount(src, l, &clock{t: t0}, nil)
	pastBaseline(t, acc, src, bs)
	want := `
# HELP b2see_batch_failures_total Batches seen entering a failed phase, each counted once.
# TYPE b2see_batch_failures_total counter
b2see_batch_failures_total{account="north"} 2
# HELP b2see_batch_status Batches in the history window by the status the batches API last reported: the code's configured name, or the code itself with phase unknown.
# TYPE b2see_batch_status gauge
b2see_batch_status{account="north",phase="failed",status="cancelled"} 1
b2see_batch_status{account="north",phase="failed",status="failed"} 1
b2see_batch_status{account="north",phase="pending",status="defined"} 1
b2see_batch_status{account="north",phase="running",status="processing"} 1
b2see_batch_status{account="north",phase="succeeded",status="completed"} 2
b2see_batch_status{account="north",phase="unknown",status="7"} 1
# HELP b2see_batch_status_pending_lookups Batches whose status the last round of lookups did not get, owed to the next scrape.
# TYPE b2see_batch_status_pending_lookups gauge
b2see_batch_status_pending_lookups{account="north"} 0
# HELP b2see_batch_timeouts_total Batches seen passing their timeout while pending or running, each counted once.
# TYPE b2see_batch_timeouts_total counter
b2see_batch_timeouts_total{account="north"} 0
# HELP b2see_batches_timed_out Batches in the history window still pending or running more than their timeout after they were created.
# TYPE b2see_batches_timed_out gauge
b2see_batches_timed_out{account="north"} 0
`
	if err := testutil.CollectAndCompare(collectorFor(acc), strings.NewReader(want), statusMetricNames...); err != nil {
		t.Fatal(err)
	}
	if got := l.total.Load(); got != 7 {
		t.Errorf("%d lookups for 7 distinct batches", got)
	}
}

func TestStatusOffExportsNoStatusMetrics(t *testing.T) {
	acc := newTestAccount(&memSource{batches: testBatches()}, nil)
	for name := range gather(t, collectorFor(acc)) {
		for _, s := range statusMetricNames {
			if strings.HasPrefix(name, s+",") || name == s {
				t.Errorf("%s exported with status tracking off", name)
			}
		}
		if strings.Contains(name, "endpoint=batches") {
			t.Errorf("%s exported with status tracking off", name)
		}
	}
}

func TestStatusLint(t *testing.T) {
	l := newMemLookup()
	l.set(1, 3, 60)
	acc := newStatusAccount(&memSource{batches: statusBatches(1, 2)}, l, &clock{t: t0}, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectorFor(acc))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestStatusTerminalNotAskedAgain(t *testing.T) {
	l := newMemLookup()
	for id, code := range map[int64]int{1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 7} {
		l.set(id, code, 60)
	}
	acc := newStatusAccount(&memSource{batches: statusBatches(1, 2, 3, 4, 5, 6)}, l, &clock{t: t0}, nil)
	c := collectorFor(acc)
	gather(t, c)
	gather(t, c)
	want := map[int64]int{1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 2} // pending, running and unknown asked again
	for id, n := range want {
		if got := l.callsOf(id); got != n {
			t.Errorf("batch %d asked %d times in 2 scrapes, want %d", id, got, n)
		}
	}
	// Batch 2 completes: asked once more, then never again.
	l.set(2, 2, 60)
	gather(t, c)
	m := gather(t, c)
	if got := l.callsOf(2); got != 3 {
		t.Errorf("batch 2 asked %d times, want 3", got)
	}
	if m["b2see_batch_status,phase=succeeded,status=completed"] != 2 {
		t.Errorf("completed = %v, want 2", m["b2see_batch_status,phase=succeeded,status=completed"])
	}
	if got := m["b2see_upstream_requests_total,endpoint=batches,outcome=success"]; got != float64(l.total.Load()) {
		t.Errorf("batches requests counted %v, made %d", got, l.total.Load())
	}
}

func TestStatusLookupFailureKeepsUp(t *testing.T) {
	l := newMemLookup()
	l.set(1, 1, 60)
	l.errs[2] = &b2see.StatusError{StatusCode: 502}
	// Batch 3 is unknown upstream: a not_found failure.
	src := &memSource{}
	acc := newStatusAccount(src, l, &clock{t: t0}, nil)
	pastBaseline(t, acc, src, statusBatches(1, 2, 3))
	c := collectorFor(acc)
	m := gather(t, c)
	if m["b2see_up"] != 1 {
		t.Errorf("up = %v with failing lookups", m["b2see_up"])
	}
	if m["b2see_upstream_requests_total,endpoint=batches,outcome=upstream_error"] != 1 ||
		m["b2see_upstream_requests_total,endpoint=batches,outcome=not_found"] != 1 ||
		m["b2see_upstream_requests_total,endpoint=batches,outcome=success"] != 1 {
		t.Errorf("requests: %v", m)
	}
	if m["b2see_batch_status_pending_lookups"] != 2 {
		t.Errorf("pending lookups = %v, want 2", m["b2see_batch_status_pending_lookups"])
	}
	// Retried on the next scrape, and answered.
	l.mu.Lock()
	delete(l.errs, 2)
	l.mu.Unlock()
	l.set(2, 3, 60)
	l.set(3, 2, 60)
	m = gather(t, c)
	if l.callsOf(2) != 2 || l.callsOf(3) != 2 {
		t.Errorf("failed lookups retried %d and %d times", l.callsOf(2)-1, l.callsOf(3)-1)
	}
	if m["b2see_batch_status_pending_lookups"] != 0 || m["b2see_batch_failures_total"] != 1 {
		t.Errorf("after the retry: pending %v failures %v", m["b2see_batch_status_pending_lookups"], m["b2see_batch_failures_total"])
	}
}

func TestStatusRateLimitStopsTheRound(t *testing.T) {
	l := newMemLookup()
	for id := int64(1); id <= 50; id++ {
		l.errs[id] = &b2see.RateLimitError{}
	}
	acc := newStatusAccount(&memSource{batches: statusBatches(func() []int64 {
		var ids []int64
		for id := int64(1); id <= 50; id++ {
			ids = append(ids, id)
		}
		return ids
	}()...)}, l, &clock{t: t0}, func(o *StatusOptions) { o.Concurrency = 1 })
	m := gather(t, collectorFor(acc))
	if got := l.total.Load(); got != 1 {
		t.Errorf("%d lookups after a 429, want 1", got)
	}
	if m["b2see_batch_status_pending_lookups"] != 50 {
		t.Errorf("pending lookups = %v, want 50", m["b2see_batch_status_pending_lookups"])
	}
}

func gatherWithin(t *testing.T, ctx context.Context, acc *Account) map[string]float64 {
	t.Helper()
	return gather(t, New(ctx, []*Account{acc}, 0))
}

func TestStatusDeadlineCarriesOver(t *testing.T) {
	l := newMemLookup()
	var ids []int64
	for id := int64(1); id <= 15; id++ {
		ids = append(ids, id)
		l.set(id, 2, 60)
	}
	l.setBudget(5) // batches 1-5 answer, the rest are slow
	acc := newStatusAccount(&memSource{batches: statusBatches(ids...)}, l, &clock{t: t0}, func(o *StatusOptions) { o.Concurrency = 2 })

	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	m := gatherWithin(t, ctx, acc)
	if time.Now().After(deadline) {
		t.Errorf("the scrape answered %v after its deadline", time.Since(deadline))
	}
	if m["b2see_up"] != 1 || m["b2see_window_batches,product_type=aftersales_via_portal,sender=unknown"] != 15 {
		t.Errorf("engagement metrics: up %v, batches %v", m["b2see_up"], m["b2see_window_batches,product_type=aftersales_via_portal,sender=unknown"])
	}
	if m["b2see_batch_status,phase=succeeded,status=completed"] != 5 {
		t.Errorf("completed = %v, want 5", m["b2see_batch_status,phase=succeeded,status=completed"])
	}
	if m["b2see_batch_status_pending_lookups"] != 10 {
		t.Errorf("pending lookups = %v, want 10", m["b2see_batch_status_pending_lookups"])
	}
	if got := m["b2see_upstream_requests_total,endpoint=batches,outcome=timeout"]; got != 2 {
		t.Errorf("%v lookups cut by the deadline, want 2 (the concurrency)", got)
	}
	answered := map[int64]bool{}
	for _, id := range l.takeOrder() {
		answered[id] = true
	}
	l.mu.Lock()
	for _, id := range l.blocked {
		delete(answered, id)
	}
	l.mu.Unlock()

	// The next scrape has time for all: only the owed ones are asked.
	l.setBudget(-1)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	m = gatherWithin(t, ctx2, acc)
	if m["b2see_batch_status_pending_lookups"] != 0 || m["b2see_batch_status,phase=succeeded,status=completed"] != 15 {
		t.Errorf("second scrape: pending %v completed %v", m["b2see_batch_status_pending_lookups"], m["b2see_batch_status,phase=succeeded,status=completed"])
	}
	second := l.takeOrder()
	for _, id := range second {
		if answered[id] {
			t.Errorf("batch %d, completed on the first scrape, asked again", id)
		}
	}
	if len(second) != 10 {
		t.Errorf("second scrape made %d lookups, want the 10 owed", len(second))
	}
}

func TestStatusFairness(t *testing.T) {
	l := newMemLookup()
	var ids []int64
	for id := int64(1); id <= 10; id++ {
		ids = append(ids, id)
		l.set(id, 1, 0) // running for ever: asked on every scrape
	}
	acc := newStatusAccount(&memSource{batches: statusBatches(ids...)}, l, &clock{t: t0}, func(o *StatusOptions) { o.Concurrency = 1 })
	var got [][]int64
	for range 4 {
		l.setBudget(3)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		gatherWithin(t, ctx, acc)
		cancel()
		got = append(got, l.takeOrder())
	}
	// Three answers per scrape, then one cut by the deadline; never-asked
	// batches first, then the longest unasked.
	want := [][]int64{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 1, 2}, {3, 4, 5, 6}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("scrape %d asked %v, want %v", i+1, got[i], want[i])
		}
	}
}

func TestStatusTimeouts(t *testing.T) {
	l := newMemLookup()
	l.set(1, 1, 60)  // running, times out
	l.set(2, 0, 60)  // pending, times out
	l.set(3, 2, 1)   // completed: never overdue
	l.set(4, 7, 1)   // unknown phase: never overdue
	l.set(5, 1, 0)   // no timeout
	l.set(6, 1, -5)  // no timeout either
	l.set(7, 1, 120) // running, not yet due
	clk := &clock{t: t0}
	acc := newStatusAccount(&memSource{batches: statusBatches(1, 2, 3, 4, 5, 6, 7)}, l, clk, nil)
	c := collectorFor(acc)

	tests := []struct {
		at                 time.Duration
		timedOut, timeouts float64
	}{
		{0, 0, 0},
		{60 * time.Minute, 0, 0},                 // exactly the timeout: not more
		{60*time.Minute + time.Nanosecond, 2, 2}, // batches 1 and 2
		{90 * time.Minute, 2, 2},                 // still overdue, counted once
		{120*time.Minute + time.Second, 3, 3},    // batch 7 too
	}
	for _, tt := range tests {
		clk.set(t0.Add(tt.at))
		m := gather(t, c)
		if m["b2see_batches_timed_out"] != tt.timedOut || m["b2see_batch_timeouts_total"] != tt.timeouts {
			t.Errorf("at +%v: timed out %v, total %v; want %v, %v", tt.at, m["b2see_batches_timed_out"], m["b2see_batch_timeouts_total"], tt.timedOut, tt.timeouts)
		}
	}
	// Batch 1 completes late: no longer overdue, still counted.
	l.set(1, 2, 60)
	m := gather(t, c)
	if m["b2see_batches_timed_out"] != 2 || m["b2see_batch_timeouts_total"] != 3 {
		t.Errorf("after batch 1 completed: timed out %v, total %v", m["b2see_batches_timed_out"], m["b2see_batch_timeouts_total"])
	}
}

func TestStatusKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	src := &memSource{batches: statusBatches(1, 2, 3)}
	clk := &clock{t: t0.Add(2 * time.Hour)}
	l := newMemLookup()
	l.set(1, 3, 60) // failed
	l.set(2, 1, 60) // running, overdue
	l.set(3, 2, 60) // completed
	withDir := func(o *StatusOptions) { o.StateFile = filepath.Join(dir, "north.status") }

	clk.set(t0) // the memory starts before the batches are created
	first := newStatusAccount(src, l, clk, withDir)
	pastBaseline(t, first, src, statusBatches(1, 2, 3))
	clk.set(t0.Add(2 * time.Hour))
	m := gather(t, collectorFor(first))
	if m["b2see_batch_failures_total"] != 1 || m["b2see_batch_timeouts_total"] != 1 {
		t.Fatalf("first run: failures %v timeouts %v", m["b2see_batch_failures_total"], m["b2see_batch_timeouts_total"])
	}
	if _, err := os.Stat(filepath.Join(dir, "north.status")); err != nil {
		t.Fatal(err)
	}

	// A new process, the same storage.
	l2 := newMemLookup()
	l2.set(2, 1, 60)
	l2.set(4, 4, 60) // a new batch, cancelled
	src.set(statusBatches(1, 2, 3, 4), nil)
	m = gather(t, collectorFor(newStatusAccount(src, l2, clk, withDir)))
	if m["b2see_batch_failures_total"] != 2 || m["b2see_batch_timeouts_total"] != 1 {
		t.Errorf("after a restart: failures %v (want 2), timeouts %v (want 1)", m["b2see_batch_failures_total"], m["b2see_batch_timeouts_total"])
	}
	if l2.callsOf(1) != 0 || l2.callsOf(3) != 0 || l2.callsOf(2) != 1 {
		t.Errorf("after a restart, asked: failed %d, completed %d, running %d times", l2.callsOf(1), l2.callsOf(3), l2.callsOf(2))
	}
	if m["b2see_batch_status,phase=failed,status=failed"] != 1 || m["b2see_batches_timed_out"] != 1 {
		t.Errorf("after a restart: %v", m)
	}
}

func TestStatusDamagedMemoryStartsAfresh(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "north.status"), []byte("B2SEEBS\x01garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := newMemLookup()
	l.set(1, 3, 60)
	acc := newStatusAccount(&memSource{batches: statusBatches(1)}, l, &clock{t: t0}, func(o *StatusOptions) { o.StateFile = filepath.Join(dir, "north.status") })
	// A fresh start: batch 1, failed already, is the baseline.
	m := gather(t, collectorFor(acc))
	if m["b2see_up"] != 1 || m["b2see_batch_status,phase=failed,status=failed"] != 1 || m["b2see_batch_failures_total"] != 0 {
		t.Errorf("with a damaged memory: up %v, failed %v, failures %v", m["b2see_up"], m["b2see_batch_status,phase=failed,status=failed"], m["b2see_batch_failures_total"])
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "north.status.corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("the damaged file was not moved aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != "B2SEEBS\x01garbage" {
		t.Errorf("the file moved aside holds %q", b)
	}
}

func TestStatusMemoryForgetsBatchesLeavingTheWindow(t *testing.T) {
	dir := t.TempDir()
	l := newMemLookup()
	var ids []int64
	for id := int64(1); id <= 100; id++ {
		ids = append(ids, id)
		l.set(id, 3, 60)
	}
	src := &memSource{}
	clk := &clock{t: t0}
	acc := newStatusAccount(src, l, clk, func(o *StatusOptions) { o.StateFile = filepath.Join(dir, "north.status") })
	pastBaseline(t, acc, src, statusBatches(ids...))
	c := collectorFor(acc)
	gather(t, c)
	src.set(statusBatches(100, 101), nil)
	l.set(101, 2, 60)
	m := gather(t, c)
	if m["b2see_batch_status,phase=failed,status=failed"] != 1 || m["b2see_batch_failures_total"] != 100 {
		t.Errorf("after the window moved: %v", m)
	}
	// Batches gone from the answers are remembered for a while, then
	// forgotten.
	clk.set(t0.Add(statusGrace + time.Hour))
	gather(t, c)
	data, err := os.ReadFile(filepath.Join(dir, "north.status"))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := state.DecodeStatuses(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(mem.Batches) != 2 {
		t.Errorf("the saved memory holds %d batches, want the window's 2", len(mem.Batches))
	}
}

func TestWriteFileAtomicLeavesNoTemporaryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "account")
	path := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two"} {
		if err := state.WriteAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, []byte(content)) {
			t.Errorf("file holds %q, want %q", got, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want 1", len(entries))
	}
	if err := state.WriteAtomic(filepath.Join(path, "below-a-file"), nil); err == nil {
		t.Error("writing below a file succeeded")
	}
}

// sliceSource is a Source over prepared batches, without copying them.
type sliceSource struct{ batches []b2see.Record }

func (s *sliceSource) Cakes(_ context.Context, fn func(*b2see.Record) error) error {
	for i := range s.batches {
		if err := fn(&s.batches[i]); err != nil {
			return err
		}
	}
	return nil
}

// idLookup is a BatchLookup of no cost: a batch's status follows from its
// ID, one in a hundred running, one in a hundred failed, the rest
// completed.
type idLookup struct{ total atomic.Int64 }

func (l *idLookup) Status(_ context.Context, id string) (b2see.BatchStatus, error) {
	l.total.Add(1)
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return b2see.BatchStatus{}, err
	}
	code := 2
	switch n % 100 {
	case 0:
		code = 1
	case 1:
		code = 3
	}
	return b2see.BatchStatus{ID: id, Status: code, TimeoutMinutes: 1440}, nil
}

// bigWindow is n batches, newest first, as the cakes API lists them.
func bigWindow(n int) (*sliceSource, *idLookup) {
	src := &sliceSource{batches: make([]b2see.Record, n)}
	l := &idLookup{}
	products := []string{"aftersales_via_portal", "sales", "service_plan"}
	for i := range src.batches {
		id := int64(1_000_000 + i)
		src.batches[i] = b2see.Record{
			ID: id, HasID: true, ProductType: products[i%3], SendingUserName: "sender " + strconv.Itoa(i%40),
			DateCreated: t0.Add(-time.Duration(i) * time.Minute), DateSent: t0.Add(-time.Duration(i) * time.Minute),
			LandingPageWatchCount: int64(i % 4), VideoPlayCount: int64(i % 3),
		}
	}
	return src, l
}

func collectOnce(acc *Account) {
	ch := make(chan prometheus.Metric, 256)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	acc.collect(context.Background(), ch)
	close(ch)
	<-done
}

func TestStatusSteadyStateLookups(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 batches")
	}
	src, l := bigWindow(100_000)
	acc := newStatusAccount(src, l, &clock{t: t0}, nil)
	collectOnce(acc) // the first scrape asks for every batch
	if got := l.total.Load(); got != 100_000 {
		t.Fatalf("first scrape: %d lookups", got)
	}
	m := gather(t, collectorFor(acc))
	// The first read is the baseline: failures already there are not news.
	if m["b2see_batch_status,phase=running,status=processing"] != 1_000 || m["b2see_batch_failures_total"] != 0 {
		t.Fatalf("status metrics: %v", m)
	}
	for range 2 {
		before := l.total.Load()
		collectOnce(acc)
		if got := l.total.Load() - before; got > 1_000 {
			t.Errorf("a steady-state scrape made %d lookups, want 1,000 or fewer", got)
		}
	}
}

// BenchmarkStatusTracking measures steady-state scrapes of 100,000 batches,
// 1% not final, from memory, with and without status tracking.
func BenchmarkStatusTracking(b *testing.B) {
	for _, status := range []bool{false, true} {
		b.Run("status="+strconv.FormatBool(status), func(b *testing.B) {
			src, l := bigWindow(100_000)
			var acc *Account
			if status {
				acc = newStatusAccount(src, l, &clock{t: t0}, nil)
			} else {
				acc = newTestAccount(src, func(o *AccountOptions) { o.SenderLabel = true })
			}
			collectOnce(acc) // reach the steady state
			before := l.total.Load()
			n := 0
			for b.Loop() {
				collectOnce(acc)
				n++
			}
			b.ReportMetric(float64(l.total.Load()-before)/float64(n), "lookups/op")
		})
	}
}

func TestStatusFirstReadIsTheBaseline(t *testing.T) {
	l := newMemLookup()
	l.set(1, 3, 60)  // failed before the exporter started
	l.set(2, 0, 60)  // pending, overdue at start
	l.set(3, 1, 600) // running, not yet due
	l.set(4, 0, 60)  // lookup fails at first: learnt later, still baseline
	l.errs[4] = &b2see.StatusError{StatusCode: 502}
	clk := &clock{t: t0.Add(2 * time.Hour)}
	src := &memSource{batches: statusBatches(1, 2, 3, 4)}
	acc := newStatusAccount(src, l, clk, nil)
	c := collectorFor(acc)

	m := gather(t, c)
	if m["b2see_batch_failures_total"] != 0 || m["b2see_batch_timeouts_total"] != 0 {
		t.Errorf("first read: failures %v, timeouts %v; want the baseline, 0 and 0", m["b2see_batch_failures_total"], m["b2see_batch_timeouts_total"])
	}
	if m["b2see_batches_timed_out"] != 1 || m["b2see_batch_status,phase=failed,status=failed"] != 1 {
		t.Errorf("first read: the gauges must still show the state: timed out %v, failed %v", m["b2see_batches_timed_out"], m["b2see_batch_status,phase=failed,status=failed"])
	}

	// Later: batch 4 is learnt (baseline, overdue: not counted); batch 3
	// fails and batch 5 arrives failed: both news.
	l.mu.Lock()
	delete(l.errs, 4)
	l.mu.Unlock()
	l.set(3, 3, 600)
	l.set(5, 4, 60)
	later := clk.now().Add(time.Minute)
	clk.set(later)
	src.set(append(statusBatches(1, 2, 3, 4), statusBatchesAt(later, 5)...), nil)
	m = gather(t, c)
	if m["b2see_batch_failures_total"] != 2 || m["b2see_batch_timeouts_total"] != 0 {
		t.Errorf("after the baseline: failures %v (want 2), timeouts %v (want 0)", m["b2see_batch_failures_total"], m["b2see_batch_timeouts_total"])
	}

	// Batch 6 arrives pending and passes its timeout while watched: news.
	l.set(6, 0, 60)
	src.set(append(append(statusBatches(1, 2, 3, 4), statusBatchesAt(later, 5)...), statusBatchesAt(later, 6)...), nil)
	gather(t, c)
	clk.set(clk.now().Add(3 * time.Hour))
	m = gather(t, c)
	if m["b2see_batch_timeouts_total"] != 1 {
		t.Errorf("a batch passing its timeout after the baseline: timeouts %v, want 1", m["b2see_batch_timeouts_total"])
	}
}

func TestTimedOutOddDates(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	tests := []struct {
		name    string
		created time.Time
		timeout int32
		want    bool
	}{
		{"far future", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 60, false},
		{"far past", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), 60, true},
		{"huge timeout", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt32, false},
		{"just past", time.Date(2026, 11, 1, 10, 59, 59, 0, time.UTC), 60, true},
		{"just before", time.Date(2026, 11, 1, 11, 0, 1, 0, time.UTC), 60, false},
	}
	for _, tt := range tests {
		e := state.StatusEntry{Created: tt.created.Unix(), Timeout: tt.timeout, Flags: flagKnown, Phase: phaseRunning}
		if got := timedOut(&e, now); got != tt.want {
			t.Errorf("%s: timedOut = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestStatusMissingFromAnAnswerIsNotNews(t *testing.T) {
	l := newMemLookup()
	l.set(100, 2, 60)
	l.set(1, 3, 60)
	clk := &clock{t: t0}
	src := &memSource{}
	acc := newStatusAccount(src, l, clk, nil)
	c := collectorFor(acc)
	pastBaseline(t, acc, src, statusBatchesAt(t0.Add(time.Minute), 100, 1))
	clk.set(t0.Add(2 * time.Minute))
	if m := gather(t, c); m["b2see_batch_failures_total"] != 1 {
		t.Fatalf("failures %v, want 1", m["b2see_batch_failures_total"])
	}
	// An answer without batch 1, even an empty one, then batch 1 again.
	for _, gap := range [][]b2see.Record{statusBatchesAt(t0.Add(time.Minute), 100), nil} {
		src.set(gap, nil)
		gather(t, c)
		src.set(statusBatchesAt(t0.Add(time.Minute), 100, 1), nil)
		m := gather(t, c)
		if m["b2see_batch_failures_total"] != 1 {
			t.Errorf("after an answer of %d batches: failures %v, want still 1", len(gap), m["b2see_batch_failures_total"])
		}
		if m["b2see_batch_status,phase=failed,status=failed"] != 1 {
			t.Errorf("failed batches in the window = %v, want 1", m["b2see_batch_status,phase=failed,status=failed"])
		}
	}
}

func TestStatusWiderWindowIsNotNews(t *testing.T) {
	l := newMemLookup()
	l.set(1, 2, 60)
	l.set(2, 3, 60) // failed long ago
	clk := &clock{t: t0.Add(30 * 24 * time.Hour)}
	src := &memSource{batches: statusBatchesAt(t0.Add(29*24*time.Hour), 1)}
	acc := newStatusAccount(src, l, clk, nil)
	c := collectorFor(acc)
	gather(t, c)
	// The window is widened: batch 2, created before the memory started,
	// appears already failed.
	src.set(append(statusBatchesAt(t0.Add(29*24*time.Hour), 1), statusBatchesAt(t0, 2)...), nil)
	m := gather(t, c)
	if m["b2see_batch_failures_total"] != 0 {
		t.Errorf("an old failure that a wider window shows counted: failures %v", m["b2see_batch_failures_total"])
	}
	if m["b2see_batch_status,phase=failed,status=failed"] != 1 {
		t.Errorf("the gauge must still show it: %v", m["b2see_batch_status,phase=failed,status=failed"])
	}
}

func TestStatusUnreadableMemoryIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "north.status")
	// A directory where the file should be: unreadable as a file.
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	l := newMemLookup()
	l.set(1, 2, 60)
	acc := newStatusAccount(&memSource{batches: statusBatches(1)}, l, &clock{t: t0}, func(o *StatusOptions) { o.StateFile = path })
	if m := gather(t, collectorFor(acc)); m["b2see_up"] != 1 {
		t.Fatal("not up")
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("the unreadable memory was not moved aside: %v", aside)
	}
	if data, err := os.ReadFile(path); err != nil {
		t.Errorf("no new memory saved in its place: %v", err)
	} else if _, err := state.DecodeStatuses(data); err != nil {
		t.Errorf("the new memory does not decode: %v", err)
	}
}

func TestStatusRetryAfterHonoured(t *testing.T) {
	l := newMemLookup()
	for id := int64(1); id <= 5; id++ {
		l.set(id, 2, 60)
	}
	l.errs[1] = &b2see.RateLimitError{RetryAfter: time.Minute}
	clk := &clock{t: t0}
	acc := newStatusAccount(&memSource{batches: statusBatches(1, 2, 3, 4, 5)}, l, clk, func(o *StatusOptions) { o.Concurrency = 1 })
	c := collectorFor(acc)
	gather(t, c) // batch 1 comes first (never asked, lowest ID) and gets the 429
	if got := l.total.Load(); got != 1 {
		t.Fatalf("%d lookups in the round of the 429, want 1", got)
	}
	l.mu.Lock()
	delete(l.errs, 1)
	l.mu.Unlock()
	for _, at := range []time.Duration{time.Second, 59 * time.Second} {
		clk.set(t0.Add(at))
		m := gather(t, c)
		if got := l.total.Load(); got != 1 {
			t.Errorf("at +%v, within Retry-After: %d lookups, want still 1", at, got)
		}
		if m["b2see_batch_status_pending_lookups"] != 5 || m["b2see_up"] != 1 {
			t.Errorf("at +%v: pending %v, up %v", at, m["b2see_batch_status_pending_lookups"], m["b2see_up"])
		}
	}
	clk.set(t0.Add(61 * time.Second))
	m := gather(t, c)
	if got := l.total.Load(); got != 6 || m["b2see_batch_status_pending_lookups"] != 0 {
		t.Errorf("after Retry-After: %d lookups (want 6), pending %v", got, m["b2see_batch_status_pending_lookups"])
	}
}

// TestStatusLookupsForTheLatestScrape: the lookups of a shared read run
// until the latest deadline of the scrapes waiting, not the deadline of
// the scrape that started the read.
func TestStatusLookupsForTheLatestScrape(t *testing.T) {
	l := newMemLookup()
	var ids []int64
	for id := int64(1); id <= 15; id++ {
		ids = append(ids, id)
		l.set(id, 2, 60)
	}
	src := &memSource{batches: statusBatches(ids...), gate: make(chan struct{})}
	acc := newStatusAccount(src, l, &clock{t: t0}, nil)

	shortCtx, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	short := scrapeInBackground(shortCtx, acc)
	waitForJoin(t, acc, shortCtx) // the short scrape starts the read
	longCtx, cancelLong := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelLong()
	long := scrapeInBackground(longCtx, acc)
	waitForJoin(t, acc, longCtx)
	receive(t, "the short scrape", short)
	close(src.gate) // the cakes answer after the short scrape's deadline

	m := receive(t, "the long scrape", long)
	if m["b2see_up"] != 1 || m["b2see_batch_status_pending_lookups"] != 0 || m["b2see_batch_status,phase=succeeded,status=completed"] != 15 {
		t.Errorf("long scrape: up %v, pending %v, completed %v; want 1, 0 and 15",
			m["b2see_up"], m["b2see_batch_status_pending_lookups"], m["b2see_batch_status,phase=succeeded,status=completed"])
	}
}

// TestPhaseIndexesAreThePhases: the compact phase indexes name the phases
// of b2see, whose order they follow.
func TestPhaseIndexesAreThePhases(t *testing.T) {
	for idx, p := range map[uint8]b2see.Phase{
		phaseUnknown: b2see.PhaseUnknown, phasePending: b2see.PhasePending, phaseRunning: b2see.PhaseRunning,
		phaseSucceeded: b2see.PhaseSucceeded, phaseFailed: b2see.PhaseFailed,
	} {
		if phaseNames[idx] != string(p) || phaseIndex(string(p)) != idx {
			t.Errorf("index %d is %q, %q has index %d", idx, phaseNames[idx], p, phaseIndex(string(p)))
		}
	}
	if len(phaseNames) != 5 {
		t.Errorf("%d phase names, want 5: %v", len(phaseNames), phaseNames)
	}
}
