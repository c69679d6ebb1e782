package collector

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// wastefulLookup answers every lookup at once, leaving perLookup bytes of
// garbage, and records the most the heap held during a lookup.
type wastefulLookup struct {
	perLookup int
	mu        sync.Mutex
	sink      []byte
	most      uint64
	sample    [1]metrics.Sample
}

func (l *wastefulLookup) Status(ctx context.Context, id string) (b2see.BatchStatus, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sink = make([]byte, l.perLookup)
	l.sample[0].Name = "/memory/classes/heap/objects:bytes"
	metrics.Read(l.sample[:])
	l.most = max(l.most, l.sample[0].Value.Uint64())
	return b2see.BatchStatus{ID: id, Status: 1, TimeoutMinutes: 60}, nil
}

// TestLookupsBoundTheirGarbage runs a round of lookups beside a live heap
// so large that the collector, left to itself, would let the lookups'
// garbage grow to all of it: the heap must grow by little more than
// lookupGarbage instead.
func TestLookupsBoundTheirGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 64 MB")
	}
	const batches, perLookup = 1_000, 32 << 10 // 32 MB of garbage in all
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = byte(i) // resident, as a table of batches is
	}
	l := &wastefulLookup{perLookup: perLookup}
	tr := newStatusTracker(StatusOptions{Client: l, Statuses: exampleStatuses}, nil, slog.New(slog.DiscardHandler), time.Now, func(error, time.Duration) {})
	refs := &batchList{}
	for i := range batches {
		refs.append(int64(i+1), 0)
	}
	runtime.GC()
	var s [1]metrics.Sample
	s[0].Name = "/memory/classes/heap/objects:bytes"
	metrics.Read(s[:])
	before := s[0].Value.Uint64()
	tr.refresh(context.Background(), refs)
	runtime.KeepAlive(ballast)

	// Between two checks, garbageCheckEvery lookups and those in flight
	// add their garbage to the bound; the rest is slack for the runtime.
	allowed := uint64(lookupGarbage + (garbageCheckEvery+tr.concurrency)*perLookup + 4<<20)
	if grew := l.most - before; grew > allowed {
		t.Errorf("the heap grew by %.1f MB during %d lookups leaving %d KB of garbage each, want at most %.1f MB",
			float64(grew)/(1<<20), batches, perLookup>>10, float64(allowed)/(1<<20))
	}
	if got := tr.mem.Len(); got != batches {
		t.Errorf("%d batches in the memory, want %d", got, batches)
	}
}

// TestSavingTheStatusMemoryTakesNoCopy: a save of the status memory
// allocates about the file it writes, not a list of its batches too.
func TestSavingTheStatusMemoryTakesNoCopy(t *testing.T) {
	const batches = 100_000
	path := filepath.Join(t.TempDir(), "statuses")
	tr := newStatusTracker(StatusOptions{Client: instantAnswer{}, Statuses: exampleStatuses, StateFile: path}, nil, slog.New(slog.DiscardHandler), time.Now, func(error, time.Duration) {})
	tr.mu.Lock()
	now := time.Now().Unix()
	for id := range int64(batches) {
		i, _ := tr.mem.Add(id+1, -1)
		tr.mem.Set(i, state.StatusEntry{Code: 2, Timeout: 60, Phase: phaseSucceeded, Flags: flagKnown})
		tr.mem.List(i, now, now)
	}
	tr.since, tr.dirty = now, true
	tr.mu.Unlock()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tr.saveIfDirty()
	runtime.ReadMemStats(&after)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The file's buffer is sized from a guess of 12 bytes a batch: room
	// for a quarter more than the file, and some for writing it.
	allowed := uint64(fi.Size()+fi.Size()/4) + 64<<10
	if got := after.TotalAlloc - before.TotalAlloc; got > allowed {
		t.Errorf("saving %d batches in %d bytes allocated %d bytes, want at most %d", batches, fi.Size(), got, allowed)
	}
}

// instantAnswer answers every lookup: completed.
type instantAnswer struct{}

func (instantAnswer) Status(ctx context.Context, id string) (b2see.BatchStatus, error) {
	return b2see.BatchStatus{ID: id, Status: 2, TimeoutMinutes: 60}, nil
}

// wastefulSource answers n distinct batches, leaving perRecord bytes of
// garbage with each, and records the most the heap held during the read.
type wastefulSource struct {
	n, perRecord int
	sink         []byte
	most         uint64
}

func (s *wastefulSource) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for i := range s.n {
		s.sink = make([]byte, s.perRecord)
		metrics.Read(sample)
		s.most = max(s.most, sample[0].Value.Uint64())
		if err := fn(&b2see.Record{ID: int64(i + 1), HasID: true, ProductType: "service", DateCreated: t0}); err != nil {
			return err
		}
	}
	return nil
}

// TestReadsBoundTheirGarbage reads an answer beside a live heap so large
// that the collector, left to itself, would let the read's garbage grow to
// all of it: the heap must grow by little more than readGarbage instead.
func TestReadsBoundTheirGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 72 MB")
	}
	const records, perRecord = 8 * garbageCheckEveryRecords, 2 << 10 // 64 MB of garbage in all
	ballast := make([]byte, 72<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	src := &wastefulSource{n: records, perRecord: perRecord}
	acc := newTestAccount(src, nil)
	runtime.GC()
	var s [1]metrics.Sample
	s[0].Name = "/memory/classes/heap/objects:bytes"
	metrics.Read(s[:])
	before := s[0].Value.Uint64()
	collectOnce(acc)
	runtime.KeepAlive(ballast)

	// Between two checks garbageCheckEveryRecords records add their
	// garbage to the bound; what the read keeps of 32,768 batches, and the
	// runtime, take the rest.
	allowed := uint64(readGarbage + garbageCheckEveryRecords*perRecord + 8<<20)
	if grew := src.most - before; grew > allowed {
		t.Errorf("the heap grew by %.1f MB during a read of %d records leaving %d KB of garbage each, want at most %.1f MB",
			float64(grew)/(1<<20), records, perRecord>>10, float64(allowed)/(1<<20))
	}
}

// TestTheDueLookupsAreListedToSize: a read of a window whose batches are
// all still due allocates their list of lookups once, to size.
func TestTheDueLookupsAreListedToSize(t *testing.T) {
	const batches = 100_000
	tr := newStatusTracker(StatusOptions{Client: instantAnswer{}, Statuses: exampleStatuses}, nil, slog.New(slog.DiscardHandler), time.Now, func(error, time.Duration) {})
	refs := &batchList{}
	for i := range batches {
		refs.append(int64(i+1), t0.Unix())
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.takeWindow(refs) // the first read makes the table
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	todo := tr.takeWindow(refs)
	runtime.ReadMemStats(&after)
	if len(todo) != batches {
		t.Fatalf("%d lookups due, want %d", len(todo), batches)
	}
	size := uint64(batches) * uint64(unsafe.Sizeof(dueLookup{}))
	if got := after.TotalAlloc - before.TotalAlloc; got > size+size/16 {
		t.Errorf("listing %d lookups of %d bytes allocated %d bytes, want at most %d", batches, size, got, size+size/16)
	}
}
