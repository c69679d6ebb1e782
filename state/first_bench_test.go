package state

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// BenchmarkFirstRead measures what the tracker does for one read of n
// batches, staged and committed with the save it makes: "first" on a
// fresh tracker opened on an empty directory (all new, the whole file
// written), "steady" on one that has seen the same records (nothing new,
// nothing saved), and "paired" the two alternated in one loop, reporting
// first/steady as "ratio". Opening the tracker is left out of the timing,
// as an exporter opens it when it starts. For instruction counts that do
// not depend on the machine's load, run "first" and "steady" under
// cachegrind:
//
//	go test ./state -run '^$' -bench 'FirstRead' -benchtime 10x -count 5
func BenchmarkFirstRead(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		root := b.TempDir()
		at := t0.Add(time.Minute)
		// fresh opens a tracker on an empty directory, as an exporter
		// starting with no saved state does.
		fresh := func() (*Tracker, string) {
			dir, err := os.MkdirTemp(root, "first-")
			if err != nil {
				b.Fatal(err)
			}
			return Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour}), dir
		}
		// steady returns a tracker that has read the records before.
		steady := func() *Tracker {
			tr, _ := fresh()
			read(b, tr, n, t0)
			return tr
		}
		prefix := fmt.Sprintf("batches=%d/", n)
		b.Run(prefix+"first", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				tr, dir := fresh()
				runtime.GC()
				b.StartTimer()
				read(b, tr, n, at)
				b.StopTimer()
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(prefix+"steady", func(b *testing.B) {
			tr := steady()
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				read(b, tr, n, at)
			}
		})
		b.Run(prefix+"paired", func(b *testing.B) {
			st := steady()
			var tFirst, tSteady time.Duration
			for b.Loop() {
				tr, dir := fresh()
				runtime.GC()
				start := time.Now()
				read(b, tr, n, at)
				tFirst += time.Since(start)
				runtime.GC()
				start = time.Now()
				read(b, st, n, at)
				tSteady += time.Since(start)
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tFirst)/float64(tSteady), "ratio")
		})
	}
}

// observe fills o with the record i of a busy account's window of n
// batches. Records are made one at a time, as a read decodes them: a
// million of them held at once would fill the heap with pointers for every
// collection to scan, as a tracker's heap never is.
func observe(o *Observation, i, n int) {
	*o = Observation{
		ID: int64(1_000_000 + i), ProductType: benchTypes[i%len(benchTypes)], Sender: benchSenders[i*7%len(benchSenders)],
		Created:     t0.Add(-time.Duration(n-i) * 2 * time.Second),
		Counts:      Counts{int64(i % 10), int64(i % 8), int64(i % 3), int64(i % 2), int64(i / 2 % 2)},
		ActionState: benchStates[i%len(benchStates)], ActionPrice: float64(i % 1000),
	}
}

var (
	benchTypes   = []string{"aftersales_via_portal", "service", "mot", "sales"}
	benchStates  = []string{"", "", "offered", "accepted", "paid"}
	benchSenders = func() []string {
		s := make([]string, 40)
		for i := range s {
			s[i] = fmt.Sprint("user", i)
		}
		return s
	}()
)

// read stages n records in tr and commits them at now, as one read does.
func read(b *testing.B, tr *Tracker, n int, now time.Time) {
	s := tr.Begin()
	for i := range n {
		observe(s.Next(), i, n)
	}
	if err := s.Commit(now); err != nil {
		b.Fatal(err)
	}
}
