package collector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// replaySource answers with its batches, through one reused Batch as the
// decoder does, and fails after failAfter of them when failAfter >= 0.
type replaySource struct {
	batches   []b2see.Record
	failAfter int
}

func (s *replaySource) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	var b b2see.Record
	for i := range s.batches {
		if i == s.failAfter {
			return &b2see.TimeoutError{Op: "reading the body"}
		}
		b = s.batches[i]
		if err := fn(&b); err != nil {
			return err
		}
	}
	if s.failAfter >= 0 {
		return &b2see.TimeoutError{Op: "reading the body"}
	}
	return nil
}

var counterNames = []string{
	"b2see_batches_created_total", "b2see_landing_page_watches_total", "b2see_video_plays_total",
	"b2see_link_clicks_total", "b2see_customer_actions_total", "b2see_customer_action_value_total",
	"b2see_count_corrections_total", "b2see_state_last_save_timestamp_seconds",
	"b2see_state_last_save_successful", "b2see_state_save_failures_total",
}

func TestCountersAcrossScrapes(t *testing.T) {
	svc := b2see.Record{ID: 1, HasID: true, ProductType: "svc", SendingUserName: "alice",
		LandingPageWatchCount: 5, CustomerActionState: "offered", CustomerActionPrice: 10}
	grown := svc
	grown.LandingPageWatchCount, grown.VideoPlayCount = 8, 2
	grown.CustomerActionState, grown.CustomerActionPrice = "accepted", 100
	mot := b2see.Record{ID: 2, HasID: true, ProductType: "mot", LandingPageWatchCount: 1, GoogleClicks: 1}
	corrected := mot
	corrected.LandingPageWatchCount = 0
	noID := b2see.Record{ProductType: "svc", SendingUserName: "alice", LandingPageWatchCount: 50}

	// The series of both scrapes after the second.
	const grownText = `
b2see_batches_created_total{account="acme",product_type="mot",sender="unknown"} 1
b2see_batches_created_total{account="acme",product_type="svc",sender="alice"} 0
b2see_landing_page_watches_total{account="acme",product_type="mot",sender="unknown"} 1
b2see_landing_page_watches_total{account="acme",product_type="svc",sender="alice"} 3
b2see_video_plays_total{account="acme",product_type="mot",sender="unknown"} 0
b2see_video_plays_total{account="acme",product_type="svc",sender="alice"} 2
b2see_link_clicks_total{account="acme",link="facebook",product_type="mot",sender="unknown"} 0
b2see_link_clicks_total{account="acme",link="google",product_type="mot",sender="unknown"} 1
b2see_link_clicks_total{account="acme",link="image",product_type="mot",sender="unknown"} 0
b2see_link_clicks_total{account="acme",link="facebook",product_type="svc",sender="alice"} 0
b2see_link_clicks_total{account="acme",link="google",product_type="svc",sender="alice"} 0
b2see_link_clicks_total{account="acme",link="image",product_type="svc",sender="alice"} 0
b2see_customer_actions_total{account="acme",product_type="svc",sender="alice",state="accepted"} 1
b2see_customer_actions_total{account="acme",product_type="svc",sender="alice",state="offered"} 0
b2see_customer_action_value_total{account="acme",product_type="svc",sender="alice",state="accepted"} 100
b2see_customer_action_value_total{account="acme",product_type="svc",sender="alice",state="offered"} 0
`
	help := `
# HELP b2see_batches_created_total Batches first seen since counting started (batches present when it started are not counted).
# TYPE b2see_batches_created_total counter
# HELP b2see_landing_page_watches_total Growth of the batches' landing page watch counts between successful scrapes; a count going down upstream is not subtracted and its re-growth not counted twice.
# TYPE b2see_landing_page_watches_total counter
# HELP b2see_video_plays_total Growth of the batches' video play counts between successful scrapes; a count going down upstream is not subtracted and its re-growth not counted twice.
# TYPE b2see_video_plays_total counter
# HELP b2see_link_clicks_total Growth of the batches' link click counts between successful scrapes, by link; a count going down upstream is not subtracted and its re-growth not counted twice.
# TYPE b2see_link_clicks_total counter
# HELP b2see_customer_actions_total Batches entering a customer action state, by state; a batch going back and forth counts each entry.
# TYPE b2see_customer_actions_total counter
# HELP b2see_customer_action_value_total Sum of the prices of the batches entering a customer action state, taken at entry, by state, in the account's currency; negative prices count as 0.
# TYPE b2see_customer_action_value_total counter
# HELP b2see_count_corrections_total Times an upstream count of a batch went down between successful scrapes.
# TYPE b2see_count_corrections_total counter
# HELP b2see_state_last_save_timestamp_seconds Unix time of the last successful save of the account's counter state.
# TYPE b2see_state_last_save_timestamp_seconds gauge
# HELP b2see_state_last_save_successful 1 if the last save of the account's counter state succeeded (or none was tried yet), 0 if it failed.
# TYPE b2see_state_last_save_successful gauge
# HELP b2see_state_save_failures_total Failed saves of the account's counter state since the exporter started.
# TYPE b2see_state_save_failures_total counter
`
	own := func(corrections, saved int) string {
		return fmt.Sprintf(`
b2see_count_corrections_total{account="acme"} %d
b2see_state_last_save_timestamp_seconds{account="acme"} %d
b2see_state_last_save_successful{account="acme"} 1
b2see_state_save_failures_total{account="acme"} 0
`, corrections, saved)
	}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }

	steps := []struct {
		name    string
		batches []b2see.Record
		fail    int
		want    string
	}{
		{
			name:    "the first scrape is the starting point",
			batches: []b2see.Record{svc},
			fail:    -1,
			want: `
b2see_batches_created_total{account="acme",product_type="svc",sender="alice"} 0
b2see_landing_page_watches_total{account="acme",product_type="svc",sender="alice"} 0
b2see_video_plays_total{account="acme",product_type="svc",sender="alice"} 0
b2see_link_clicks_total{account="acme",link="facebook",product_type="svc",sender="alice"} 0
b2see_link_clicks_total{account="acme",link="google",product_type="svc",sender="alice"} 0
b2see_link_clicks_total{account="acme",link="image",product_type="svc",sender="alice"} 0
b2see_customer_actions_total{account="acme",product_type="svc",sender="alice",state="offered"} 0
b2see_customer_action_value_total{account="acme",product_type="svc",sender="alice",state="offered"} 0
` + own(0, int(at(0).Unix())),
		},
		{
			name:    "growth, a state entered, a new batch, a duplicate and a record with no ID",
			batches: []b2see.Record{grown, mot, svc, noID},
			fail:    -1,
			want:    grownText + own(0, int(at(1).Unix())),
		},
		{
			name:    "a failed scrape keeps every counter",
			batches: []b2see.Record{grown, mot, grown, mot},
			fail:    3,
			want:    grownText + own(0, int(at(1).Unix())),
		},
		{
			name:    "a batch leaving the window and a correction change no counter",
			batches: []b2see.Record{corrected},
			fail:    -1,
			want:    grownText + own(1, int(at(3).Unix())),
		},
	}
	src := &replaySource{}
	clk := &clock{}
	dir := t.TempDir()
	a := NewAccount(AccountOptions{Name: "acme", Source: src, SenderLabel: true, Now: clk.now,
		Counters: state.Open(state.Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})})
	for i, st := range steps {
		src.batches, src.failAfter, clk.t = st.batches, st.fail, at(i)
		c := New(context.Background(), []*Account{a}, 1)
		if err := testutil.CollectAndCompare(c, strings.NewReader(help+st.want), counterNames...); err != nil {
			t.Fatalf("scrape %d, %s: %v", i+1, st.name, err)
		}
	}

	// A restart goes on from the saved counters.
	re := NewAccount(AccountOptions{Name: "acme", Source: src, SenderLabel: true, Now: clk.now,
		Counters: state.Open(state.Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})})
	src.failAfter = 0
	if err := testutil.CollectAndCompare(New(context.Background(), []*Account{re}, 1),
		strings.NewReader(help+grownText+own(1, int(at(3).Unix()))), counterNames...); err != nil {
		t.Fatalf("after a restart, with the upstream failing: %v", err)
	}
}

