package collector

import (
	"strconv"
	"strings"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
)

// TestUnmappedStatusCodesCapped: of many status codes with no configured
// meaning, the most frequent keep series of their own and the others are
// summed into status="other", the total exact; each of the first ones is
// logged once, the rest in one line.
func TestUnmappedStatusCodesCapped(t *testing.T) {
	l := newMemLookup()
	var ids []int64
	for i := range int64(100) {
		code := 100 + int(i)
		l.set(i+1, code, 60)
		ids = append(ids, i+1)
		if i < maxUnmappedCodes { // a second batch: these codes are the most frequent
			l.set(i+1001, code, 60)
			ids = append(ids, i+1001)
		}
	}
	l.set(5000, 2, 60) // a mapped code
	ids = append(ids, 5000)
	logger, log := testlog.Logger()
	src := &memSource{}
	clk := &clock{t: t0}
	acc := newTestAccount(src, func(o *AccountOptions) {
		o.Status = &StatusOptions{Client: l, Statuses: exampleStatuses}
		o.Now = clk.now
		o.Logger = logger
	})
	pastBaseline(t, acc, src, statusBatches(ids...))
	for range 2 {
		got := gather(t, collectorFor(acc))
		total := 0.0
		for k, v := range got {
			if !strings.HasPrefix(k, "b2see_batch_status,phase=unknown,") {
				continue
			}
			total += v
			code, err := strconv.Atoi(strings.TrimPrefix(k, "b2see_batch_status,phase=unknown,status="))
			if err == nil && (code < 100 || code >= 100+maxUnmappedCodes) {
				t.Errorf("%s has a series of its own beyond the cap", k)
			}
		}
		if total != 120 || got["b2see_batch_status,phase=unknown,status=other"] != 80 || got["b2see_batch_status,phase=unknown,status=100"] != 2 {
			t.Errorf("unmapped codes: total %v, other %v, 100 %v; want 120, 80, 2", total,
				got["b2see_batch_status,phase=unknown,status=other"], got["b2see_batch_status,phase=unknown,status=100"])
		}
		if got["b2see_batch_status,phase=succeeded,status=completed"] != 1 {
			t.Errorf("the mapped code is not apart: %v", got["b2see_batch_status,phase=succeeded,status=completed"])
		}
	}
	if n := strings.Count(log.String(), "no configured meaning; it is exported as its number"); n != maxUnmappedCodes {
		t.Errorf("%d codes logged one by one, want %d", n, maxUnmappedCodes)
	}
	if n := strings.Count(log.String(), "more status codes with no configured meaning"); n != 1 {
		t.Errorf("the codes beyond are summarised in %d lines, want 1:\n%s", n, log.String())
	}
}
