package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

func TestScrapeTimeout(t *testing.T) {
	const limit, offset = 30 * time.Second, 500 * time.Millisecond
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", limit},                       // not Prometheus: the cap
		{"10", 9500 * time.Millisecond},   // Prometheus' default, less the offset
		{"2.5", 2 * time.Second},          // fractions
		{"120", limit},                    // never more than the cap
		{"1.2", time.Second},              // never less than the floor
		{"0.3", time.Second},              // shorter than the offset: the floor
		{"0.000001", time.Second},         // tiny: the floor
		{"1e300", limit}, {"+Inf", limit}, // huge: the cap
		{"-1", limit}, {"soon", limit}, {"0", limit}, // nonsense: the cap
		{"NaN", limit},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tt.header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tt.header)
		}
		if got := scrapeTimeout(r, limit, offset); got != tt.want {
			t.Errorf("header %q: timeout %v, want %v", tt.header, got, tt.want)
		}
	}
	// A cap below the floor wins: --b2see.timeout is the longest wait.
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.1")
	if got := scrapeTimeout(r, 200*time.Millisecond, offset); got != 200*time.Millisecond {
		t.Errorf("cap 200ms, header 0.1: timeout %v, want the cap", got)
	}
}

// TestTinyScrapeTimeoutHurtsNoOne is the reported case: with a minimum
// interval, one request asking for a tiny scrape timeout gets its own
// answer by the floor, and every later scrape still gets the account's
// real state, from the same single read.
func TestTinyScrapeTimeoutHurtsNoOne(t *testing.T) {
	north, _, cfg, _ := twoFakes(t)
	// Longer than the floor: the tiny scrape gives up before the answer.
	north.SetFault(b2seetest.Cakes, b2seetest.Fault{Delay: minScrapeTimeout + 500*time.Millisecond})
	e := newTestExporter(t, cfg, "--b2see.min-interval=5m")
	probe := func(timeout string) (float64, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/probe?account=north", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return parseMetrics(t, string(b))["b2see_up{account=north}"], time.Since(start)
	}
	up, took := probe("0.000001")
	if up != 0 || took < minScrapeTimeout {
		t.Errorf("tiny timeout: up %v after %v; want 0, after at least the floor %v", up, took, minScrapeTimeout)
	}
	for range 3 {
		if up, _ := probe("10"); up != 1 {
			t.Fatalf("a scrape after the tiny one is down: %s", e.accounts.accounts()[0].Summary().LastError)
		}
	}
	if got := north.Requests(b2seetest.Cakes); got != 1 {
		t.Errorf("%d upstream calls, want 1: the minimum interval serves the one read", got)
	}
}
