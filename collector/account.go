package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/internal/failure"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// Source reads an account's batch records; *b2see.Client is one.
type Source interface {
	Cakes(ctx context.Context, fn func(*b2see.Record) error) error
}

// AccountOptions describe one account.
type AccountOptions struct {
	// Name is the value of the account label.
	Name   string
	Source Source
	// SenderLabel keeps the sender label; without it the series of all
	// senders of a product type are summed, for accounts with very many
	// senders.
	SenderLabel bool
	// MinInterval, when positive, is the least time between two reads of
	// the upstream: scrapes within it are served from the last result.
	MinInterval time.Duration
	// Timeout bounds a read of the upstream, whatever the deadlines of the
	// scrapes waiting for it; DefaultTimeout when not positive.
	Timeout time.Duration
	// Counters, when set, keeps the account's counters (the *_total series
	// of the batch records) across scrapes and restarts. It must be the
	// account's own.
	Counters *state.Tracker
	Logger   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Status, when set, looks up the status of the window's batches in the
	// batches API; nil leaves the status metrics out.
	Status *StatusOptions
	// Caps bound the values of each upstream-valued label; the zero value
	// caps none.
	Caps LabelCaps
	// MaxSeries, when positive, is the most engagement series (window
	// gauges and counters) served for the account: past it they are
	// withheld.
	MaxSeries int
}

// DefaultTimeout bounds a read of the upstream when AccountOptions.Timeout
// is not set.
const DefaultTimeout = 30 * time.Second

// Account reads one B2see account and keeps what outlives a scrape: the
// last good window, the error counts and the upstream's request figures.
// Its methods are safe for concurrent use.
type Account struct {
	name string           // the account label; never changes
	now  func() time.Time // never changes
	// waiting counts scrapes waiting on a read in flight, for tests.
	waiting atomic.Int64
	// created is when the account was made, since when its scrape error
	// and request counts have counted; never changes.
	created time.Time

	mu          sync.Mutex
	opts        AccountOptions // Reconfigure replaces them
	flight      *flight        // the read in flight; nil when none
	caps        labelCaps      // the label values kept, from read to read
	logger      *slog.Logger
	status      *statusTracker // nil when status tracking is off
	last        *window        // last successful read
	lastSuccess time.Time
	lastAttempt time.Time
	lastResult  *readResult
	retryAt     time.Time     // no upstream call before, after a 429
	failing     failure.Latch // the failure last logged at warning level
	scrapeErrs  map[string]uint64
	withholding bool // engagement series are withheld for too many
	requests    map[requestKey]uint64
	durations   map[string]*histogram
}

type requestKey struct{ endpoint, outcome string }

// readResult is the outcome of one read of the upstream, shared by the
// scrapes that waited for it.
type readResult struct {
	err error
}

// flight is a read of the upstream in progress, shared by the scrapes
// that wait for it. Its fields are guarded by the account's mu.
type flight struct {
	done chan struct{} // closed once res is set
	res  *readResult
	// until is the latest deadline of the scrapes waiting, unless one of
	// them has none (unbounded). It bounds the status lookups, not the
	// read of the cakes.
	until     time.Time
	unbounded bool
}

// NewAccount returns an account that reads through opts.Source.
func NewAccount(opts AccountOptions) *Account {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	a := &Account{
		name:       opts.Name,
		opts:       opts,
		logger:     opts.Logger,
		now:        opts.Now,
		scrapeErrs: map[string]uint64{},
		requests:   map[requestKey]uint64{},
		durations:  map[string]*histogram{},
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.created = a.now()
	a.logger = a.logger.With("account", opts.Name)
	if opts.Status != nil {
		a.status = a.newStatusTracker(*opts.Status, opts.Counters)
	}
	return a
}

func (a *Account) newStatusTracker(opts StatusOptions, counters *state.Tracker) *statusTracker {
	return newStatusTracker(opts, counters, a.logger, a.now, func(err error, took time.Duration) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.countRequest("batches", err, took)
	})
}

// Name is the account's label value.
func (a *Account) Name() string { return a.name }

// Summary is what the landing page shows of an account.
type Summary struct {
	Name        string
	Up          bool
	LastAttempt time.Time // zero before the first read
	LastSuccess time.Time
	Batches     int64  // distinct batches in the last good read
	LastError   string // redacted; "" when the last read succeeded
}

