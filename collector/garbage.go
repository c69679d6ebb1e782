package collector

import (
	"runtime"
	"runtime/metrics"
)

// lookupGarbage is the most the heap may grow by between two collections
// while a round of status lookups runs. Each lookup leaves some kilobytes
// of garbage (the request, the answer, its goroutine's work), and a round
// makes up to a lookup for every batch of the window. Left to itself the
// collector lets garbage grow to the size of the live heap (GOGC=100):
// with a large account, as much as the whole table of its batches again,
// for the lookups alone. Past this bound a collection runs at once; with a
// small heap the collector runs sooner by itself and none is forced.
const lookupGarbage = 8 << 20

// readGarbage is the same bound for a read of the cakes: what a read
// stages until it is whole is live, and the garbage of staging it (the
// lists it grows, the answer's buffers) need not double it.
const readGarbage = lookupGarbage

// garbageCheckEveryRecords is how many records a read takes between two
// looks at the heap.
const garbageCheckEveryRecords = 4096

// garbageCheckEvery is how many lookups start between two looks at the
// heap: reading the runtime's figures costs far less than a lookup, but
// not nothing.
const garbageCheckEvery = 64

// garbageBound forces a collection when the heap has grown by more than
// limit bytes since the last one, looking every so many calls of tick. The
// figures are the process's, not the caller's: the garbage of other work
// counts as well.
type garbageBound struct {
	limit   uint64
	every   int
	calls   int
	samples [2]metrics.Sample
	cycles  uint64 // collections completed at the last look
	base    uint64 // bytes allocated in all when a collection was last seen
}

func newGarbageBound(limit uint64, every int) *garbageBound {
	b := &garbageBound{limit: limit, every: every}
	b.samples[0].Name = "/gc/heap/allocs:bytes"
	b.samples[1].Name = "/gc/cycles/total:gc-cycles"
	b.read()
	return b
}

// tick counts one call, and every so many calls checks the heap.
func (b *garbageBound) tick() {
	if b.calls++; b.calls%b.every == 0 {
		b.check()
	}
}

// read returns the bytes allocated in all, noting when a collection ran
// since the last look.
func (b *garbageBound) read() uint64 {
	metrics.Read(b.samples[:])
	allocs, cycles := b.samples[0].Value.Uint64(), b.samples[1].Value.Uint64()
	if cycles != b.cycles {
		b.cycles, b.base = cycles, allocs
	}
	return allocs
}

// check collects the garbage when more than the limit was allocated since
// the last collection, and reports whether it did.
func (b *garbageBound) check() bool {
	if b.read()-b.base <= b.limit {
		return false
	}
	runtime.GC()
	b.read()
	return true
}
