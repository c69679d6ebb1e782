package collector_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// BenchmarkScrape measures whole scrapes of one account — fetch over
// loopback from the fake, decode, aggregate, exposition — against the
// baseline of json.Valid over the same bytes, in the same run:
//
//   - scrape: the engagement gauges alone;
//   - scrape+counters: with the true counters (state tracking, no save: the
//     data does not change);
//   - scrape+counters+status: also with batch status tracking in its steady
//     state, 1% of the batches not final and so looked up again over
//     loopback on every scrape.
//
// B/op, all that one scrape allocates, bounds the heap's growth during a
// scrape. Run it with
//
//	go test ./collector -run '^$' -bench 'Scrape$' -benchmem -count 5
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		records := b2seetest.Generate(n, 1, time.Now(), 29)
		srv := b2seetest.NewServer(b2seetest.Config{
			Records: records,
			Batches: b2seetest.BatchesConfig{DefaultStatus: onePercentRunning(records)},
		})
		client, err := b2see.NewClient(b2see.Config{
			URL: srv.URL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30,
		})
		if err != nil {
			b.Fatal(err)
		}
		batches, err := b2see.NewBatchesClient(b2see.BatchesConfig{URL: srv.BatchesURL, HTTPClient: &http.Client{}})
		if err != nil {
			b.Fatal(err)
		}
		body := fetchBody(b, client.Endpoint()+"?customerId="+b2seetest.DefaultCustomerID+"&apiKey="+b2seetest.DemoAPIKey+"&daysOfHistory=30")
		prefix := "records=" + strconv.Itoa(n) + "/"

		b.Run(prefix+"json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if !json.Valid(body) {
					b.Fatal("invalid")
				}
			}
		})
		variants := []struct {
			name             string
			counters, status bool
		}{
			{"scrape", false, false},
			{"scrape+counters", true, false},
			{"scrape+counters+status", true, true},
		}
		for _, v := range variants {
			b.Run(prefix+v.name, func(b *testing.B) {
				opts := collector.AccountOptions{Name: "bench", Source: client, SenderLabel: true}
				if v.counters {
					opts.Counters = state.Open(state.Options{Dir: b.TempDir(), Account: "bench", Window: 30 * 24 * time.Hour})
				}
				if v.status {
					opts.Status = &collector.StatusOptions{Client: batches, Statuses: exampleStatuses()}
				}
				acc := collector.NewAccount(opts)
				scrape(b, acc, n) // the counters' starting point; every status looked up once
				lookups := srv.Requests(b2seetest.Batches)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for b.Loop() {
					scrape(b, acc, n)
				}
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(n), "allocs/record")
				b.ReportMetric(float64(srv.Requests(b2seetest.Batches)-lookups)/float64(b.N), "lookups/op")
			})
		}
		srv.Close()
	}
}

// scrape collects acc through a fresh registry and encodes the exposition,
// as one request to /metrics does.
func scrape(b *testing.B, acc *collector.Account, want int) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(context.Background(), []*collector.Account{acc}, 1))
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
	if st := acc.Summary(); !st.Up || st.Batches != int64(want) {
		b.Fatalf("scrape failed: %+v", st)
	}
}

// onePercentRunning gives every hundredth record's batch the status
// processing, the rest completed: exactly 1% not final.
func onePercentRunning(records []b2seetest.Record) func(int64) b2seetest.Status {
	running := map[int64]bool{}
	for i := 0; i < len(records); i += 100 {
		running[records[i].BatchId] = true
	}
	return func(id int64) b2seetest.Status {
		if running[id] {
			return b2seetest.Status{Code: 1, TimeoutMinutes: 100000}
		}
		return b2seetest.Status{Code: 2, TimeoutMinutes: 100000}
	}
}

func exampleStatuses() map[int]collector.StatusMapping {
	m := map[int]collector.StatusMapping{}
	for _, st := range b2seetest.ExampleStatuses {
		m[st.Code] = collector.StatusMapping{Name: st.Name, Phase: st.State}
	}
	return m
}

// renderedCakes serves, at the URL it returns until tb ends, the cakes the
// fake at fakeURL renders, by a server that holds nothing else: the fake's
// records are full of pointers, and a heap of them would make every
// collection during a scrape scan them, as an exporter's heap never does.
func renderedCakes(tb testing.TB, fakeURL string) string {
	tb.Helper()
	direct, err := b2see.NewClient(b2see.Config{URL: fakeURL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30})
	if err != nil {
		tb.Fatal(err)
	}
	body := fetchBody(tb, direct.Endpoint()+"?customerId="+b2seetest.DefaultCustomerID+"&apiKey="+b2seetest.DemoAPIKey+"&daysOfHistory=30")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

func fetchBody(b testing.TB, url string) []byte {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("fetching the body: %v %d", err, resp.StatusCode)
	}
	return body
}