// Summary reports the account's last read.
func (a *Account) Summary() Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Summary{Name: a.name, LastAttempt: a.lastAttempt, LastSuccess: a.lastSuccess}
	if a.last != nil {
		s.Batches = a.last.batchCount()
	}
	if a.lastResult != nil {
		s.Up = a.lastResult.err == nil
		if a.lastResult.err != nil {
			s.LastError = a.lastResult.err.Error()
		}
	}
	return s
}

// rateLimitedUntil is the error of a scrape that did not call the
// upstream because a 429's Retry-After asked to wait.
type rateLimitedUntil struct{ until time.Time }

func (e rateLimitedUntil) Error() string {
	return fmt.Sprintf("upstream asked to wait until %s (429 Retry-After): not calling it before", e.until.UTC().Format(time.RFC3339))
}

// scrape returns the account's result for one scrape: a fresh read, or the
// last result within the minimum interval, or an error.
func (a *Account) scrape(ctx context.Context) (res *readResult, win *window, lastSuccess time.Time) {
	now := a.now()
	var f *flight
	a.mu.Lock()
	switch {
	case a.lastResult != nil && a.opts.MinInterval > 0 && now.Sub(a.lastAttempt) < a.opts.MinInterval:
		res = a.lastResult
	case now.Before(a.retryAt):
		res = &readResult{err: rateLimitedUntil{a.retryAt}}
	default:
		f = a.join(ctx)
	}
	a.mu.Unlock()

	if f != nil {
		a.waiting.Add(1)
		select {
		case <-f.done:
			res = f.res
		case <-ctx.Done():
			// This scrape alone gives up: the read goes on for the others,
			// and only its own outcome becomes the account's.
			res = &readResult{err: &b2see.TimeoutError{Op: "waiting for the upstream"}}
		}
		a.waiting.Add(-1)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if res.err != nil {
		a.scrapeErrs[reason(res.err)]++
	}
	return res, a.last, a.lastSuccess
}

// join returns the read in flight, starting one when there is none, and
// counts ctx's deadline among those of the scrapes waiting. a.mu must be
// held.
func (a *Account) join(ctx context.Context) *flight {
	f := a.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		a.flight = f
		go a.fly(f, a.opts.Timeout)
	}
	if dl, ok := ctx.Deadline(); !ok {
		f.unbounded = true
	} else if dl.After(f.until) {
		f.until = dl
	}
	return f
}

// fly runs the read of f within the account's own timeout, not within the
// deadline of the scrape that started it: a scrape that gives up early,
// or asks for a tiny timeout, must not cut short the read that others wait
// for, nor make its failure the account's.
func (a *Account) fly(f *flight, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := a.read(ctx, f)
	a.mu.Lock()
	f.res = res
	a.flight = nil
	a.mu.Unlock()
	close(f.done)
}

// reason is b2see.Reason, and rate_limited for a call we did not make.
func reason(err error) string {
	if err == nil {
		// The common case, once per status lookup: the targets of
		// errors.As below, here and in b2see.Reason, are allocated even
		// for no error.
		return ""
	}
	var rl rateLimitedUntil
	if errors.As(err, &rl) {
		return b2see.ReasonRateLimited
	}
	return b2see.Reason(err)
}

