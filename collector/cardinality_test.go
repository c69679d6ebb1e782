package collector_test

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// largeAccount is the dealer group: 100,000 batches over 30 days
// from senders distinct sending users, served over loopback by the fake,
// read with the default caps and series limit, with counters.
type largeAccount struct {
	senders int
	srv     *b2seetest.Server
	records []b2seetest.Record
	acc     *collector.Account
}

func newLargeAccount(tb testing.TB, senders int) *largeAccount {
	tb.Helper()
	records := b2seetest.GenerateWith(100_000, 1, time.Now(), 29, b2seetest.GenerateOptions{Senders: senders})
	srv := b2seetest.NewServer(b2seetest.Config{Records: records})
	tb.Cleanup(srv.Close)
	return &largeAccount{senders: senders, srv: srv, records: records, acc: defaultAccount(tb, srv.URL)}
}

// newRenderedAccount is newLargeAccount with the fake's answer rendered
// once and served by a server that holds nothing else, and no records:
// the fake's records are full of pointers, and a heap of them would make
// each collection during a scrape scan them, as an exporter's heap never
// does. The more garbage a scrape makes, the more that would cost it.
func newRenderedAccount(tb testing.TB, senders int) *largeAccount {
	tb.Helper()
	records := b2seetest.GenerateWith(100_000, 1, time.Now(), 29, b2seetest.GenerateOptions{Senders: senders})
	fake := b2seetest.NewServer(b2seetest.Config{Records: records})
	url := renderedCakes(tb, fake.URL)
	fake.Close()
	return &largeAccount{senders: senders, acc: defaultAccount(tb, url)}
}

// defaultAccount reads the cakes at url under the default caps and series
// limit, with counters.
func defaultAccount(tb testing.TB, url string) *collector.Account {
	client, err := b2see.NewClient(b2see.Config{
		URL: url, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return defaultAccountOf(client)
}

// defaultAccountOf is defaultAccount reading src.
func defaultAccountOf(src collector.Source) *collector.Account {
	d := config.DefaultSettings()
	return collector.NewAccount(collector.AccountOptions{
		Name: "group", Source: src, SenderLabel: d.SenderLabel,
		Caps: collector.LabelCaps{
			ProductTypes: int(d.MaxProductTypes), Senders: int(d.MaxSenders), ActionStates: int(d.MaxActionStates),
			PaymentOutcomes: int(d.MaxPaymentOutcomes), Ratings: int(d.MaxRatings),
		},
		MaxSeries: int(d.MaxSeries),
		Counters:  state.Open(state.Options{Account: "group", Window: 30 * 24 * time.Hour}),
	})
}

// scrapeText gathers acc through a fresh registry and returns the
// families and their text exposition, as one request to /metrics.
func scrapeText(tb testing.TB, acc *collector.Account) ([]*dto.MetricFamily, []byte) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(context.Background(), []*collector.Account{acc}, 1))
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	if st := acc.Summary(); !st.Up {
		tb.Fatalf("scrape failed: %+v", st)
	}
	return mfs, buf.Bytes()
}

// sums adds up each family over all its series.
func sums(mfs []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

// TestManySendersUnderTheDefaults: 100,000 batches from 20,000 senders,
// with the default caps: at most 10,000 b2see_ series in at most 2 MB,
// and every total over all series exact, the window's and the counters'.
func TestManySendersUnderTheDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 100,000 records")
	}
	la := newLargeAccount(t, 20_000)
	var batches, sent, plays, watches, clicks, value float64
	senders := map[string]bool{}
	for _, r := range la.records {
		senders[r.SendingUserName] = true
		batches++
		if r.DateSent != nil {
			sent++
		}
		plays += float64(r.VideoPlayCount)
		watches += float64(r.LandingPageWatchCount)
		clicks += float64(r.ImageLinkClicks + r.FacebookClicks + r.GoogleClicks)
		if r.CustomerActionState != nil {
			value += r.CustomerActionPrice
		}
	}
	scrapeText(t, la.acc) // the counters' starting point
	// Every batch grows by one play: the counters must see 100,000 of them.
	la.srv.UpdateRecords(func(rs []b2seetest.Record) []b2seetest.Record {
		for i := range rs {
			rs[i].VideoPlayCount++
		}
		return rs
	})
	mfs, text := scrapeText(t, la.acc)
	n := 0
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "b2see_") {
			n++
		}
	}
	t.Logf("%d b2see_ series, %d bytes", n, len(text))
	if n > 10_000 {
		t.Errorf("%d b2see_ series, want at most 10,000", n)
	}
	if len(text) > 2<<20 {
		t.Errorf("an exposition of %d bytes, want at most 2 MB", len(text))
	}
	got := sums(mfs)
	for name, want := range map[string]float64{
		"b2see_window_batches":              batches,
		"b2see_window_batches_sent":         sent,
		"b2see_window_video_plays":          plays + batches,
		"b2see_window_landing_page_watches": watches,
		"b2see_window_link_clicks":          clicks,
		"b2see_video_plays_total":           batches,
		"b2see_label_values":                float64(len(senders) + 5 + 3 + 3 + 5), // senders, product types, states, outcomes, ratings
		"b2see_label_values_folded":         float64(len(senders) - 100),
	} {
		if got[name] != want {
			t.Errorf("%s sums to %v over all series, want %v", name, got[name], want)
		}
	}
	if v := got["b2see_window_customer_action_value"]; math.Abs(v-value) > 1e-6*value {
		t.Errorf("b2see_window_customer_action_value sums to %v, want %v", v, value)
	}
	if got["b2see_scrape_errors_total"] != 0 {
		t.Errorf("series withheld or errors counted: %v", got["b2see_scrape_errors_total"])
	}
}

// BenchmarkScrapeManySenders compares whole scrapes (fetch over loopback,
// decode, aggregate, fold, exposition, with counters) of the same 100,000
// batches sent by 24 senders and by 20,000, under the default caps, in the
// same run; "paired" alternates the two in one loop and reports the time
// of the 20,000 senders' scrapes over the 24's, which the machine's noise
// affects less than two separate figures:
//
//	go test ./collector -run '^$' -bench 'ScrapeManySenders' -benchmem -count 5
func BenchmarkScrapeManySenders(b *testing.B) {
	few, many := newRenderedAccount(b, 24), newRenderedAccount(b, 20_000)
	for _, la := range []*largeAccount{few, many} {
		scrapeText(b, la.acc) // the counters' starting point
	}
	for _, la := range []*largeAccount{few, many} {
		b.Run("senders="+strconv.Itoa(la.senders), func(b *testing.B) {
			runtime.GC() // not the set-up's garbage
			b.ReportAllocs()
			var size int
			for b.Loop() {
				_, text := scrapeText(b, la.acc)
				size = len(text)
			}
			b.ReportMetric(float64(size), "exposition-bytes")
		})
	}
	b.Run("paired", func(b *testing.B) {
		runtime.GC()
		var tFew, tMany time.Duration
		for b.Loop() {
			start := time.Now()
			scrapeText(b, few.acc)
			mid := time.Now()
			scrapeText(b, many.acc)
			tFew, tMany = tFew+mid.Sub(start), tMany+time.Since(mid)
		}
		b.ReportMetric(float64(tMany)/float64(tFew), "ratio")
	})
}
