package collector_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// windowSource answers n distinct batches of a busy account, made one at
// a time, so that what the source holds does not count as the exporter's.
type windowSource struct {
	n   int
	now time.Time
}

var (
	sourceTypes   = []string{"aftersales_via_portal", "service", "mot", "sales"}
	sourceSenders = func() []string {
		var s []string
		for i := range 40 {
			s = append(s, "user"+strconv.Itoa(i))
		}
		return s
	}()
	sourceStates = []string{"", "", "offered", "accepted", "paid"}
)

func (s windowSource) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	var b b2see.Record
	for i := range s.n {
		b = b2see.Record{
			ID: int64(5_000_000 + i), HasID: true,
			ProductType: sourceTypes[i%len(sourceTypes)], SendingUserName: sourceSenders[i%len(sourceSenders)],
			DateCreated:           s.now.Add(-time.Duration(s.n-i) * 2 * time.Second).Truncate(time.Second),
			LandingPageWatchCount: int64(i % 10), VideoPlayCount: int64(i % 7), ImageLinkClicks: int64(i % 3),
			CustomerActionState: sourceStates[i%len(sourceStates)], CustomerActionPrice: float64(i % 1000),
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// instantLookup answers every status lookup at once: completed.
type instantLookup struct{}

func (instantLookup) Status(ctx context.Context, id string) (b2see.BatchStatus, error) {
	return b2see.BatchStatus{ID: id, Status: 2, TimeoutMinutes: 100000}, nil
}

// liveHeapPerBatch returns the live heap, after a collection, that an
// account keeps between scrapes for each of n batches in its window, after
// two reads: the counters' starting point, then a steady state.
func liveHeapPerBatch(tb testing.TB, n int, counters, status bool) float64 {
	tb.Helper()
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	opts := collector.AccountOptions{Name: "acme", Source: windowSource{n: n, now: now}, SenderLabel: true,
		Now: func() time.Time { return now }}
	if counters {
		opts.Counters = state.Open(state.Options{Account: "acme", Window: 30 * 24 * time.Hour})
	}
	if status {
		opts.Status = &collector.StatusOptions{Client: instantLookup{}, Statuses: exampleStatuses()}
	}
	acc := collector.NewAccount(opts)
	c := collector.New(context.Background(), []*collector.Account{acc}, 1)
	for range 2 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		if _, err := reg.Gather(); err != nil {
			tb.Fatal(err)
		}
		if s := acc.Summary(); !s.Up || s.Batches != int64(n) {
			tb.Fatalf("read failed: %+v", s)
		}
		now = now.Add(time.Minute)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(acc)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
}

// BenchmarkMemoryPerBatch reports the live heap an account keeps for each
// batch of its window between scrapes (B/batch), with the counters, the
// batch status memory, and both. Run it with
//
//	go test ./collector -run '^$' -bench MemoryPerBatch -benchtime 1x -count 5
func BenchmarkMemoryPerBatch(b *testing.B) {
	variants := []struct {
		name             string
		counters, status bool
	}{
		{"counters", true, false},
		{"status", false, true},
		{"counters+status", true, true},
	}
	for _, n := range []int{100_000, 1_000_000} {
		for _, v := range variants {
			b.Run("batches="+strconv.Itoa(n)+"/"+v.name, func(b *testing.B) {
				var per float64
				for b.Loop() {
					per = liveHeapPerBatch(b, n, v.counters, v.status)
				}
				b.ReportMetric(per, "B/batch")
			})
		}
	}
}

// TestMemoryPerBatch: an account with counters and batch status tracking
// keeps at most 64 bytes of live heap per batch of its window, measured
// over a million batches (about 58 when written).
func TestMemoryPerBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("a million batches")
	}
	const n, most = 1_000_000, 64
	if per := liveHeapPerBatch(t, n, true, true); per > most {
		t.Errorf("%.1f bytes of live heap per batch, want at most %d", per, most)
	} else {
		t.Logf("%.1f bytes of live heap per batch", per)
	}
}