// read calls the upstream once and records the outcome. After a good read
// of the cakes, the status lookups get what is left of ctx's time, up to
// the latest deadline of the scrapes waiting on f (when f is not nil):
// lookups that no scrape would wait for are left for the next read.
func (a *Account) read(ctx context.Context, f *flight) *readResult {
	a.mu.Lock()
	opts, logger := a.opts, a.logger // Reconfigure may change them meanwhile
	a.mu.Unlock()
	start := a.now()
	w := newWindow(opts.SenderLabel)
	w.pre = a.caps.begin(opts.Caps)
	var counting *state.Staged
	if opts.Counters != nil {
		counting = opts.Counters.Begin()
	}
	status := a.statusTracker()
	var refs *batchList
	if status != nil {
		refs = status.takeRefs()
	}
	distinct := 0
	garbage := newGarbageBound(readGarbage, garbageCheckEveryRecords)
	var o state.Observation
	err := opts.Source.Cakes(ctx, func(b *b2see.Record) error {
		garbage.tick()
		switch {
		case counting != nil && b.HasID:
			// The counters' staging knows the batches of the read: it tells
			// the duplicates without a set of IDs of its own.
			k := w.keyOf(b)
			observation(&o, b, &k)
			if !counting.Add(&o) {
				w.addDuplicate()
				return nil
			}
			w.addNew(b, &k)
		case !w.add(b) || !b.HasID:
			return nil
		}
		// What a read keeps until it is whole (the staged records, the
		// IDs seen, the window's list) grows with each batch: past what
		// the state can hold, the answer fails rather than the memory.
		if distinct++; distinct > maxBatches {
			return &b2see.TooLargeError{Records: maxBatches}
		}
		if status != nil {
			refs.add(b)
		}
		return nil
	})
	took := a.now().Sub(start)
	if err == nil {
		var fold func(cappedLabel, string) string
		w, fold = a.caps.apply(w, opts.Caps, logger)
		if counting != nil && fold != nil {
			counting.MapLabels(counterLabels(fold))
		}
	}
	w.seen = nil // the window is kept until the next read; its IDs are not needed
	if counting != nil {
		// Only a whole answer counts: a partial one would see batches
		// vanish and counts stop short.
		if err == nil {
			counting.Commit(start) // a failed save is logged and exported by the tracker
		} else {
			counting.Discard()
		}
	}
	res := a.record(w, opts.SenderLabel, err, start, took)
	if distinct >= largeRead {
		releaseRead()
	}
	if err == nil && status != nil {
		lctx, cancel := a.lookupContext(ctx, f)
		status.refresh(lctx, refs)
		cancel()
		if distinct >= largeRead {
			releaseRead() // and what the lookups left
		}
	}
	return res
}

// largeRead is the number of batches past which a read's garbage is worth
// collecting at once. Below it the garbage is a few tens of MB at most, and
// collecting and returning it costs more time than it saves memory (about
// a fifth of a scrape of 100,000 batches with status lookups).
const largeRead = 250_000

// releaseRead collects what a large read of the cakes left and gives it
// back to the system. A read stages its batches until it is whole, so the
// heap peaks at its end; left to itself, the collector would set its next
// goal from that peak and let the garbage of the status lookups and of the
// following reads grow to twice it. Once collected, the heap goes on from
// what outlives a scrape. A collection of a heap without pointers takes a
// few milliseconds.
func releaseRead() { debug.FreeOSMemory() }

// maxBatches is the most distinct batches a read of an account takes:
// what the state of an account can hold.
const maxBatches = state.MaxBatches

// lookupContext is ctx, ending by the latest deadline of the scrapes
// waiting on f.
func (a *Account) lookupContext(ctx context.Context, f *flight) (context.Context, context.CancelFunc) {
	if f == nil {
		return context.WithCancel(ctx)
	}
	a.mu.Lock()
	until, unbounded := f.until, f.unbounded
	a.mu.Unlock()
	if unbounded {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, until)
}

// record keeps the outcome of a read of the cakes.
func (a *Account) record(w *window, senderLabel bool, err error, start time.Time, took time.Duration) *readResult {
	res := &readResult{err: err}

	a.mu.Lock()
	defer a.mu.Unlock()
	a.countRequest("cakes", err, took)
	a.lastAttempt, a.lastResult = start, res
	if err == nil {
		if senderLabel == a.opts.SenderLabel {
			a.last = w
		}
		// The data is as of the end of the read: a fresh read is 0 s old,
		// however long it took.
		a.lastSuccess = start.Add(took)
		if a.failing.Clear() {
			a.logger.Info("B2see API answers again")
		}
		return res
	}
	var rl *b2see.RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		a.retryAt = start.Add(rl.RetryAfter)
	}
	// Log a failure once when it starts or changes, not on every scrape.
	if a.failing.Fail(failureKey(err)) {
		a.logger.Warn("reading the B2see API failed", "reason", reason(err), "err", err.Error())
	} else {
		a.logger.Debug("reading the B2see API still fails", "reason", reason(err), "err", err.Error())
	}
	return res
}

