package collector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// memSource is a Source over batches held in memory.
type memSource struct {
	mu      sync.Mutex
	batches []b2see.Record
	err     error         // returned after the batches
	calls   atomic.Int64  // reads started
	gate    chan struct{} // when set, reads wait for it
}

func (s *memSource) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
		}
		// As a real client, whose deadline passed while it waited.
		if dl, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(dl) {
			return &b2see.TimeoutError{Op: "connecting"}
		}
	}
	s.mu.Lock()
	bs, err := append([]b2see.Record(nil), s.batches...), s.err
	s.mu.Unlock()
	for i := range bs {
		if err := fn(&bs[i]); err != nil {
			return err
		}
	}
	return err
}

func (s *memSource) set(bs []b2see.Record, err error) {
	s.mu.Lock()
	s.batches, s.err = bs, err
	s.mu.Unlock()
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func testBatches() []b2see.Record {
	return []b2see.Record{
		{ID: 1, HasID: true, ProductType: "aftersales_via_portal", SendingUserName: "Rory Walsh",
			DateCreated: t0, DateSent: t0.Add(time.Minute), LandingPageFirstWatched: t0.Add(11 * time.Minute),
			LandingPageWatchCount: 3, VideoPlayCount: 4, ImageLinkClicks: 1, GoogleClicks: 2,
			CustomerActionState: "accepted", CustomerActionPrice: 149.99, CustomerActionPaymentOutcome: "paid",
			CustomerRating: 5, HasRating: true},
		{ID: 2, HasID: true, ProductType: "aftersales_via_portal", SendingUserName: "Rory Walsh",
			DateCreated: t0, DateSent: t0.Add(time.Minute), LandingPageFirstWatched: t0.Add(3 * 24 * time.Hour),
			LandingPageWatchCount: 1, VideoPlayCount: 1, FacebookClicks: 1,
			CustomerActionState: "accepted", CustomerActionPrice: 20.01, CustomerRating: 5.0, HasRating: true},
		// The same batch again: counts once.
		{ID: 2, HasID: true, ProductType: "aftersales_via_portal", SendingUserName: "Rory Walsh",
			LandingPageWatchCount: 100, VideoPlayCount: 100},
		{ID: 3, HasID: true, ProductType: "", SendingUserName: "", DateCreated: t0},
	}
}

func newTestAccount(src Source, mod func(*AccountOptions)) *Account {
	opts := AccountOptions{Name: "north", Source: src, SenderLabel: true, Now: func() time.Time { return t0 }}
	if mod != nil {
		mod(&opts)
	}
	return NewAccount(opts)
}

const windowMetrics = `
# HELP b2see_window_batches Batches in the history window.
# TYPE b2see_window_batches gauge
b2see_window_batches{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 2
b2see_window_batches{account="north",product_type="unknown",sender="unknown"} 1
# HELP b2see_window_batches_sent Batches in the history window that were sent.
# TYPE b2see_window_batches_sent gauge
b2see_window_batches_sent{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 2
b2see_window_batches_sent{account="north",product_type="unknown",sender="unknown"} 0
# HELP b2see_window_batches_watched Batches in the history window whose landing page was watched at least once.
# TYPE b2see_window_batches_watched gauge
b2see_window_batches_watched{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 2
b2see_window_batches_watched{account="north",product_type="unknown",sender="unknown"} 0
# HELP b2see_window_customer_action_value Sum of the customer action prices of the batches in the history window, by state, in the account's currency.
# TYPE b2see_window_customer_action_value gauge
b2see_window_customer_action_value{account="north",product_type="aftersales_via_portal",sender="Rory Walsh",state="accepted"} 170
# HELP b2see_window_customer_actions Batches in the history window by the state of the customer's action.
# TYPE b2see_window_customer_actions gauge
b2see_window_customer_actions{account="north",product_type="aftersales_via_portal",sender="Rory Walsh",state="accepted"} 2
# HELP b2see_window_customer_payment_outcomes Batches in the history window by the outcome of the customer's payment.
# TYPE b2see_window_customer_payment_outcomes gauge
b2see_window_customer_payment_outcomes{account="north",outcome="paid",product_type="aftersales_via_portal",sender="Rory Walsh"} 1
# HELP b2see_window_customer_ratings Batches in the history window by the customer's rating.
# TYPE b2see_window_customer_ratings gauge
b2see_window_customer_ratings{account="north",product_type="aftersales_via_portal",rating="5",sender="Rory Walsh"} 2
# HELP b2see_window_landing_page_watches Landing page watches of the batches in the history window.
# TYPE b2see_window_landing_page_watches gauge
b2see_window_landing_page_watches{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 4
b2see_window_landing_page_watches{account="north",product_type="unknown",sender="unknown"} 0
# HELP b2see_window_link_clicks Link clicks on the landing pages of the batches in the history window, by link.
# TYPE b2see_window_link_clicks gauge
b2see_window_link_clicks{account="north",link="facebook",product_type="aftersales_via_portal",sender="Rory Walsh"} 1
b2see_window_link_clicks{account="north",link="facebook",product_type="unknown",sender="unknown"} 0
b2see_window_link_clicks{account="north",link="google",product_type="aftersales_via_portal",sender="Rory Walsh"} 2
b2see_window_link_clicks{account="north",link="google",product_type="unknown",sender="unknown"} 0
b2see_window_link_clicks{account="north",link="image",product_type="aftersales_via_portal",sender="Rory Walsh"} 1
b2see_window_link_clicks{account="north",link="image",product_type="unknown",sender="unknown"} 0
# HELP b2see_window_time_to_first_watch_seconds Time from sending a batch to the first watch of its landing page, over the batches in the history window.
# TYPE b2see_window_time_to_first_watch_seconds histogram
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="60"} 0
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="300"} 0
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="900"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="1800"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="3600"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="7200"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="14400"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="28800"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="43200"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="86400"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="172800"} 1
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="345600"} 2
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="604800"} 2
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="1.2096e+06"} 2
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="2.592e+06"} 2
b2see_window_time_to_first_watch_seconds_bucket{account="north",product_type="aftersales_via_portal",le="+Inf"} 2
b2see_window_time_to_first_watch_seconds_sum{account="north",product_type="aftersales_via_portal"} 259740
b2see_window_time_to_first_watch_seconds_count{account="north",product_type="aftersales_via_portal"} 2
# HELP b2see_window_video_plays Video plays of the batches in the history window.
# TYPE b2see_window_video_plays gauge
b2see_window_video_plays{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 5
b2see_window_video_plays{account="north",product_type="unknown",sender="unknown"} 0
`

var windowMetricNames = []string{
	"b2see_window_batches", "b2see_window_batches_sent", "b2see_window_batches_watched", "b2see_window_customer_action_value",
	"b2see_window_customer_actions", "b2see_window_customer_payment_outcomes", "b2see_window_customer_ratings",
	"b2see_window_landing_page_watches", "b2see_window_link_clicks", "b2see_window_time_to_first_watch_seconds", "b2see_window_video_plays",
}

func collectorFor(accounts ...*Account) *Collector {
	return New(context.Background(), accounts, 0)
}

func TestWindowMetrics(t *testing.T) {
	acc := newTestAccount(&memSource{batches: testBatches()}, nil)
	if err := testutil.CollectAndCompare(collectorFor(acc), strings.NewReader(windowMetrics), windowMetricNames...); err != nil {
		t.Fatal(err)
	}
}

func TestSenderLabelOff(t *testing.T) {
	acc := newTestAccount(&memSource{batches: testBatches()}, func(o *AccountOptions) { o.SenderLabel = false })
	want := `
# HELP b2see_window_batches Batches in the history window.
# TYPE b2see_window_batches gauge
b2see_window_batches{account="north",product_type="aftersales_via_portal",sender=""} 2
b2see_window_batches{account="north",product_type="unknown",sender=""} 1
`
	if err := testutil.CollectAndCompare(collectorFor(acc), strings.NewReader(want), "b2see_window_batches"); err != nil {
		t.Fatal(err)
	}
}

func TestLint(t *testing.T) {
	acc := newTestAccount(&memSource{batches: testBatches()}, nil)
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

func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "account" {
					continue
				}
				key += "," + lp.GetName() + "=" + lp.GetValue()
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestFailureKeepsLastGoodData(t *testing.T) {
	src := &memSource{batches: testBatches()}
	now := t0
	acc := newTestAccount(src, func(o *AccountOptions) { o.Now = func() time.Time { return now } })
	c := collectorFor(acc)

	first := gather(t, c)
	if first["b2see_up"] != 1 || first["b2see_window_batches,product_type=aftersales_via_portal,sender=Rory Walsh"] != 2 {
		t.Fatalf("first scrape: %v", first)
	}

	// A read that fails half way: nothing of it may show.
	now = t0.Add(time.Minute)
	src.set(append(testBatches(), b2see.Record{ID: 9, HasID: true, ProductType: "new"}), &b2see.BodyError{Reason: "truncated"})
	second := gather(t, c)
	if second["b2see_up"] != 0 {
		t.Errorf("up = %v after a failure", second["b2see_up"])
	}
	if second["b2see_scrape_errors_total,reason=bad_body"] != 1 {
		t.Errorf("bad_body errors = %v", second["b2see_scrape_errors_total,reason=bad_body"])
	}
	if _, ok := second["b2see_window_batches,product_type=new,sender=unknown"]; ok {
		t.Error("a failed read's records were exported")
	}
	for k, v := range first {
		if strings.HasPrefix(k, "b2see_window_batches") || strings.HasPrefix(k, "b2see_window_video_plays") {
			if second[k] != v {
				t.Errorf("%s = %v after a failure, was %v", k, second[k], v)
			}
		}
	}
	if second["b2see_data_age_seconds"] != 60 {
		t.Errorf("data age = %v, want 60", second["b2see_data_age_seconds"])
	}
	if second["b2see_upstream_requests_total,endpoint=cakes,outcome=bad_body"] != 1 ||
		second["b2see_upstream_requests_total,endpoint=cakes,outcome=success"] != 1 {
		t.Errorf("upstream requests: %v", second)
	}

	// Recovery.
	src.set(testBatches(), nil)
	if third := gather(t, c); third["b2see_up"] != 1 || third["b2see_data_age_seconds"] != 0 {
		t.Errorf("after recovery: up %v, age %v", third["b2see_up"], third["b2see_data_age_seconds"])
	}
}

func TestOneAccountDownOthersUp(t *testing.T) {
	good := newTestAccount(&memSource{batches: testBatches()}, nil)
	bad := newTestAccount(&memSource{err: &b2see.StatusError{StatusCode: 503}}, func(o *AccountOptions) { o.Name = "south" })
	want := `
# HELP b2see_up 1 if the last read of the account's Batch Data API succeeded, 0 if it failed.
# TYPE b2see_up gauge
b2see_up{account="north"} 1
b2see_up{account="south"} 0
`
	if err := testutil.CollectAndCompare(collectorFor(good, bad), strings.NewReader(want), "b2see_up"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentScrapesShareOneRead(t *testing.T) {
	src := &memSource{batches: testBatches(), gate: make(chan struct{})}
	acc := newTestAccount(src, nil)
	const scrapes = 50
	var started, done sync.WaitGroup
	ups := make(chan float64, scrapes)
	for range scrapes {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			ch := make(chan prometheus.Metric, 1000)
			acc.collect(context.Background(), ch)
			close(ch)
			for m := range ch {
				if m.Desc() == upDesc {
					var pb dto.Metric
					if err := m.Write(&pb); err != nil {
						t.Error(err)
					}
					ups <- pb.GetGauge().GetValue()
				}
			}
		}()
	}
	started.Wait()
	// Let the read finish only once every scrape is waiting on it.
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	waitForWaiters(t, acc, scrapes)
	close(src.gate)
	done.Wait()
	close(ups)
	n := 0
	for up := range ups {
		n++
		if up != 1 {
			t.Errorf("up = %v", up)
		}
	}
	if n != scrapes {
		t.Errorf("%d scrapes answered, want %d", n, scrapes)
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("%d upstream reads for %d concurrent scrapes, want 1", got, scrapes)
	}
}

// waitForWaiters waits until n scrapes share the account's read in flight.
func waitForWaiters(t *testing.T, acc *Account, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for acc.waiting.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d scrapes waiting", acc.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMinInterval(t *testing.T) {
	src := &memSource{batches: testBatches()}
	now := t0
	acc := newTestAccount(src, func(o *AccountOptions) {
		o.MinInterval = time.Minute
		o.Now = func() time.Time { return now }
	})
	c := collectorFor(acc)
	gather(t, c)
	now = t0.Add(30 * time.Second)
	m := gather(t, c)
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("%d reads within the minimum interval, want 1", got)
	}
	if m["b2see_data_age_seconds"] != 30 || m["b2see_up"] != 1 {
		t.Errorf("cached scrape: age %v up %v", m["b2see_data_age_seconds"], m["b2see_up"])
	}
	now = t0.Add(61 * time.Second)
	gather(t, c)
	if got := src.calls.Load(); got != 2 {
		t.Errorf("%d reads after the interval, want 2", got)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	src := &memSource{err: &b2see.RateLimitError{RetryAfter: 2 * time.Minute}}
	now := t0
	acc := newTestAccount(src, func(o *AccountOptions) { o.Now = func() time.Time { return now } })
	c := collectorFor(acc)
	gather(t, c)
	src.set(testBatches(), nil)
	for _, after := range []time.Duration{time.Second, time.Minute, 119 * time.Second} {
		now = t0.Add(after)
		m := gather(t, c)
		if m["b2see_up"] != 0 {
			t.Errorf("up = 1 at +%v, before Retry-After passed", after)
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("%d upstream calls before Retry-After passed, want 1", got)
	}
	now = t0.Add(2 * time.Minute)
	m := gather(t, c)
	if m["b2see_up"] != 1 || src.calls.Load() != 2 {
		t.Errorf("after Retry-After: up %v, calls %d", m["b2see_up"], src.calls.Load())
	}
	if m["b2see_scrape_errors_total,reason=rate_limited"] != 4 {
		t.Errorf("rate_limited scrape errors = %v, want 4", m["b2see_scrape_errors_total,reason=rate_limited"])
	}
	if m["b2see_upstream_requests_total,endpoint=cakes,outcome=rate_limited"] != 1 {
		t.Errorf("rate limited requests = %v, want 1", m["b2see_upstream_requests_total,endpoint=cakes,outcome=rate_limited"])
	}
}

func TestScrapeDeadline(t *testing.T) {
	src := &memSource{gate: make(chan struct{})}
	defer close(src.gate)
	acc := newTestAccount(src, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	m := gather(t, New(ctx, []*Account{acc}, 0))
	if m["b2see_up"] != 0 || m["b2see_scrape_errors_total,reason=timeout"] != 1 {
		t.Errorf("up %v, timeouts %v", m["b2see_up"], m["b2see_scrape_errors_total,reason=timeout"])
	}
}

func TestFailureLoggedOnce(t *testing.T) {
	src := &memSource{err: &b2see.StatusError{StatusCode: 503}}
	logger, logs := testlog.Logger()
	acc := newTestAccount(src, func(o *AccountOptions) { o.Logger = logger })
	c := collectorFor(acc)
	for range 3 {
		gather(t, c)
	}
	got := strings.Count(logs.String(), "level=WARN")
	if got != 1 {
		t.Errorf("%d warnings for 3 identical failures, want 1:\n%s", got, logs.String())
	}
	src.set(nil, errors.New("read tcp 127.0.0.1:40001->127.0.0.1:80: connection reset by peer"))
	gather(t, c)
	if got := strings.Count(logs.String(), "level=WARN"); got != 2 {
		t.Errorf("a new failure was not logged:\n%s", logs.String())
	}
	// The same failure through another local port is the same failure.
	src.set(nil, errors.New("read tcp 127.0.0.1:40002->127.0.0.1:80: connection reset by peer"))
	gather(t, c)
	if got := strings.Count(logs.String(), "level=WARN"); got != 2 {
		t.Errorf("the same network failure logged again at warning level:\n%s", logs.String())
	}
}

// TestReconfigureWhileScraping is for the race detector: a reload gives an
// account new options while scrapes read it.
func TestReconfigureWhileScraping(t *testing.T) {
	src := &memSource{batches: testBatches()}
	acc := newTestAccount(src, nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var scrapes atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				ch := make(chan prometheus.Metric, 1000)
				acc.collect(context.Background(), ch)
				close(ch)
				for range ch {
				}
				_ = acc.Summary()
				_ = acc.Name()
				scrapes.Add(1)
			}
		}()
	}
	// Reload until the scrapes have run alongside for a while, the last
	// time (an odd i) with the sender label off.
	i := 0
	for ; scrapes.Load() < 200 || i%2 == 1; i++ {
		opts := AccountOptions{Name: "ignored: the name stays", Source: src, SenderLabel: i%2 == 0,
			Counters: state.Open(state.Options{Account: "north"})}
		if i%3 == 0 {
			opts.Status = &StatusOptions{Client: newMemLookup(), Statuses: exampleStatuses}
		}
		acc.Reconfigure(opts)
	}
	close(done)
	wg.Wait()
	if acc.Name() != "north" {
		t.Errorf("name %q after reloads, want north", acc.Name())
	}
	// The last options hold: the sender label is off.
	ch := make(chan prometheus.Metric, 1000)
	acc.collect(context.Background(), ch)
	close(ch)
	for m := range ch {
		if m.Desc() == batchesDesc {
			var pb dto.Metric
			m.Write(&pb)
			for _, lp := range pb.GetLabel() {
				if lp.GetName() == "sender" && lp.GetValue() != "" {
					t.Errorf("sender label %q after turning it off", lp.GetValue())
				}
			}
		}
	}
}

// slowSource takes its time: the clock moves on while it answers.
type slowSource struct {
	clk  *clock
	took time.Duration
}

func (s slowSource) Cakes(_ context.Context, fn func(*b2see.Record) error) error {
	s.clk.set(s.clk.now().Add(s.took))
	b := testBatches()[0]
	return fn(&b)
}

func TestDataAgeOfAFreshReadIsZero(t *testing.T) {
	clk := &clock{t: t0}
	acc := newTestAccount(slowSource{clk: clk, took: 5 * time.Second}, func(o *AccountOptions) { o.Now = clk.now })
	m := gather(t, collectorFor(acc))
	if m["b2see_data_age_seconds"] != 0 {
		t.Errorf("data age %v after a fresh read of 5 s, want 0", m["b2see_data_age_seconds"])
	}
	if want := float64(t0.Add(5 * time.Second).Unix()); m["b2see_last_success_timestamp_seconds"] != want {
		t.Errorf("last success %v, want the end of the read, %v", m["b2see_last_success_timestamp_seconds"], want)
	}
}

// Every reason a read can fail for is exported at 0 from the first scrape,
// so that rate() and increase() see the first failure of each.
func TestScrapeErrorReasonsStartAtZero(t *testing.T) {
	m := gather(t, collectorFor(newTestAccount(&memSource{batches: testBatches()}, nil)))
	for _, r := range []string{
		b2see.ReasonMisconfigured, b2see.ReasonUnauthorized, b2see.ReasonRateLimited,
		b2see.ReasonUpstreamError, b2see.ReasonTimeout, b2see.ReasonBadBody,
		b2see.ReasonTooLarge, b2see.ReasonNetwork, b2see.ReasonRedirect,
	} {
		if v, ok := m["b2see_scrape_errors_total,reason="+r]; !ok || v != 0 {
			t.Errorf("b2see_scrape_errors_total{reason=%q} = %v (exported: %v), want 0", r, v, ok)
		}
	}
}

// scrapeInBackground scrapes acc within ctx and sends what it gathered,
// by metric name and labels other than account, once it answers.
func scrapeInBackground(ctx context.Context, acc *Account) <-chan map[string]float64 {
	out := make(chan map[string]float64, 1)
	go func() {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(New(ctx, []*Account{acc}, 1))
		mfs, _ := reg.Gather()
		m := map[string]float64{}
		for _, mf := range mfs {
			for _, pb := range mf.GetMetric() {
				key := mf.GetName()
				for _, lp := range pb.GetLabel() {
					if lp.GetName() != "account" {
						key += "," + lp.GetName() + "=" + lp.GetValue()
					}
				}
				switch {
				case pb.Gauge != nil:
					m[key] = pb.Gauge.GetValue()
				case pb.Counter != nil:
					m[key] = pb.Counter.GetValue()
				}
			}
		}
		out <- m
	}()
	return out
}

// waitForJoin waits until the scrape of ctx, whose deadline is the latest
// so far, has joined the account's read in flight.
func waitForJoin(t *testing.T, acc *Account, ctx context.Context) {
	t.Helper()
	want, _ := ctx.Deadline()
	deadline := time.Now().Add(10 * time.Second)
	for {
		acc.mu.Lock()
		joined := acc.flight != nil && acc.flight.until.Equal(want)
		acc.mu.Unlock()
		if joined {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the scrape did not join the read in flight")
		}
		time.Sleep(time.Millisecond)
	}
}

// receive waits a bounded time for a scrape's answer.
func receive(t *testing.T, what string, ch <-chan map[string]float64) map[string]float64 {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not answer", what)
		return nil
	}
}

// TestShortScrapeDoesNotCutSharedRead is the README's high-availability
// pair: two scrapes with different deadlines share one read, and the one
// that gives up first cannot make the other fail.
func TestShortScrapeDoesNotCutSharedRead(t *testing.T) {
	src := &memSource{batches: testBatches(), gate: make(chan struct{})}
	acc := newTestAccount(src, nil)

	shortCtx, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	short := scrapeInBackground(shortCtx, acc)
	waitForJoin(t, acc, shortCtx) // the short scrape starts the read
	longCtx, cancelLong := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelLong()
	long := scrapeInBackground(longCtx, acc)
	waitForJoin(t, acc, longCtx)

	// The short one answers by its own deadline, the read still going on.
	if m := receive(t, "the short scrape", short); m["b2see_up"] != 0 || m["b2see_scrape_errors_total,reason=timeout"] != 1 {
		t.Errorf("short scrape: up %v, timeouts %v; want 0 and 1", m["b2see_up"], m["b2see_scrape_errors_total,reason=timeout"])
	}
	close(src.gate)
	m := receive(t, "the long scrape", long)
	if m["b2see_up"] != 1 || m["b2see_window_batches,product_type=aftersales_via_portal,sender=Rory Walsh"] != 2 {
		t.Errorf("the long scrape sharing the read: up %v, batches %v; want 1 and 2 (last error %q)",
			m["b2see_up"], m["b2see_window_batches,product_type=aftersales_via_portal,sender=Rory Walsh"], acc.Summary().LastError)
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("%d upstream reads for two overlapping scrapes, want 1", got)
	}
	if s := acc.Summary(); !s.Up || s.LastError != "" {
		t.Errorf("the account is down after a read that succeeded: %q", s.LastError)
	}
}

// TestCallerTimeoutNotCached: a scrape that gives up by its own deadline
// fails alone. Within the minimum interval, the next scrape is served the
// outcome of the read, not that scrape's timeout.
func TestCallerTimeoutNotCached(t *testing.T) {
	src := &memSource{batches: testBatches(), gate: make(chan struct{})}
	acc := newTestAccount(src, func(o *AccountOptions) { o.MinInterval = 5 * time.Minute })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if m := gather(t, New(ctx, []*Account{acc}, 0)); m["b2see_up"] != 0 {
		t.Fatalf("a scrape whose deadline passed before the upstream answered is up")
	}
	close(src.gate)
	m := gather(t, collectorFor(acc))
	if m["b2see_up"] != 1 {
		t.Errorf("b2see_up %v within the minimum interval after a scrape that gave up early; want 1 (last error %q)", m["b2see_up"], acc.Summary().LastError)
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("%d upstream reads, want 1: the second scrape is within the minimum interval", got)
	}
	if m["b2see_scrape_errors_total,reason=timeout"] != 1 || m["b2see_upstream_requests_total,endpoint=cakes,outcome=success"] != 1 {
		t.Errorf("scrape timeouts %v, successful requests %v; want 1 and 1",
			m["b2see_scrape_errors_total,reason=timeout"], m["b2see_upstream_requests_total,endpoint=cakes,outcome=success"])
	}
}

// TestSharedReadOwnTimeout: the read stops at the account's own timeout,
// which is then the account's failure.
func TestSharedReadOwnTimeout(t *testing.T) {
	src := &memSource{batches: testBatches(), gate: make(chan struct{})}
	defer close(src.gate)
	acc := newTestAccount(src, func(o *AccountOptions) { o.Timeout = 50 * time.Millisecond })
	m := gather(t, collectorFor(acc)) // no deadline of its own
	if m["b2see_up"] != 0 || m["b2see_upstream_requests_total,endpoint=cakes,outcome=timeout"] != 1 {
		t.Errorf("up %v, timed out requests %v; want 0 and 1", m["b2see_up"], m["b2see_upstream_requests_total,endpoint=cakes,outcome=timeout"])
	}
	if s := acc.Summary(); s.Up || s.LastError == "" {
		t.Error("a read cut by the account's own timeout is not the account's failure")
	}
}

// TestReasonOfNoErrorAllocatesNothing: every upstream request is counted
// by its reason, a status lookup of every batch on a first scrape, so the
// reason of a success must cost no allocation.
func TestReasonOfNoErrorAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if reason(nil) != "" {
			t.Fatal(`reason(nil) is not ""`)
		}
	}); n != 0 {
		t.Errorf("reason(nil) allocates %v times, want none", n)
	}
}
