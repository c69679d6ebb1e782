package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/internal/exposition"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// Deadlines of the fault suite. A faulty scrape gets a short one, and must
// answer within it plus faultMargin: time to emit the metrics on a loaded
// two-core machine under the race detector, not time to wait for the
// upstream.
const (
	faultDeadline = 2 * time.Second
	faultMargin   = 750 * time.Millisecond
	goodDeadline  = 20 * time.Second
	// faultCap is the body size limit: ten times a good answer of the
	// suite's records, far below what the oversize faults send.
	faultCap = 1 << 20
)

// faultCase is one way the upstream misbehaves.
type faultCase struct {
	name     string
	endpoint b2seetest.Endpoint
	fault    b2seetest.Fault
	// spoil, when set, makes the fault from the good answer of the moment,
	// so that the decoder fails after it has seen some records.
	spoil func(good []byte) b2seetest.Fault
	// refuse, instead of a fault, points the client at a closed port.
	refuse bool
	// reason is the expected b2see_scrape_errors_total reason; "" for a
	// fault of the batches API, which must leave the scrape up.
	reason string
	// during runs after the faulty scrape's checks, the fault still on.
	during func(t *testing.T, e *faultEnv, pre series)
	// advance moves the account's clock on before the recovery.
	advance time.Duration
}

const htmlError = `<!DOCTYPE html><html><head><title>500 - Internal server error.</title></head>
<body><h1>Server Error</h1><p>GET /PublicAPI/MyVideos/v1/cakes/4242?apiKey=` + b2seetest.DemoAPIKey + `</p>
<p>Contact jane.doe@example.com or +44 7700 900123</p></body></html>`

var faultCases = []faultCase{
	{name: "connection refused", endpoint: b2seetest.Cakes, refuse: true, reason: b2see.ReasonNetwork},
	{name: "reset mid-body", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{ResetAfter: 30_000}, reason: b2see.ReasonNetwork},
	{name: "connection closed mid-body", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{TruncateAfter: 30_000}, reason: b2see.ReasonNetwork},
	{name: "hang before headers", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{Hang: true}, reason: b2see.ReasonTimeout},
	{name: "body drips slower than the deadline", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{DripBytesPerSecond: 20_000}, reason: b2see.ReasonTimeout},
	{name: "500 with an HTML page", endpoint: b2seetest.Cakes,
		fault:  b2seetest.Fault{Status: 500, ContentType: "text/html; charset=utf-8", Body: []byte(htmlError)},
		reason: b2see.ReasonUpstreamError},
	{name: "502 with no body", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{Status: 502}, reason: b2see.ReasonUpstreamError},
	// A redirect elsewhere is not followed, and its Location stays out of the logs.
	{name: "302 to another host", endpoint: b2seetest.Cakes,
		fault:  b2seetest.Fault{Status: 302, Header: http.Header{"Location": {"http://localhost:1/maintenance?apiKey=" + b2seetest.DemoAPIKey}}},
		reason: b2see.ReasonRedirect},
	// The two documented 404s.
	{name: "404 CustomerID does not exist", endpoint: b2seetest.Cakes,
		fault: b2seetest.Fault{Status: 404, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"Success": false, "Message": "CustomerID does not exist"}`)},
		reason: b2see.ReasonMisconfigured},
	{name: "404 API key not in correct format", endpoint: b2seetest.Cakes,
		fault: b2seetest.Fault{Status: 404, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"Success": false, "Message": "API key not in correct format (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"}`)},
		reason: b2see.ReasonMisconfigured},
	// A 401 whose message echoes the key: it must not reach a log line.
	{name: "401", endpoint: b2seetest.Cakes,
		fault: b2seetest.Fault{Status: 401, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"Message":"Authorization has been denied for this request (apiKey ` + b2seetest.DemoAPIKey + `)."}`)},
		reason: b2see.ReasonUnauthorized},
	{name: "429 with Retry-After", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{RetryAfter: 1},
		reason: b2see.ReasonRateLimited, during: withinRetryAfter, advance: 2 * time.Second},
	{name: "truncated JSON", endpoint: b2seetest.Cakes, reason: b2see.ReasonBadBody,
		spoil: func(good []byte) b2seetest.Fault { return jsonFault(good[:len(good)/2]) }},
	{name: "JSON object instead of an array", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{Corrupt: b2seetest.ObjectNotArray}, reason: b2see.ReasonBadBody},
	{name: "invalid UTF-8 in the first record", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{Corrupt: b2seetest.InvalidUTF8}, reason: b2see.ReasonBadBody},
	{name: "invalid UTF-8 in the last record", endpoint: b2seetest.Cakes, reason: b2see.ReasonBadBody,
		spoil: func(good []byte) b2seetest.Fault {
			field := []byte(`"ProductType":"`)
			i := bytes.LastIndex(good, field) + len(field)
			return jsonFault(slices.Concat(good[:i], []byte("\xff\xfe"), good[i:]))
		}},
	{name: "body past the size cap", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{Corrupt: b2seetest.Oversize, Size: 4 * faultCap}, reason: b2see.ReasonTooLarge},
	{name: "gzip body expanding past the cap", endpoint: b2seetest.Cakes, fault: b2seetest.Fault{Corrupt: b2seetest.GzipBomb, Size: 32 * faultCap}, reason: b2see.ReasonTooLarge},
	{name: "XML error page from the batches API", endpoint: b2seetest.Batches,
		fault: b2seetest.Fault{Status: 500, ContentType: "application/xml; charset=utf-8",
			Body: []byte(`<Error><Message>An error has occurred.</Message><ExceptionMessage>Timeout expired.</ExceptionMessage></Error>`)}},
}

