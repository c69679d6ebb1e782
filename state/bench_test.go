package state

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// benchTracker returns a tracker under dir that remembers n batches of a
// busy account, counted over two scrapes.
func benchTracker(b *testing.B, dir string, n int) (*Tracker, time.Time) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"aftersales_via_portal", "service", "mot", "sales"}
	states := []string{"", "", "offered", "accepted", "paid"}
	records := make([]Observation, n)
	for i := range records {
		records[i] = Observation{
			ID: int64(1_000_000 + i), ProductType: types[r.IntN(len(types))], Sender: fmt.Sprint("user", r.IntN(40)),
			Created:     t0.Add(-30*24*time.Hour + time.Duration(i)*20*time.Second),
			Counts:      Counts{int64(r.IntN(10)), int64(r.IntN(8)), int64(r.IntN(3)), int64(r.IntN(2)), int64(r.IntN(2))},
			ActionState: states[r.IntN(len(states))], ActionPrice: float64(r.IntN(1000)),
		}
	}
	tr := Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})
	sc := tr.Begin()
	for i := range records {
		sc.Add(&records[i])
	}
	sc.Commit(t0)
	sc = tr.Begin()
	for i := range records {
		records[i].Counts[Watches] += int64(r.IntN(3))
		sc.Add(&records[i])
	}
	if err := sc.Commit(t0.Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
	return tr, t0.Add(time.Minute)
}

func BenchmarkSave(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	tr, at := benchTracker(b, dir, n)
	for b.Loop() {
		if err := tr.Save(at); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(Path(dir, "acme"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/n, "bytes/batch")
}

// BenchmarkLoad measures opening the state of 100,000 and of 1,000,000
// batches from its file.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("batches=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			benchTracker(b, dir, n)
			for b.Loop() {
				if got := Open(Options{Dir: dir, Account: "acme"}).Status().Batches; got != n {
					b.Fatalf("loaded %d batches, want %d", got, n)
				}
			}
		})
	}
}
