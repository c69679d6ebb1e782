package collector

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
	"github.com/b2see-exporter/b2see_exporter/state"
)

func TestLabelValueHygiene(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes, 2 per character
	for _, tt := range []struct{ in, want string }{
		{"", "unknown"},
		{"Rory Walsh", "Rory Walsh"},
		{"bad\xff\xfeend", "bad\ufffdend"},
		{"other", "other_"},
		{"other_", "other__"},
		{"other__", "other___"},
		{"others", "others"},
		{"Other", "Other"},
		{strings.Repeat("a", 128), strings.Repeat("a", 128)},
		{strings.Repeat("a", 129), strings.Repeat("a", 125) + "…"},
		// 125 bytes would cut an é in two: the cut goes back to 124.
		{long, strings.Repeat("é", 62) + "…"},
	} {
		got := labelValue(tt.in)
		if got != tt.want {
			t.Errorf("labelValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) || len(got) > maxLabelBytes {
			t.Errorf("labelValue(%q) = %q: not UTF-8 or longer than %d bytes", tt.in, got, maxLabelBytes)
		}
	}
	if optionalValue("") != "" || optionalValue("other") != "other_" {
		t.Error("optionalValue: an absent value must stay absent, others be labelValue's")
	}
}

func keptOf(c *valueCap) string {
	var out []string
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		if c.kept[v] {
			out = append(out, v)
		}
	}
	return strings.Join(out, ",")
}

// TestValueCapHysteresis: the top values are kept; a value near the edge
// does not take a kept one's place until it beats it by the margin; values
// gone from the window make room; a lower cap trims the weakest.
func TestValueCapHysteresis(t *testing.T) {
	var c valueCap
	for _, tt := range []struct {
		counts map[string]int64
		n      int
		kept   string
		folded int
	}{
		{map[string]int64{"a": 10, "b": 8, "c": 3}, 0, "", 0}, // no cap
		{map[string]int64{"a": 10, "b": 8}, 2, "", 0},         // all fit
		{map[string]int64{"a": 10, "b": 8, "c": 3, "d": 1}, 2, "a,b", 2},
		{map[string]int64{"a": 10, "b": 8, "c": 9, "d": 1}, 2, "a,b", 2},   // c beats b, not by the margin
		{map[string]int64{"a": 10, "b": 8, "c": 10, "d": 1}, 2, "a,c", 2},  // now it does: 10 >= 1.25*8, and 2 more
		{map[string]int64{"a": 10, "b": 11, "c": 10, "d": 1}, 2, "a,c", 2}, // b back above, not by the margin
		{map[string]int64{"a": 1, "b": 2, "c": 3, "d": 1}, 2, "a,c", 2},    // b beats a by 1: not enough
		{map[string]int64{"b": 2, "d": 1, "e": 1}, 2, "b,d", 1},            // a and c left the window
		{map[string]int64{"a": 5, "b": 2, "d": 1, "e": 1}, 1, "a", 3},      // a lower cap
	} {
		folded := c.choose(tt.counts, tt.n)
		if got := keptOf(&c); got != tt.kept || folded != tt.folded {
			t.Errorf("choose(%v, %d): kept %q, %d folded; want %q, %d", tt.counts, tt.n, got, folded, tt.kept, tt.folded)
		}
	}
}

// senderBatches are n batches of sender, from ID id on.
func senderBatches(id int64, sender string, n int) []b2see.Record {
	var out []b2see.Record
	for i := range n {
		out = append(out, b2see.Record{ID: id + int64(i), HasID: true, ProductType: "svc", SendingUserName: sender,
			VideoPlayCount: 2, CustomerActionState: "accepted", CustomerActionPrice: 10, CustomerActionPaymentOutcome: "paid"})
	}
	return out
}