// jsonFault answers 200 with body.
func jsonFault(body []byte) b2seetest.Fault {
	return b2seetest.Fault{Status: 200, ContentType: "application/json; charset=utf-8", Body: body}
}

// withinRetryAfter checks that a scrape within the Retry-After of a 429
// makes no call and counts as rate limited again.
func withinRetryAfter(t *testing.T, e *faultEnv, pre series) {
	t.Helper()
	calls := e.fake.Requests(b2seetest.Cakes)
	m, _ := e.scrape(t, e.acc, faultDeadline)
	if got := e.fake.Requests(b2seetest.Cakes); got != calls {
		t.Errorf("a scrape within Retry-After made %d upstream calls", got-calls)
	}
	if m.value(`b2see_up{account="north"}`) != 0 {
		t.Error("up within Retry-After")
	}
	if got := m.value(scrapeErrorsKey(b2see.ReasonRateLimited)) - pre.value(scrapeErrorsKey(b2see.ReasonRateLimited)); got != 2 {
		t.Errorf("rate_limited counted %v times after the 429 and a scrape within Retry-After, want 2", got)
	}
}

// TestUpstreamFaults runs each fault between good scrapes of an account
// with counters and batch status tracking, against a twin account reading
// the same data from a fake that never fails: after the recovery, the twin
// shows what the account must show.
func TestUpstreamFaults(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.name, func(t *testing.T) { runFaultCase(t, tc) })
	}
}