func TestCountersSenderLabelOff(t *testing.T) {
	b := b2see.Record{ID: 1, HasID: true, ProductType: "svc", SendingUserName: "alice"}
	src := &replaySource{batches: []b2see.Record{b}, failAfter: -1}
	tr := state.Open(state.Options{Account: "acme"})
	a := NewAccount(AccountOptions{Name: "acme", Source: src, Counters: tr})
	a.read(context.Background(), nil)
	b.ID, b.SendingUserName = 2, "bob"
	src.batches = append(src.batches, b)
	a.read(context.Background(), nil)
	want := []state.SeriesTotals{{ProductType: "svc", Sender: "", Created: 1, Actions: []state.ActionTotal{}}}
	if got := tr.Totals(); !reflect.DeepEqual(got, want) {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
}

// TestFailedScrapeChangesNothing fails the upstream after every possible
// number of records of an answer full of changes.
func TestFailedScrapeChangesNothing(t *testing.T) {
	before := []b2see.Record{
		{ID: 1, HasID: true, ProductType: "svc", LandingPageWatchCount: 1},
		{ID: 2, HasID: true, ProductType: "svc", VideoPlayCount: 4, CustomerActionState: "offered"},
	}
	after := []b2see.Record{
		{ID: 1, HasID: true, ProductType: "svc", LandingPageWatchCount: 7, FacebookClicks: 2},
		{ID: 3, HasID: true, ProductType: "mot", LandingPageWatchCount: 3},
		{ID: 2, HasID: true, ProductType: "svc", VideoPlayCount: 1, CustomerActionState: "paid", CustomerActionPrice: 9},
		{ID: 4, HasID: true, ProductType: "svc", CustomerActionState: "paid"},
	}
	for n := 0; n <= len(after); n++ {
		src := &replaySource{batches: before, failAfter: -1}
		tr := state.Open(state.Options{Account: "acme"})
		a := NewAccount(AccountOptions{Name: "acme", Source: src, Counters: tr})
		a.read(context.Background(), nil)
		src.batches = append(before[:len(before):len(before)], b2see.Record{ID: 5, HasID: true, LandingPageWatchCount: 2})
		a.read(context.Background(), nil)
		want, wantStatus := tr.Totals(), tr.Status()

		src.batches, src.failAfter = after, n
		if res := a.read(context.Background(), nil); res.err == nil {
			t.Fatalf("failing after %d records: the read succeeded", n)
		}
		if got := tr.Totals(); !reflect.DeepEqual(got, want) {
			t.Errorf("failing after %d records changed the totals\n %+v\nto %+v", n, want, got)
		}
		if got := tr.Status(); got != wantStatus {
			t.Errorf("failing after %d records changed the status %+v to %+v", n, wantStatus, got)
		}
	}
}

func TestCountersSaveFailure(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := &replaySource{batches: []b2see.Record{{ID: 1, HasID: true, ProductType: "svc", VideoPlayCount: 1}}, failAfter: -1}
	a := NewAccount(AccountOptions{Name: "acme", Source: src,
		Counters: state.Open(state.Options{Dir: filepath.Join(file, "state"), Account: "acme"})})
	a.read(context.Background(), nil)
	src.batches[0].VideoPlayCount = 3
	want := `
# HELP b2see_up 1 if the last read of the account's Batch Data API succeeded, 0 if it failed.
# TYPE b2see_up gauge
b2see_up{account="acme"} 1
# HELP b2see_video_plays_total Growth of the batches' video play counts between successful scrapes; a count going down upstream is not subtracted and its re-growth not counted twice.
# TYPE b2see_video_plays_total counter
b2see_video_plays_total{account="acme",product_type="svc",sender=""} 2
# HELP b2see_state_last_save_successful 1 if the last save of the account's counter state succeeded (or none was tried yet), 0 if it failed.
# TYPE b2see_state_last_save_successful gauge
b2see_state_last_save_successful{account="acme"} 0
# HELP b2see_state_save_failures_total Failed saves of the account's counter state since the exporter started.
# TYPE b2see_state_save_failures_total counter
b2see_state_save_failures_total{account="acme"} 2
`
	names := []string{"b2see_up", "b2see_video_plays_total", "b2see_state_last_save_successful",
		"b2see_state_save_failures_total", "b2see_state_last_save_timestamp_seconds"}
	if err := testutil.CollectAndCompare(New(context.Background(), []*Account{a}, 1), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

// benchBatches are n records of a busy account.
func benchBatches(n int) []b2see.Record {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"aftersales_via_portal", "service", "mot", "sales"}
	states := []string{"", "", "offered", "accepted", "paid"}
	created := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	out := make([]b2see.Record, n)
	for i := range out {
		out[i] = b2see.Record{
			ID: int64(1_000_000 + i), HasID: true,
			DateCreated:           created.Add(time.Duration(i) * 20 * time.Second),
			ProductType:           types[r.IntN(len(types))],
			SendingUserName:       fmt.Sprint("user", r.IntN(40)),
			LandingPageWatchCount: int64(r.IntN(10)), VideoPlayCount: int64(r.IntN(8)),
			ImageLinkClicks: int64(r.IntN(3)), FacebookClicks: int64(r.IntN(2)), GoogleClicks: int64(r.IntN(2)),
			CustomerActionState: states[r.IntN(len(states))], CustomerActionPrice: float64(r.IntN(1000)),
		}
	}
	return out
}

// BenchmarkCounting compares a read of 100,000 records with and without
// counters, from memory so that it measures the counting, not JSON.
func BenchmarkCounting(b *testing.B) {
	batches := benchBatches(100_000)
	now := func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) }
	bench := func(b *testing.B, tr *state.Tracker, change bool) {
		src := &replaySource{batches: batches, failAfter: -1}
		a := NewAccount(AccountOptions{Name: "acme", Source: src, SenderLabel: true, Counters: tr, Now: now})
		a.read(context.Background(), nil) // the starting point
		b.ReportAllocs()
		for b.Loop() {
			if change {
				batches[0].VideoPlayCount++
			}
			if res := a.read(context.Background(), nil); res.err != nil {
				b.Fatal(res.err)
			}
		}
	}
	b.Run("without_counters", func(b *testing.B) { bench(b, nil, false) })
	b.Run("with_counters", func(b *testing.B) {
		bench(b, state.Open(state.Options{Dir: b.TempDir(), Account: "acme", Window: 30 * 24 * time.Hour}), false)
	})
	b.Run("with_counters_and_a_save", func(b *testing.B) {
		bench(b, state.Open(state.Options{Dir: b.TempDir(), Account: "acme", Window: 30 * 24 * time.Hour}), true)
	})
	// On a busy machine, runs minutes apart are hard to compare: this one
	// alternates the two scrapes and reports their ratio.
	b.Run("paired", func(b *testing.B) {
		without := NewAccount(AccountOptions{Name: "acme", Source: &replaySource{batches: batches, failAfter: -1}, SenderLabel: true, Now: now})
		with := NewAccount(AccountOptions{Name: "acme", Source: &replaySource{batches: batches, failAfter: -1}, SenderLabel: true, Now: now,
			Counters: state.Open(state.Options{Dir: b.TempDir(), Account: "acme", Window: 30 * 24 * time.Hour})})
		with.read(context.Background(), nil)
		var tWithout, tWith time.Duration
		for b.Loop() {
			start := time.Now()
			without.read(context.Background(), nil)
			mid := time.Now()
			with.read(context.Background(), nil)
			tWithout, tWith = tWithout+mid.Sub(start), tWith+time.Since(mid)
		}
		b.ReportMetric(float64(tWithout.Nanoseconds())/float64(b.N), "ns/scrape-without")
		b.ReportMetric(float64(tWith.Nanoseconds())/float64(b.N), "ns/scrape-with")
		b.ReportMetric(float64(tWith)/float64(tWithout), "with/without")
	})
}

// TestCountersConcurrentScrapes is for the race detector: scrapes share
// reads, and counters are read while a read commits.
func TestCountersConcurrentScrapes(t *testing.T) {
	src := &replaySource{batches: benchBatches(200), failAfter: -1}
	a := NewAccount(AccountOptions{Name: "acme", Source: src, SenderLabel: true,
		Counters: state.Open(state.Options{Dir: t.TempDir(), Account: "acme"})})
	done := make(chan int)
	for range 4 {
		go func() {
			n := 0
			for range 5 {
				n = testutil.CollectAndCount(New(context.Background(), []*Account{a}, 1), "b2see_video_plays_total")
			}
			done <- n
		}()
	}
	for range 4 {
		if n := <-done; n == 0 {
			t.Error("a scrape emitted no b2see_video_plays_total")
		}
	}
}
