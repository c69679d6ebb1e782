package collector_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
)

// BenchmarkScrape measures a whole scrape of one account — fetch over
// loopback from the fake, decode, aggregate, exposition — against the
// baseline of json.Valid over the same bytes, in the same run. B/op, all
// that one scrape allocates, bounds the heap's growth during a scrape.
//
//	go test ./collector -run '^$' -bench Scrape -benchmem -count 5
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		now := time.Now()
		srv := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(n, 1, now, 29)})
		client, err := b2see.NewClient(b2see.Config{
			URL: srv.URL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30,
		})
		if err != nil {
			b.Fatal(err)
		}
		body := fetchBody(b, client.Endpoint()+"?customerId="+b2seetest.DefaultCustomerID+"&apiKey="+b2seetest.DemoAPIKey+"&daysOfHistory=30")
		records := float64(n)

		b.Run("records="+strconv.Itoa(n)+"/scrape", func(b *testing.B) {
			acc := collector.NewAccount(collector.AccountOptions{Name: "bench", Source: client, SenderLabel: true})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
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
				if st := acc.Status(); !st.Up || st.Batches != int64(n) {
					b.Fatalf("scrape failed: %+v", st)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/records, "allocs/record")
		})
		b.Run("records="+strconv.Itoa(n)+"/json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if !json.Valid(body) {
					b.Fatal("invalid")
				}
			}
		})
		srv.Close()
	}
}

func fetchBody(b *testing.B, url string) []byte {
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
