package collector

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// hugeBatch has every count at the top of int64 and a price near the
// largest float, so that two of them overflow any plain sum.
func hugeBatch(id int64) b2see.Record {
	const huge = math.MaxInt64
	return b2see.Record{ID: id, HasID: true, ProductType: "p",
		LandingPageWatchCount: huge, VideoPlayCount: huge,
		ImageLinkClicks: huge, FacebookClicks: huge, GoogleClicks: huge,
		CustomerActionState: "accepted", CustomerActionPrice: 1.7e308}
}

// checkSane fails for a gauge that is negative or not finite, and for one
// of the counters kept in the state file that is lower than in before.
func checkSane(t *testing.T, when string, before, after map[string]float64) {
	t.Helper()
	for key, v := range after {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			t.Errorf("%s: %s is %v", when, key, v)
		}
		name, _, _ := strings.Cut(key, ",")
		if slices.Contains(counterNames, name) {
			if old, ok := before[key]; ok && v < old {
				t.Errorf("%s: counter %s went down from %v to %v", when, key, old, v)
			}
		} else if v < 0 {
			t.Errorf("%s: gauge %s is negative: %v", when, key, v)
		}
	}
}

func TestHugeCountsSaturate(t *testing.T) {
	dir := t.TempDir()
	src := &replaySource{failAfter: -1}
	clk := &clock{}
	open := func() *Account {
		return NewAccount(AccountOptions{Name: "acme", Source: src, SenderLabel: false, Now: clk.now,
			Counters: state.Open(state.Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})})
	}
	acc := open()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	scrape := func(i int, acc *Account, batches ...b2see.Record) map[string]float64 {
		src.batches = batches
		clk.set(start.Add(time.Duration(i) * time.Minute))
		return gather(t, New(context.Background(), []*Account{acc}, 1))
	}
	small := b2see.Record{ID: 1, HasID: true, ProductType: "p"}
	const p = ",product_type=p,sender="
	maxInt, maxUint := float64(math.MaxInt64), float64(math.MaxUint64)

	first := scrape(0, acc, small) // the starting point
	// Negative counts add nothing: they are not subtracted from the sums.
	negative := b2see.Record{ID: 6, HasID: true, ProductType: "p", LandingPageWatchCount: math.MinInt64,
		VideoPlayCount: math.MinInt64, ImageLinkClicks: -1, FacebookClicks: math.MinInt64, GoogleClicks: -1}
	two := scrape(1, acc, small, hugeBatch(2), negative, hugeBatch(3))
	checkSane(t, "two huge batches", first, two)
	for _, key := range []string{"b2see_window_video_plays" + p, "b2see_window_landing_page_watches" + p,
		"b2see_window_link_clicks,link=image" + p, "b2see_window_link_clicks,link=facebook" + p, "b2see_window_link_clicks,link=google" + p} {
		if two[key] != maxInt {
			t.Errorf("two huge batches: %s = %v, want %v", key, two[key], maxInt)
		}
	}
	if v := two["b2see_window_customer_action_value"+p+",state=accepted"]; v != math.MaxFloat64 {
		t.Errorf("two prices of 1.7e308: b2see_window_customer_action_value = %v, want %v", v, math.MaxFloat64)
	}
	if v := two["b2see_customer_action_value_total"+p+",state=accepted"]; v != math.MaxFloat64 {
		t.Errorf("two prices of 1.7e308: b2see_customer_action_value_total = %v, want %v", v, math.MaxFloat64)
	}
	if v := two["b2see_video_plays_total"+p]; v != maxUint {
		t.Errorf("two huge batches: b2see_video_plays_total = %v, want %v", v, maxUint)
	}

	three := scrape(2, acc, small, hugeBatch(2), negative, hugeBatch(3), hugeBatch(4))
	checkSane(t, "a third huge batch", two, three)
	if v := three["b2see_video_plays_total"+p]; v != maxUint {
		t.Errorf("a third huge batch: b2see_video_plays_total = %v, want %v", v, maxUint)
	}

	// A restart loads the saturated counters and counts on from there.
	src.failAfter = 0
	loaded := scrape(3, open())
	src.failAfter = -1
	checkSane(t, "after a restart", three, loaded)
	for key, v := range three {
		if name, _, _ := strings.Cut(key, ","); strings.HasSuffix(name, "_total") && slices.Contains(counterNames, name) && loaded[key] != v {
			t.Errorf("after a restart: %s = %v, want %v as saved", key, loaded[key], v)
		}
	}
	acc = open()
	more := scrape(4, acc, small, hugeBatch(2), negative, hugeBatch(3), hugeBatch(4), hugeBatch(5))
	checkSane(t, "a huge batch after a restart", loaded, more)
}
