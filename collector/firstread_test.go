package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
)

// heapSampler is a Source that reads the heap every few records, for the
// peak of a read.
type heapSampler struct {
	src  collector.Source
	peak uint64
}

func (h *heapSampler) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	n := 0
	return h.src.Cakes(ctx, func(r *b2see.Record) error {
		if n++; n%2000 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapAlloc)
		}
		return fn(r)
	})
}

// firstReadGrowth is how far the heap grows above where it was, at most,
// during the first read of records (with no saved state), under the
// default caps with counters on, over loopback from the fake.
func firstReadGrowth(t *testing.T, records []b2seetest.Record) uint64 {
	srv := b2seetest.NewServer(b2seetest.Config{Records: records})
	defer srv.Close()
	client, err := b2see.NewClient(b2see.Config{
		URL: srv.URL, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30,
		HTTPClient: &http.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The fake renders its answer once, on the first request: not the
	// exporter's memory.
	fetchBody(t, client.Endpoint()+"?customerId="+b2seetest.DefaultCustomerID+"&apiKey="+b2seetest.DemoAPIKey+"&daysOfHistory=30")
	src := &heapSampler{src: client}
	acc := defaultAccountOf(src)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	scrapeText(t, acc)
	if st := acc.Summary(); !st.Up || st.Batches != int64(len(records)) {
		t.Fatalf("the read failed: %+v", st)
	}
	if src.peak < base {
		return 0
	}
	return src.peak - base
}

// TestFirstReadWithManyValues: the first read after a start, which has no
// earlier choice of the values to keep, costs a bounded amount of memory
// more when every record brings a product type, sender, action state,
// payment outcome and rating of its own than when 24 senders send
// everything: the values beyond the caps are summed into "other" as the
// records come, and a read counts at most 32,768 values of a label one by
// one (measured: 15 MB more; 134 MB more before the window folded on the
// way).
func TestFirstReadWithManyValues(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 100,000 records twice")
	}
	const n = 100_000
	few := b2seetest.GenerateWith(n, 1, time.Now(), 29, b2seetest.GenerateOptions{Senders: 24})
	many := b2seetest.GenerateWith(n, 1, time.Now(), 29, b2seetest.GenerateOptions{Senders: 24})
	for i := range many {
		r := &many[i]
		r.SendingUserName = fmt.Sprintf("Sender %06d", i)
		r.ProductType = fmt.Sprintf("Product type %06d", i)
		state, outcome, rating := fmt.Sprintf("state %06d", i), fmt.Sprintf("outcome %06d", i), i%2001-1000
		r.CustomerActionState, r.CustomerActionPaymentOutcome, r.CustomerRating = &state, &outcome, &rating
	}
	growFew := firstReadGrowth(t, few)
	growMany := firstReadGrowth(t, many)
	t.Logf("heap growth during the first read: 24 senders %.1f MB, every label's value distinct %.1f MB",
		float64(growFew)/1e6, float64(growMany)/1e6)
	// The collector's garbage bound lets the heap grow by 8 MB between
	// collections; the four tallies of 32,768 values, with their names,
	// take some 10 MB.
	if growMany > growFew+32<<20 {
		t.Errorf("distinct values grew the heap by %.1f MB during the first read, against %.1f MB for 24 senders",
			float64(growMany)/1e6, float64(growFew)/1e6)
	}
}
