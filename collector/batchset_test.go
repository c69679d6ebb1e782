package collector

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBatchSet checks the set against a map for IDs in ascending order, with
// duplicates next to each other and far apart, out of order from the start,
// out of order late, and at the ends of int64.
func TestBatchSet(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ascending := func(n int) []int64 {
		ids := make([]int64, n)
		id := int64(1000)
		for i := range ids {
			id += 1 + r.Int64N(7)
			ids[i] = id
		}
		return ids
	}
	dupEvery := func(ids []int64, k int) []int64 {
		var out []int64
		for i, id := range ids {
			out = append(out, id)
			if i%k == 0 {
				out = append(out, id, ids[r.IntN(i+1)]) // next to it, and any earlier
			}
		}
		return out
	}
	late := ascending(500)
	late = append(late, late[10]-1, late[20], late[499]+1, late[20]-1, late[499]+1)
	shuffled := dupEvery(ascending(500), 7)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tt := range []struct {
		name string
		ids  []int64
	}{
		{"ascending", ascending(1000)},
		{"ascending with duplicates", dupEvery(ascending(1000), 5)},
		{"out of order late", late},
		{"shuffled", shuffled},
		{"descending", []int64{5, 4, 3, 3, 5, 2, 4, 1}},
		{"ends of int64", []int64{math.MinInt64, -1, 0, math.MaxInt64, math.MinInt64, math.MaxInt64, 0, 1, -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s batchSet
			want := map[int64]bool{}
			for i, id := range tt.ids {
				if got := s.add(id); got != !want[id] {
					t.Fatalf("add #%d (%d) = %v, want %v", i, id, got, !want[id])
				}
				want[id] = true
			}
		})
	}
}