// failureKey tells one failure from another for logging: the reason, and
// the message where it is stable. Network errors name a fresh local port
// each time, body errors a byte offset, rate limits a time to wait.
func failureKey(err error) string {
	switch r := reason(err); r {
	case b2see.ReasonNetwork, b2see.ReasonTimeout, b2see.ReasonBadBody, b2see.ReasonRateLimited, b2see.ReasonTooLarge:
		return r
	default:
		return r + ": " + err.Error()
	}
}

// countRequest records one upstream request. a.mu must be held.
func (a *Account) countRequest(endpoint string, err error, took time.Duration) {
	outcome := reason(err)
	if outcome == "" {
		outcome = "success"
	}
	a.requests[requestKey{endpoint, outcome}]++
	h := a.durations[endpoint]
	if h == nil {
		h = newHistogram(requestDurationBuckets)
		a.durations[endpoint] = h
	}
	h.observe(took.Seconds())
}

// collect scrapes the account and emits its metrics.
func (a *Account) collect(ctx context.Context, ch chan<- prometheus.Metric) {
	start := time.Now()
	res, win, lastSuccess := a.scrape(ctx)
	name := a.name
	e := emitter(ch)
	up := 0.0
	if res.err == nil {
		up = 1
	}
	e.gauge(upDesc, up, name)
	e.gauge(scrapeDurationDesc, time.Since(start).Seconds(), name)
	if !lastSuccess.IsZero() {
		e.gauge(lastSuccessDesc, float64(lastSuccess.UnixNano())/1e9, name)
		e.gauge(dataAgeDesc, max(a.now().Sub(lastSuccess).Seconds(), 0), name)
	}
	totals, withheld := a.engagement(win)
	if win != nil {
		if !withheld {
			win.collect(ch, name)
		}
		win.collectLabels(ch, name)
	}

	// Copy under the lock, send after it: a slow reader of ch must not hold
	// up the account's reads.
	var own []prometheus.Metric
	a.mu.Lock()
	counters, status := a.opts.Counters, a.status
	for _, r := range scrapeErrorReasons {
		own = append(own, counter(scrapeErrorsDesc, float64(a.scrapeErrs[r]), a.created, name, r))
	}
	keys := make([]requestKey, 0, len(a.requests))
	for k := range a.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].endpoint+keys[i].outcome < keys[j].endpoint+keys[j].outcome })
	for _, k := range keys {
		own = append(own, counter(upstreamRequestsDesc, float64(a.requests[k]), a.created, name, k.endpoint, k.outcome))
	}
	for endpoint, h := range a.durations {
		own = append(own, h.metric(upstreamDurationDesc, a.created, name, endpoint))
	}
	a.mu.Unlock()
	for _, m := range own {
		ch <- m
	}

	if counters != nil {
		// Also when the scrape failed: counters must not vanish.
		collectCounters(ch, counters, totals, name)
	}
	if status != nil {
		status.collect(ch, name, a.now())
	}
}

// scrapeErrorReasons are exported from the start at 0, so that rate() and
// increase() see the first failure.
var scrapeErrorReasons = []string{
	b2see.ReasonMisconfigured, b2see.ReasonUnauthorized, b2see.ReasonRateLimited,
	b2see.ReasonUpstreamError, b2see.ReasonTimeout, b2see.ReasonBadBody,
	b2see.ReasonTooLarge, b2see.ReasonNetwork, b2see.ReasonRedirect, reasonTooManySeries,
}

var requestDurationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// statusTracker returns the account's status tracker, nil when off.
func (a *Account) statusTracker() *statusTracker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Reconfigure gives the account new options, after a reload, keeping what
// it has learnt: error and request counts, the time a 429 asked to wait
// and, unless the labels change, the last good data. opts.Name must be the
// account's name.
func (a *Account) Reconfigure(opts AccountOptions) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SenderLabel != a.opts.SenderLabel {
		// The last window's series have the other label shape.
		a.last = nil
	}
	opts.Name = a.name
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	a.logger = opts.Logger.With("account", a.name)
	opts.Now = a.opts.Now // the clock is the account's for life: scrapes read it unlocked
	switch {
	case opts.Status == nil:
		a.status = nil
	case a.status == nil:
		a.status = a.newStatusTracker(*opts.Status, opts.Counters)
	default:
		// Keep what is known of the batches; take the new client and mapping.
		a.status.reconfigure(*opts.Status)
	}
	a.opts = opts
}