func runFaultCase(t *testing.T, tc faultCase) {
	e := newFaultEnv(t)
	baseline := runtime.NumGoroutine()

	// Two good scrapes with new activity between them: counters are past
	// their starting point and non-zero.
	e.good(t)
	e.evolve()
	pre := e.good(t)
	if pre.sum("b2see_video_plays_total") <= 0 || pre.sum("b2see_landing_page_watches_total") <= 0 {
		t.Fatal("the counters did not grow between the good scrapes")
	}
	preFiles := e.files(t)
	e.settle(t, baseline)

	// The fault hides new activity, which the recovery must count once.
	e.evolve()
	ft := tc.fault
	if tc.spoil != nil {
		ft = tc.spoil(e.goodBody(t))
	}
	preCalls := e.fake.Requests(tc.endpoint)
	if tc.refuse {
		e.refuse.Store(true)
	} else {
		e.fake.SetFault(tc.endpoint, ft)
	}
	during, took := e.scrape(t, e.acc, faultDeadline)
	twin, _ := e.scrape(t, e.twin, goodDeadline)
	if took > faultDeadline+faultMargin {
		t.Errorf("the faulty scrape took %v, past its deadline %v", took, faultDeadline)
	}
	calls := e.fake.Requests(tc.endpoint) - preCalls
	if tc.reason != "" {
		e.checkCakesFault(t, tc, pre, during, preFiles, calls)
	} else {
		e.checkBatchesFault(t, pre, during, twin, preFiles, calls)
	}
	if tc.during != nil {
		tc.during(t, e, pre)
	}
	e.settle(t, baseline)
	if tc.reason != "" {
		// The read may have ended after the scrape that gave up on it:
		// what it left must be the same.
		st := e.acc.Summary()
		if st.Up || st.LastError == "" || float64(st.Batches) != pre.sum("b2see_window_batches") {
			t.Errorf("after the faulty read: up %v, error %q, %d batches kept, want down with an error and the %v batches of the last good read",
				st.Up, st.LastError, st.Batches, pre.sum("b2see_window_batches"))
		}
	}

	e.refuse.Store(false)
	e.fake.SetFault(tc.endpoint, b2seetest.Fault{})
	e.clock.advance(tc.advance)
	after, _ := e.scrape(t, e.acc, goodDeadline)
	twin, _ = e.scrape(t, e.twin, goodDeadline)
	e.checkRecovery(t, tc, pre, after, twin)
	e.settle(t, baseline)
	e.checkNoLeak(t)
}

// checkCakesFault checks a failed scrape: down, the reason counted once,
// everything else as the last good scrape left it, memory and disk alike.
func (e *faultEnv) checkCakesFault(t *testing.T, tc faultCase, pre, during series, preFiles map[string][]byte, calls int) {
	t.Helper()
	wantCalls := 1
	if tc.refuse {
		wantCalls = 0
	}
	if calls != wantCalls {
		t.Errorf("the upstream got %d calls during the faulty scrape, want %d", calls, wantCalls)
	}
	if during.value(`b2see_up{account="north"}`) != 0 {
		t.Error("b2see_up is not 0 during the fault")
	}
	for _, r := range scrapeErrorReasons {
		want := pre.value(scrapeErrorsKey(r))
		if r == tc.reason {
			want++
		}
		if got := during.value(scrapeErrorsKey(r)); got != want {
			t.Errorf("scrape_errors_total{reason=%q} = %v, want %v", r, got, want)
		}
	}
	sameSeries(t, "during the fault", keptMetric, pre, during)
	sameFiles(t, preFiles, e.files(t))
	if !strings.Contains(e.logs.String(), "reason="+tc.reason) {
		t.Errorf("no log line gives the reason %s:\n%s", tc.reason, e.logs)
	}
}

// checkBatchesFault checks a scrape whose status lookups all fail: still up,
// the cakes read counted as usual, the lookups failed and owed, what is
// known of the statuses untouched.
func (e *faultEnv) checkBatchesFault(t *testing.T, pre, during, twin series, preFiles map[string][]byte, calls int) {
	t.Helper()
	if during.value(`b2see_up{account="north"}`) != 1 {
		t.Error("a failing batches API took the scrape down")
	}
	for _, r := range scrapeErrorReasons {
		if got, want := during.value(scrapeErrorsKey(r)), pre.value(scrapeErrorsKey(r)); got != want {
			t.Errorf("scrape_errors_total{reason=%q} = %v, want %v", r, got, want)
		}
	}
	owed := during.value(`b2see_batch_status_pending_lookups{account="north"}`)
	if calls == 0 || owed != float64(calls) {
		t.Errorf("pending lookups = %v after %d failed lookups, want them all owed", owed, calls)
	}
	failed := during.value(`b2see_upstream_requests_total{account="north",endpoint="batches",outcome="upstream_error"}`) -
		pre.value(`b2see_upstream_requests_total{account="north",endpoint="batches",outcome="upstream_error"}`)
	if failed != float64(calls) {
		t.Errorf("%v lookups counted as failed, want %d", failed, calls)
	}
	sameSeries(t, "engagement during the batches fault", engagementMetric, twin, during)
	sameSeries(t, "statuses during the batches fault", statusMetric, pre, during)
	sameFiles(t, map[string][]byte{e.statusFile: preFiles[e.statusFile]}, map[string][]byte{e.statusFile: e.files(t)[e.statusFile]})
	if !strings.Contains(e.logs.String(), "looking up batch statuses failed") {
		t.Errorf("the failed lookups are not logged:\n%s", e.logs)
	}
}

