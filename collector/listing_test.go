package collector

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
)

// TestBatchListGivesBackWhatWasListed: IDs and times come back exact and
// in order, however far apart, and a record without a creation time has 0.
func TestBatchListGivesBackWhatWasListed(t *testing.T) {
	type batch struct{ id, created int64 }
	want := []batch{{5, 100}, {6, 90}, {math.MaxInt64, 0}, {math.MinInt64, math.MaxInt64}, {-1, math.MinInt64}, {0, 0}, {7, 1}, {7, 1}}
	var l batchList
	for _, b := range want {
		l.append(b.id, b.created)
	}
	l.add(&b2see.Record{ID: 42, HasID: true})
	l.add(&b2see.Record{ID: 43, HasID: true, DateCreated: time.Unix(1_800_000_000, 0)})
	want = append(want, batch{42, 0}, batch{43, 1_800_000_000})
	var got []batch
	l.each(func(id, created int64) { got = append(got, batch{id, created}) })
	if !slices.Equal(got, want) || l.n != len(want) {
		t.Errorf("got %v (%d), want %v", got, l.n, want)
	}
}

// TestBatchListIsCompact: the batches of an answer, in close ID order
// with close creation times, take a few bytes each, not 16.
func TestBatchListIsCompact(t *testing.T) {
	const batches = 100_000
	var l batchList
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range int64(batches) {
		// IDs a few apart, a batch every half minute, some out of order.
		l.append(9_000_000+3*i+i%5, created+30*i-i%7)
	}
	if perBatch := float64(len(l.buf)) / batches; perBatch > 4 {
		t.Errorf("%.1f bytes a batch, want at most 4", perBatch)
	}
}
