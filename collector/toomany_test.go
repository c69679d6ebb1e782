package collector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// countingSource answers n distinct batches, made one at a time, after
// the same batch twice: what it answers costs no memory of its own.
type countingSource struct{ n int }

func (s countingSource) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	b := b2see.Record{ID: 1, HasID: true, ProductType: "p", VideoPlayCount: 3}
	if err := fn(&b); err != nil {
		return err
	}
	for i := range s.n {
		b = b2see.Record{ID: int64(i + 1), HasID: true, ProductType: "p", VideoPlayCount: 3}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// TestTooManyBatchesFailCleanly reads an answer of one batch more than an
// account's state holds: the read stops there as too_large, with a reason
// of its own, and neither the counters nor the window change.
func TestTooManyBatchesFailCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a million records")
	}
	logger, logs := testlog.Logger()
	tr := state.Open(state.Options{Account: "acme", Window: 30 * 24 * time.Hour})
	src := &switchSource{src: countingSource{n: 10}}
	acc := NewAccount(AccountOptions{Name: "acme", Source: src, Counters: tr, Logger: logger})
	c := New(context.Background(), []*Account{acc}, 1)
	gather(t, c) // the starting point: 10 batches

	src.src = countingSource{n: state.MaxBatches + 1}
	m := gather(t, c)
	if m["b2see_up"] != 0 {
		t.Errorf("b2see_up = %v after an answer of too many batches, want 0", m["b2see_up"])
	}
	if n := m["b2see_scrape_errors_total,reason=too_large"]; n != 1 {
		t.Errorf("too_large errors = %v, want 1", n)
	}
	if got := acc.Summary(); got.Batches != 10 || !strings.Contains(got.LastError, "more than 1000000 distinct batches") {
		t.Errorf("summary after too many batches: %d batches, error %q; want the last good window's 10 and the reason", got.Batches, got.LastError)
	}
	if n := tr.Status().Batches; n != 10 {
		t.Errorf("the counters remember %d batches after a failed read, want 10: nothing committed", n)
	}
	if !strings.Contains(logs.String(), "reason=too_large") {
		t.Errorf("the failure is not logged with its reason:\n%s", logs)
	}
	if n := m["b2see_batches_created_total,product_type=p"]; n != 0 {
		t.Errorf("batches created = %v, want 0", n)
	}
}

// switchSource reads from src, which a test may replace between reads.
type switchSource struct{ src Source }

func (s *switchSource) Cakes(ctx context.Context, fn func(*b2see.Record) error) error {
	return s.src.Cakes(ctx, fn)
}
