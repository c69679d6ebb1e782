package collector

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
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
	refs := make([]listedBatch, batches)
	for i := range refs {
		refs[i] = listedBatch{id: int64(i + 1)}
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
