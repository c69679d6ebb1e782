package collector

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestHistogram: observations fall in the first bucket whose bound they do
// not pass, buckets are emitted cumulative, and values past the last bound
// count only in the total.
func TestHistogram(t *testing.T) {
	h := newHistogram([]float64{1, 5, 10})
	for _, v := range []float64{0.5, 1, 3, 7, 12} {
		h.observe(v)
	}
	var m dto.Metric
	if err := h.metric(upstreamDurationDesc, time.Unix(100, 0), "north", "cakes").Write(&m); err != nil {
		t.Fatal(err)
	}
	hist := m.GetHistogram()
	if hist.GetSampleCount() != 5 || hist.GetSampleSum() != 23.5 || hist.GetCreatedTimestamp().AsTime().Unix() != 100 {
		t.Fatalf("count %d, sum %v, created %v", hist.GetSampleCount(), hist.GetSampleSum(), hist.GetCreatedTimestamp())
	}
	want := map[float64]uint64{1: 2, 5: 3, 10: 4}
	for _, b := range hist.GetBucket() {
		if want[b.GetUpperBound()] != b.GetCumulativeCount() {
			t.Errorf("bucket %v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
		}
	}
	if len(hist.GetBucket()) != 3 {
		t.Errorf("%d buckets, want 3", len(hist.GetBucket()))
	}
	var noCreated dto.Metric
	if err := h.metric(upstreamDurationDesc, time.Time{}, "north", "cakes").Write(&noCreated); err != nil || noCreated.GetHistogram().CreatedTimestamp != nil {
		t.Errorf("with no start known: created %v, %v", noCreated.GetHistogram().GetCreatedTimestamp(), err)
	}
}