// TestFoldingIntoOther: beyond the cap, the senders with the most batches
// keep their series and the others are summed into sender="other", totals
// exact; an upstream sender called "other" stays apart; the counts of
// values are exported and the start of folding logged once.
func TestFoldingIntoOther(t *testing.T) {
	var bs []b2see.Record
	for i, s := range []string{"ann", "bea", "cy", "other", "dee"} {
		bs = append(bs, senderBatches(int64(100*i), s, 5-i)...) // ann 5, bea 4, cy 3, other 2, dee 1
	}
	logger, log := testlog.Logger()
	acc := newTestAccount(&memSource{batches: bs}, func(o *AccountOptions) {
		o.Caps = LabelCaps{Senders: 2}
		o.Logger = logger
	})
	for range 2 {
		got := gather(t, collectorFor(acc))
		want := map[string]float64{
			"b2see_window_batches,product_type=svc,sender=ann":                                5,
			"b2see_window_batches,product_type=svc,sender=bea":                                4,
			"b2see_window_batches,product_type=svc,sender=other":                              6, // cy, "other" and dee
			"b2see_window_video_plays,product_type=svc,sender=other":                          12,
			"b2see_window_customer_actions,product_type=svc,sender=other,state=accepted":      6,
			"b2see_window_customer_action_value,product_type=svc,sender=other,state=accepted": 60,
			"b2see_label_values,label=sender":                                                 5,
			"b2see_label_values_folded,label=sender":                                          3,
			"b2see_label_values,label=product_type":                                           1,
			"b2see_label_values_folded,label=product_type":                                    0,
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		for k := range got {
			if strings.Contains(k, "sender=cy") || strings.Contains(k, "sender=dee") || strings.Contains(k, "sender=other_") {
				t.Errorf("a folded sender has a series of its own: %s", k)
			}
		}
	}
	if n := strings.Count(log.String(), `label values beyond the cap are summed into \"other\"`); n != 1 {
		t.Errorf("folding logged %d times, want once:\n%s", n, log.String())
	}

	// With room for it, the upstream's own "other" is other_, apart from
	// the overflow: from the read after the one that makes room on, since
	// a read already sums the values folded on the last one as they come.
	acc.Reconfigure(AccountOptions{Source: acc.opts.Source, SenderLabel: true, Caps: LabelCaps{Senders: 4}})
	for i, want := range [][2]float64{{0, 6}, {2, 1}} {
		got := gather(t, collectorFor(acc))
		if o, f := got["b2see_window_batches,product_type=svc,sender=other_"], got["b2see_window_batches,product_type=svc,sender=other"]; o != want[0] || f != want[1] {
			t.Errorf("read %d with the higher cap: other_ %v, other %v; want %v", i+1, o, f, want)
		}
	}
}

// TestCountersMonotonicAcrossTheCap: while senders and states move in and
// out of the kept values between scrapes, no counter series goes down or
// vanishes, and summed over all series the counters are exactly the
// upstream's growth.
func TestCountersMonotonicAcrossTheCap(t *testing.T) {
	for seed := range uint64(20) {
		checkCountersAcrossTheCap(t, seed)
	}
}

func checkCountersAcrossTheCap(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	src := &memSource{}
	acc := newTestAccount(src, func(o *AccountOptions) {
		o.Counters = state.Open(state.Options{Account: "north"})
		o.Caps = LabelCaps{Senders: 2, ActionStates: 1}
	})
	var bs []b2see.Record
	var grown, created, entries int64 // plays, batches and state entries after the starting point
	next := int64(1)
	prev := map[string]float64{}
	named := map[string]int{} // scrapes on which each sender had series of its own
	for step := range 30 {
		// Each step favours another sender, so that the top two change.
		fav := fmt.Sprint("s", step/5)
		for range 3 {
			sender := fav
			if rng.IntN(3) == 0 {
				sender = fmt.Sprint("s", rng.IntN(6))
			}
			bs = append(bs, b2see.Record{ID: next, HasID: true, ProductType: "svc", SendingUserName: sender,
				VideoPlayCount: int64(rng.IntN(3))})
			next++
			if step > 0 {
				created++
				grown += bs[len(bs)-1].VideoPlayCount
			}
		}
		bs = bs[max(0, len(bs)-15):] // the oldest leave the window
		for i := range bs {
			inc := int64(rng.IntN(2))
			bs[i].VideoPlayCount += inc
			if step > 0 {
				grown += inc
			}
			if rng.IntN(4) == 0 {
				st := []string{"", "offered", "accepted", "paid"}[rng.IntN(4)]
				if st != bs[i].CustomerActionState && st != "" && step > 0 {
					entries++
				}
				bs[i].CustomerActionState = st
			}
		}
		src.set(append([]b2see.Record(nil), bs...), nil)
		got := gather(t, collectorFor(acc))
		var plays, made, entered float64
		for k, v := range got {
			switch {
			case strings.HasPrefix(k, "b2see_video_plays_total,"):
				plays += v
			case strings.HasPrefix(k, "b2see_batches_created_total,"):
				made += v
			case strings.HasPrefix(k, "b2see_customer_actions_total,"):
				entered += v
			}
			if strings.HasPrefix(k, "b2see_window_batches,") && !strings.HasSuffix(k, "sender=other") {
				named[k]++
			}
		}
		if plays != float64(grown) || made != float64(created) || entered != float64(entries) {
			t.Fatalf("seed %d, step %d: over all series plays %v, created %v, entries %v; upstream grew %d, %d, %d",
				seed, step, plays, made, entered, grown, created, entries)
		}
		for k, v := range prev {
			if strings.Contains(k, "_total,") && got[k] < v {
				t.Fatalf("seed %d, step %d: %s went from %v to %v (present: %v)", seed, step, k, v, got[k], hasKey(got, k))
			}
		}
		prev = got
	}
	if len(named) < 4 {
		t.Fatalf("seed %d: only %d senders ever had series of their own: the test moves too few across the cap", seed, len(named))
	}
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

// TestSeriesLimitWithholds: past MaxSeries, the account's engagement
// series are withheld, b2see_up stays 1, each such scrape counts reason
// too_many_series, and the start and end are logged once each.
func TestSeriesLimitWithholds(t *testing.T) {
	logger, log := testlog.Logger()
	src := &memSource{batches: testBatches()}
	opts := func(o *AccountOptions) {
		o.Counters = state.Open(state.Options{Account: "north"})
		o.MaxSeries = 20
		o.Logger = logger
	}
	acc := newTestAccount(src, opts)
	for range 2 {
		got := gather(t, collectorFor(acc))
		if got["b2see_up"] != 1 {
			t.Errorf("b2see_up = %v, want 1", got["b2see_up"])
		}
		for k := range got {
			if strings.HasPrefix(k, "b2see_window_") || strings.HasPrefix(k, "b2see_video_plays_total") || strings.HasPrefix(k, "b2see_batches_created_total") {
				t.Errorf("%s is served past the limit", k)
			}
		}
		if got["b2see_label_values,label=sender"] != 2 || !hasKey(got, "b2see_count_corrections_total") {
			t.Errorf("the account's other series are withheld too: %v", got)
		}
	}
	got := gather(t, collectorFor(acc))
	if n := got["b2see_scrape_errors_total,reason=too_many_series"]; n != 3 {
		t.Errorf("too_many_series counted %v times, want 3", n)
	}
	if n := strings.Count(log.String(), "engagement series are withheld"); n != 1 {
		t.Errorf("withholding logged %d times, want once:\n%s", n, log.String())
	}
	acc.Reconfigure(AccountOptions{Source: src, SenderLabel: true, Counters: acc.opts.Counters, MaxSeries: 1000, Logger: logger})
	got = gather(t, collectorFor(acc))
	if got["b2see_window_batches,product_type=unknown,sender=unknown"] != 1 || !hasKey(got, "b2see_video_plays_total,product_type=unknown,sender=unknown") {
		t.Errorf("within the limit, the engagement series are not served again: %v", got)
	}
	if !strings.Contains(log.String(), "served again") {
		t.Errorf("the end of withholding is not logged:\n%s", log.String())
	}
}

// TestFoldingSwapsWithoutAGap: values near the edge do not flap; when an
// outsider does beat the weakest kept value, the two swap from one read
// to the next, and no read shows both folded.
func TestFoldingSwapsWithoutAGap(t *testing.T) {
	src := &memSource{}
	acc := newTestAccount(src, func(o *AccountOptions) { o.Caps = LabelCaps{Senders: 1} })
	type want struct{ ann, bea, other float64 }
	for i, tt := range []struct {
		ann, bea int
		want     want
	}{
		{10, 9, want{10, 0, 9}},   // the first read chooses at once
		{10, 11, want{10, 0, 11}}, // bea ahead, not by the margin
		{9, 10, want{9, 0, 10}},
		{10, 20, want{10, 0, 20}}, // bea beats the margin: the choice changes for the next read
		{10, 20, want{0, 20, 10}},
		{10, 20, want{0, 20, 10}},
	} {
		src.set(append(senderBatches(1, "ann", tt.ann), senderBatches(1000, "bea", tt.bea)...), nil)
		got := gather(t, collectorFor(acc))
		g := want{got["b2see_window_batches,product_type=svc,sender=ann"], got["b2see_window_batches,product_type=svc,sender=bea"],
			got["b2see_window_batches,product_type=svc,sender=other"]}
		if g != tt.want || got["b2see_label_values_folded,label=sender"] != 1 {
			t.Errorf("read %d (ann %d, bea %d): ann, bea, other = %v, %v folded; want %v, 1", i+1, tt.ann, tt.bea, g,
				got["b2see_label_values_folded,label=sender"], tt.want)
		}
	}
}
