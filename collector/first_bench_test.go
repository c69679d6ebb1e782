package collector_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// BenchmarkFirstScrape compares the first scrape of an account with no
// saved state against a steady-state one, over the same records served by
// the same fake upstream over loopback, with counters saved to a state
// directory. Each turn of the loop scrapes both: a fresh account with a
// fresh tracker opened on an empty directory, and an account scraped
// before whose data has not changed (so it saves nothing). It reports the
// time of the first scrapes over the steady ones as "ratio", which the
// machine's noise affects less than two separate figures, and each one's
// milliseconds.
//
// Opening the tracker and making its directory are left out of the
// timing: an exporter opens its trackers when it starts, not in a scrape.
// What the first scrape does that a steady one does not is all in: the
// table's inserts, the staging of new batches, the save of the whole state
// file (Commit saves within the read). Each scrape starts on a collected
// heap, so that neither pays for the other's garbage; the two take turns
// going first.
//
// With "+status", batch status tracking is on too, 1% of the batches not
// final, with its memory saved beside the counters': the first scrape also
// looks up the status of every batch, where a steady one looks up the 1%,
// so that variant is dominated by the lookups (lookups/op says how many
// each made). Run it with
//
//	go test ./collector -run '^$' -bench 'FirstScrape/records=100000$' -benchtime 20x -count 5
//	go test ./collector -run '^$' -bench 'FirstScrape/records=1000000$/counters$' -benchtime 5x -count 3
func BenchmarkFirstScrape(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, status := range []bool{false, true} {
			name := "records=" + strconv.Itoa(n) + "/counters"
			if status {
				name += "+status"
			}
			b.Run(name, func(b *testing.B) { benchmarkFirstScrape(b, n, status) })
		}
	}
}

func benchmarkFirstScrape(b *testing.B, n int, status bool) {
	records := b2seetest.Generate(n, 1, time.Now(), 29)
	fake := b2seetest.NewServer(b2seetest.Config{
		Records: records,
		Batches: b2seetest.BatchesConfig{DefaultStatus: onePercentRunning(records)},
	})
	config := b2see.Config{URL: fake.URL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30}
	direct, err := b2see.NewClient(config)
	if err != nil {
		b.Fatal(err)
	}
	body := fetchBody(b, direct.Endpoint()+"?customerId="+b2seetest.DefaultCustomerID+"&apiKey="+b2seetest.DemoAPIKey+"&daysOfHistory=30")
	// The cakes are served as the fake rendered them, by a server that
	// holds nothing else: the fake's records are full of pointers, and a
	// heap of them would make every collection of the scrapes scan them,
	// as an exporter's heap never does. Only the status lookups need the
	// fake, and its records, still.
	cakes := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	defer cakes.Close()
	config.URL = cakes.URL
	client, err := b2see.NewClient(config)
	if err != nil {
		b.Fatal(err)
	}
	lookups := func() int { return 0 }
	var batches *b2see.BatchesClient
	if status {
		defer fake.Close()
		batches, err = b2see.NewBatchesClient(b2see.BatchesConfig{URL: fake.BatchesURL, HTTPClient: &http.Client{}})
		if err != nil {
			b.Fatal(err)
		}
		lookups = func() int { return fake.Requests(b2seetest.Batches) }
	} else {
		fake.Close()
		records, fake = nil, nil // for the collector to take
	}
	root := b.TempDir()
	// account opens an account as an exporter starting on dir does.
	account := func(dir string) *collector.Account {
		opts := collector.AccountOptions{
			Name: "bench", Source: client, SenderLabel: true,
			Counters: state.Open(state.Options{Dir: dir, Account: "bench", Window: 30 * 24 * time.Hour}),
		}
		if status {
			opts.Status = &collector.StatusOptions{
				Client: batches, Statuses: exampleStatuses(), StateFile: state.AccountFile(dir, "bench", ".status"),
			}
		}
		return collector.NewAccount(opts)
	}
	steady := account(root + "/steady")
	scrape(b, steady, n) // the counters' starting point, every status looked up once
	scrape(b, steady, n) // and the steady state's first save behind it

	var tFirst, tSteady time.Duration
	var lFirst, lSteady int
	timed := func(acc *collector.Account, d *time.Duration, looked *int) {
		runtime.GC()
		before := lookups()
		start := time.Now()
		scrape(b, acc, n)
		*d += time.Since(start)
		*looked += lookups() - before
	}
	turn := 0
	for b.Loop() {
		dir, err := os.MkdirTemp(root, "first-")
		if err != nil {
			b.Fatal(err)
		}
		first := account(dir)
		if turn%2 == 0 {
			timed(first, &tFirst, &lFirst)
			timed(steady, &tSteady, &lSteady)
		} else {
			timed(steady, &tSteady, &lSteady)
			timed(first, &tFirst, &lFirst)
		}
		turn++
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tFirst)/float64(tSteady), "ratio")
	b.ReportMetric(float64(tFirst.Milliseconds())/float64(turn), "first-ms")
	b.ReportMetric(float64(tSteady.Milliseconds())/float64(turn), "steady-ms")
	if status {
		b.ReportMetric(float64(lFirst)/float64(turn), "first-lookups/op")
		b.ReportMetric(float64(lSteady)/float64(turn), "steady-lookups/op")
	}
}