// checkRecovery checks the first good scrape after the fault: up, and
// everything as on the twin that never saw the fault, so counters neither
// reset nor jumped and the owed lookups were made.
func (e *faultEnv) checkRecovery(t *testing.T, tc faultCase, pre, after, twin series) {
	t.Helper()
	if after.value(`b2see_up{account="north"}`) != 1 {
		t.Fatalf("not up after the fault cleared; last error: %s", e.acc.Summary().LastError)
	}
	if tc.reason != "" {
		got := after.value(fmt.Sprintf(`b2see_upstream_requests_total{account="north",endpoint="cakes",outcome=%q}`, tc.reason)) -
			pre.value(fmt.Sprintf(`b2see_upstream_requests_total{account="north",endpoint="cakes",outcome=%q}`, tc.reason))
		if got != 1 {
			t.Errorf("upstream_requests_total{outcome=%q} grew by %v, want 1", tc.reason, got)
		}
	}
	for key, m := range pre {
		if isCounter(key) && after.value(key) < value(m) {
			t.Errorf("%s went down from %v to %v", key, value(m), after.value(key))
		}
	}
	if after.sum("b2see_video_plays_total") <= pre.sum("b2see_video_plays_total") {
		t.Error("the plays of the activity the fault hid were not counted")
	}
	sameSeries(t, "after the recovery", recoveredMetric, twin, after)
	if got := after.value(`b2see_batch_status_pending_lookups{account="north"}`); got != 0 {
		t.Errorf("%v lookups still owed after the recovery", got)
	}

	// And the window is the fake's data, counted here on its own.
	ids := map[int64]bool{}
	plays := 0
	for _, r := range e.fake.Records() {
		if !ids[r.BatchId] {
			ids[r.BatchId] = true
			plays += r.VideoPlayCount
		}
	}
	if got := after.sum("b2see_window_batches"); got != float64(len(ids)) {
		t.Errorf("b2see_window_batches sum to %v, the fake has %d batches", got, len(ids))
	}
	if got := after.sum("b2see_window_video_plays"); got != float64(plays) {
		t.Errorf("b2see_window_video_plays sum to %v, the fake has %d plays", got, plays)
	}
}

// checkNoLeak checks the logs, the last error and every exposition for the
// key and the recipients' personal data.
func (e *faultEnv) checkNoLeak(t *testing.T) {
	t.Helper()
	secrets := append([]string{b2seetest.DemoAPIKey, "jane.doe@example.com", "7700 900123"}, b2seetest.PersonalData(e.fake.Records())...)
	texts := map[string]string{"logs": e.logs.String(), "last error": e.acc.Summary().LastError, "expositions": e.expositions.String()}
	for what, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s hold %q", what, s)
			}
		}
	}
}

// faultEnv is an account reading a fake, and its twin reading another
// fake that serves the same records and never fails.
type faultEnv struct {
	fake, twinFake *b2seetest.Server
	transports     []*http.Transport
	client         *http.Client // the faulty account's
	refuse         atomic.Bool  // dial a closed port instead of the fake
	clock          *offsetClock
	acc, twin      *collector.Account
	stateFile      string
	statusFile     string
	logs           *testlog.Buffer
	expositions    *testlog.Buffer
	seed           uint64
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	e := &faultEnv{clock: &offsetClock{}, logs: &testlog.Buffer{}, expositions: &testlog.Buffer{}, seed: 1}
	now := time.Now()
	e.fake = b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(120, 3, now, 20)})
	e.twinFake = b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(120, 3, now, 20)})
	t.Cleanup(e.twinFake.Close)
	t.Cleanup(e.fake.Close)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	e.stateFile = state.Path(dir, "north")
	e.statusFile = filepath.Join(dir, "north.status")
	e.acc = e.account(t, e.fake, dir, logger, func(ctx context.Context, network, addr string) (net.Conn, error) {
		if e.refuse.Load() {
			addr = closedAddr
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	})
	e.twin = e.account(t, e.twinFake, t.TempDir(), slog.New(slog.DiscardHandler), nil)
	t.Cleanup(e.closeIdle)
	return e
}

