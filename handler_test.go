package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestScrapeTimeout(t *testing.T) {
	const limit, offset = 30 * time.Second, 500 * time.Millisecond
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", limit},                                  // not Prometheus: the cap
		{"10", 9500 * time.Millisecond},              // Prometheus' default, less the offset
		{"2.5", 2 * time.Second},                     // fractions
		{"120", limit},                               // never more than the cap
		{"0.3", 300 * time.Millisecond},              // shorter than the offset: all there is
		{"-1", limit}, {"soon", limit}, {"0", limit}, // nonsense: the cap
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
}
