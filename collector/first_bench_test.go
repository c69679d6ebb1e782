package collector_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
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
// milliseconds; "cpu-ratio" is the same for the processor time the process
// used (the fake's serving included), which leaves out the time other work
// holds the processors, and the waits for the disk.
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
// each made). With "+status-in-process" the lookups are answered at once
// in the process: what is left is the exporter's own work for them and
// for the status memory. Run it with
//
//	go test ./collector -run '^$' -bench 'FirstScrape/records=100000$/counters$' -benchtime 20x -count 8
//	go test ./collector -run '^$' -bench 'FirstScrape/records=1000000$/counters$' -benchtime 3x -count 5
//	go test ./collector -run '^$' -bench 'FirstScrape/records=100000$/counters.status' -benchtime 3x -count 3
func BenchmarkFirstScrape(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, v := range []struct {
			name   string
			status statusLookups
		}{{"counters", noStatus}, {"counters+status", loopbackStatus}, {"counters+status-in-process", inProcessStatus}} {
			b.Run("records="+strconv.Itoa(n)+"/"+v.name, func(b *testing.B) { benchmarkFirstScrape(b, n, v.status) })
		}
	}
}

// statusLookups say whether and how BenchmarkFirstScrape looks up statuses.
type statusLookups int

const (
	noStatus        statusLookups = iota
	loopbackStatus                // from the fake, over loopback
	inProcessStatus               // answered at once, in-process: the exporter's own work alone
)

// quickLookup answers every lookup at once, as the fake's batches API with
// onePercentRunning does, and counts them.
type quickLookup struct {
	running map[int64]bool
	n       atomic.Int64
}

func (q *quickLookup) Status(ctx context.Context, id string) (b2see.BatchStatus, error) {
	q.n.Add(1)
	n, _ := strconv.ParseInt(id, 10, 64)
	if q.running[n] {
		return b2see.BatchStatus{ID: id, Status: 1, TimeoutMinutes: 100000}, nil
	}
	return b2see.BatchStatus{ID: id, Status: 2, TimeoutMinutes: 100000}, nil
}

func benchmarkFirstScrape(b *testing.B, n int, mode statusLookups) {
	status := mode != noStatus
	records := b2seetest.Generate(n, 1, time.Now(), 29)
	fake := b2seetest.NewServer(b2seetest.Config{
		Records: records,
		Batches: b2seetest.BatchesConfig{DefaultStatus: onePercentRunning(records)},
	})
	config := b2see.Config{URL: fake.URL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30}
	// The cakes are served as the fake rendered them (see renderedCakes).
	// Only the status lookups need the fake, and its records, still.
	config.URL = renderedCakes(b, fake.URL)
	client, err := b2see.NewClient(config)
	if err != nil {
		b.Fatal(err)
	}
	lookups := func() int { return 0 }
	var batches collector.BatchLookup
	switch mode {
	case loopbackStatus:
		defer fake.Close()
		bc, err := b2see.NewBatchesClient(b2see.BatchesConfig{URL: fake.BatchesURL, HTTPClient: &http.Client{}})
		if err != nil {
			b.Fatal(err)
		}
		batches = bc
		lookups = func() int { return fake.Requests(b2seetest.Batches) }
	case inProcessStatus:
		q := &quickLookup{running: map[int64]bool{}}
		for i := 0; i < len(records); i += 100 {
			q.running[records[i].BatchId] = true
		}
		batches = q
		lookups = func() int { return int(q.n.Load()) }
	}
	if mode != loopbackStatus {
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

	var tFirst, tSteady, cFirst, cSteady time.Duration
	var lFirst, lSteady int
	timed := func(acc *collector.Account, d, cpu *time.Duration, looked *int) {
		runtime.GC()
		before := lookups()
		start, startCPU := time.Now(), cpuTime(b)
		scrape(b, acc, n)
		*d += time.Since(start)
		*cpu += cpuTime(b) - startCPU
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
			timed(first, &tFirst, &cFirst, &lFirst)
			timed(steady, &tSteady, &cSteady, &lSteady)
		} else {
			timed(steady, &tSteady, &cSteady, &lSteady)
			timed(first, &tFirst, &cFirst, &lFirst)
		}
		turn++
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tFirst)/float64(tSteady), "ratio")
	if cSteady > 0 {
		b.ReportMetric(float64(cFirst)/float64(cSteady), "cpu-ratio")
	}
	b.ReportMetric(float64(tFirst.Milliseconds())/float64(turn), "first-ms")
	b.ReportMetric(float64(tSteady.Milliseconds())/float64(turn), "steady-ms")
	if status {
		b.ReportMetric(float64(lFirst)/float64(turn), "first-lookups/op")
		b.ReportMetric(float64(lSteady)/float64(turn), "steady-lookups/op")
	}
}
