package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/b2see-exporter/b2see_exporter/state"
)

// TestCreatedTimestamps checks that every counter, and the request
// histogram, carries the time since which it has counted: the counters of
// the batch records their starting point, the status counters the start of
// the status memory, save failures the opening of the tracker, and the
// account's own counts the making of the account.
func TestCreatedTimestamps(t *testing.T) {
	// The batch records' starting point was taken an hour before.
	beforeOpen := time.Now()
	tr := state.Open(state.Options{Dir: t.TempDir(), Account: "north", Window: 30 * 24 * time.Hour})
	afterOpen := time.Now()
	started := t0.Add(-time.Hour)
	if err := tr.Begin().Commit(started); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	acc := newTestAccount(&memSource{batches: testBatches()}, func(o *AccountOptions) {
		o.Now = clk.now
		o.Counters = tr
		o.Status = &StatusOptions{Client: newMemLookup(), Statuses: exampleStatuses}
	})
	firstRead := t0.Add(2 * time.Minute) // the status memory starts with it
	clk.set(firstRead)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectorFor(acc))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{
		"b2see_scrape_errors_total":               t0,
		"b2see_upstream_requests_total":           t0,
		"b2see_upstream_request_duration_seconds": t0,
		"b2see_batches_created_total":             started,
		"b2see_landing_page_watches_total":        started,
		"b2see_video_plays_total":                 started,
		"b2see_link_clicks_total":                 started,
		"b2see_customer_actions_total":            started,
		"b2see_customer_action_value_total":       started,
		"b2see_count_corrections_total":           started,
		"b2see_batch_failures_total":              firstRead,
		"b2see_batch_timeouts_total":              firstRead,
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			got, ok := createdOf(mf.GetType(), m)
			if !ok {
				// The window's histogram is recomputed on every scrape, its
				// counts are no counter's.
				if mf.GetType() == dto.MetricType_COUNTER || !want[name].IsZero() {
					t.Errorf("%s: no created timestamp", name)
				}
				continue
			}
			seen[name] = true
			if name == "b2see_state_save_failures_total" {
				if got.Before(beforeOpen.Truncate(time.Microsecond)) || got.After(afterOpen) {
					t.Errorf("%s created %v, want when the tracker was opened, %v to %v", name, got, beforeOpen, afterOpen)
				}
				continue
			}
			w, ok := want[name]
			if !ok {
				t.Errorf("%s has a created timestamp the test does not know", name)
				continue
			}
			if !got.Equal(w) {
				t.Errorf("%s created %v, want %v", name, got, w)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: no series with a created timestamp", name)
		}
	}
	if !seen["b2see_state_save_failures_total"] {
		t.Error("b2see_state_save_failures_total: no created timestamp")
	}
}

// createdOf is the created timestamp of a counter or histogram m.
func createdOf(typ dto.MetricType, m *dto.Metric) (time.Time, bool) {
	switch {
	case typ == dto.MetricType_COUNTER && m.GetCounter().GetCreatedTimestamp() != nil:
		return m.GetCounter().GetCreatedTimestamp().AsTime(), true
	case typ == dto.MetricType_HISTOGRAM && m.GetHistogram().GetCreatedTimestamp() != nil:
		return m.GetHistogram().GetCreatedTimestamp().AsTime(), true
	}
	return time.Time{}, false
}

// TestNoCreatedTimestampWhenUnknown: before their starting point, and for
// state saved before it was recorded, the counters of the batch records
// say nothing of when they started.
func TestNoCreatedTimestampWhenUnknown(t *testing.T) {
	tr := state.Open(state.Options{Account: "north"}) // in memory, no starting point yet
	ch := make(chan prometheus.Metric, 16)
	collectCounters(ch, tr, tr.Totals(), "north")
	close(ch)
	n := 0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		if d.GetCounter().GetCreatedTimestamp() != nil {
			t.Errorf("%s has a created timestamp before the starting point", m.Desc())
		}
		n++
	}
	if n == 0 {
		t.Fatal("no counter emitted")
	}
}