// account builds an account named north over fake, keeping its state in
// dir, with its own transport so that the test can close its connections.
func (e *faultEnv) account(t *testing.T, fake *b2seetest.Server, dir string, logger *slog.Logger,
	dial func(context.Context, string, string) (net.Conn, error)) *collector.Account {
	t.Helper()
	tr := &http.Transport{DialContext: dial}
	e.transports = append(e.transports, tr)
	hc := &http.Client{Transport: tr}
	if e.client == nil {
		e.client = hc
	}
	client, err := b2see.NewClient(b2see.Config{
		URL: fake.URL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey,
		DaysOfHistory: 30, MaxBodyBytes: faultCap, HTTPClient: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	batches, err := b2see.NewBatchesClient(b2see.BatchesConfig{URL: fake.BatchesURL, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	statuses := exampleStatuses()
	return collector.NewAccount(collector.AccountOptions{
		Name:        "north",
		Source:      client,
		SenderLabel: true,
		Counters:    state.Open(state.Options{Dir: dir, Account: "north", Window: 30 * 24 * time.Hour, Logger: logger}),
		Logger:      logger,
		Now:         e.clock.now,
		// The account's own limit on a read, as --b2see.timeout sets it:
		// the faulty scrape's deadline, so that a faulty read ends with it.
		Timeout: faultDeadline,
		Status: &collector.StatusOptions{Client: batches, Statuses: statuses,
			StateFile: filepath.Join(dir, "north.status")},
	})
}

// evolve moves both fakes' data on alike.
func (e *faultEnv) evolve() {
	e.seed++
	now := time.Now()
	for _, f := range []*b2seetest.Server{e.fake, e.twinFake} {
		f.UpdateRecords(func(rs []b2seetest.Record) []b2seetest.Record { return b2seetest.Evolve(rs, e.seed, now) })
	}
}

// good scrapes both accounts, which must be up and agree.
func (e *faultEnv) good(t *testing.T) series {
	t.Helper()
	m, _ := e.scrape(t, e.acc, goodDeadline)
	twin, _ := e.scrape(t, e.twin, goodDeadline)
	if m.value(`b2see_up{account="north"}`) != 1 || twin.value(`b2see_up{account="north"}`) != 1 {
		t.Fatalf("a good scrape is down: %s", e.acc.Summary().LastError)
	}
	sameSeries(t, "good scrape", recoveredMetric, twin, m)
	return m
}

// scrape gathers acc's metrics within timeout, as a scrape request would.
func (e *faultEnv) scrape(t *testing.T, acc *collector.Account, timeout time.Duration) (series, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(ctx, []*collector.Account{acc}, 1))
	start := time.Now()
	mfs, err := reg.Gather()
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	e.expositions.Write(text.Bytes())
	return series(exposition.Flatten(mfs)), took
}

// goodBody is the fake's answer of the moment.
func (e *faultEnv) goodBody(t *testing.T) []byte {
	t.Helper()
	q := url.Values{"customerId": {b2seetest.DefaultCustomerID}, "apiKey": {b2seetest.DemoAPIKey}, "daysOfHistory": {"30"}}
	resp, err := e.client.Get(e.fake.URL + "/MyVideos/v1/cakes/" + b2seetest.DefaultCustomerID + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reading the fake: %d, %v", resp.StatusCode, err)
	}
	return body
}

// files reads the account's state files, which must exist.
func (e *faultEnv) files(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{e.stateFile, e.statusFile} {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			t.Fatalf("state file %s: %d bytes, %v", filepath.Base(p), len(b), err)
		}
		out[p] = b
	}
	return out
}

func (e *faultEnv) closeIdle() {
	for _, tr := range e.transports {
		tr.CloseIdleConnections()
	}
}

// settle closes idle connections and waits for the goroutines to come back
// to baseline, dumping them if they do not.
func (e *faultEnv) settle(t *testing.T, baseline int) {
	t.Helper()
	e.closeIdle()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines, %d before the scrapes; they are:", runtime.NumGoroutine(), baseline)
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// series is one scrape's metrics by name and labels.
type series map[string]*dto.Metric

func value(m *dto.Metric) float64 { return exposition.Value(m) }

func (s series) value(key string) float64 { return exposition.Value(s[key]) }

func (s series) sum(name string) float64 { return exposition.Series(s).Sum(name) }

func metricName(key string) string { return exposition.Name(key) }

func scrapeErrorsKey(reason string) string {
	return fmt.Sprintf(`b2see_scrape_errors_total{account="north",reason=%q}`, reason)
}

var scrapeErrorReasons = []string{
	b2see.ReasonMisconfigured, b2see.ReasonUnauthorized, b2see.ReasonRateLimited,
	b2see.ReasonUpstreamError, b2see.ReasonTimeout, b2see.ReasonBadBody,
	b2see.ReasonTooLarge, b2see.ReasonNetwork, b2see.ReasonRedirect,
}

// isCounter: the counters of the account's data, not of the exporter's own
// doings (its requests and errors).
func isCounter(key string) bool {
	name := metricName(key)
	return strings.HasSuffix(name, "_total") &&
		name != "b2see_scrape_errors_total" && name != "b2see_upstream_requests_total"
}

// The window's gauges: what the last good read saw.
var windowGauges = map[string]bool{
	"b2see_window_batches": true, "b2see_window_batches_sent": true, "b2see_window_batches_watched": true,
	"b2see_window_landing_page_watches": true, "b2see_window_video_plays": true, "b2see_window_link_clicks": true,
	"b2see_window_customer_actions": true, "b2see_window_customer_action_value": true,
	"b2see_window_customer_payment_outcomes": true, "b2see_window_customer_ratings": true,
	"b2see_window_time_to_first_watch_seconds": true,
}

var statusGauges = map[string]bool{"b2see_batch_status": true, "b2see_batches_timed_out": true}

func statusMetric(key string) bool {
	name := metricName(key)
	return statusGauges[name] || name == "b2see_batch_failures_total" || name == "b2see_batch_timeouts_total"
}

func engagementMetric(key string) bool {
	return windowGauges[metricName(key)] || isCounter(key) && !statusMetric(key)
}

// keptMetric is what a failed scrape must leave as it was: the counters,
// the window, the statuses, the last success and the state's saves.
func keptMetric(key string) bool {
	switch metricName(key) {
	case "b2see_last_success_timestamp_seconds", "b2see_state_last_save_timestamp_seconds",
		"b2see_state_last_save_successful", "b2see_batch_status_pending_lookups":
		return true
	}
	return engagementMetric(key) || statusMetric(key)
}

// recoveredMetric is what must match the twin after a good scrape.
func recoveredMetric(key string) bool {
	return engagementMetric(key) || statusMetric(key) || metricName(key) == "b2see_batch_status_pending_lookups"
}

// sameSeries fails unless want and got have the same series of those keep
// picks, exactly.
func sameSeries(t *testing.T, when string, keep func(string) bool, want, got series) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	n := 0
	for k := range keys {
		if !keep(k) {
			continue
		}
		n++
		w, g := want[k], got[k]
		switch {
		case w == nil:
			t.Errorf("%s: unexpected %s", when, k)
		case g == nil:
			t.Errorf("%s: %s is missing", when, k)
		case samples(w) != samples(g):
			t.Errorf("%s: %s is %v, want %v", when, k, g, w)
		}
	}
	if n == 0 {
		t.Errorf("%s: no series to compare", when)
	}
}

// createdTimestamp is how a metric's text shows its created timestamp.
var createdTimestamp = regexp.MustCompile(`\s*created_timestamp:\{[^}]*\}`)

// samples is m without its created timestamp, which tells the account
// from its twin (each started counting when it was made), not the data.
func samples(m *dto.Metric) string {
	return createdTimestamp.ReplaceAllString(m.String(), "")
}

func sameFiles(t *testing.T, want, got map[string][]byte) {
	t.Helper()
	for p, b := range want {
		if !bytes.Equal(b, got[p]) {
			t.Errorf("%s changed during the fault", filepath.Base(p))
		}
	}
}

// offsetClock is the time plus an offset the test moves on, to get past a
// Retry-After without waiting for it.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }
