package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
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
	north, _, cfg, _ := fixture.TwoAccounts(t)
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
		return parseMetrics(t, string(b)).Value(`b2see_up{account="north"}`), time.Since(start)
	}
	up, took := probe("0.000001")
	if up != 0 || took < minScrapeTimeout {
		t.Errorf("tiny timeout: up %v after %v; want 0, after at least the floor %v", up, took, minScrapeTimeout)
	}
	for range 3 {
		if up, _ := probe("10"); up != 1 {
			t.Fatalf("a scrape after the tiny one is down: %s", e.accounts.Accounts()[0].Summary().LastError)
		}
	}
	if got := north.Requests(b2seetest.Cakes); got != 1 {
		t.Errorf("%d upstream calls, want 1: the minimum interval serves the one read", got)
	}
}

// TestOnlyGetAndHead: the pages that read the upstream answer other
// methods 405, without reading it.
func TestOnlyGetAndHead(t *testing.T) {
	north, _, cfg, _ := fixture.TwoAccounts(t)
	e := newTestExporter(t, cfg)
	for _, path := range []string{"/metrics", "/probe?account=north", "/", "/anything"} {
		for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodTrace, http.MethodPost, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
			req, _ := http.NewRequest(method, e.srv.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q; want 405, Allow GET, HEAD", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	if got := north.Requests(b2seetest.Cakes); got != 0 {
		t.Errorf("refused methods made %d upstream calls", got)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if code, _ := e.do(t, method, "/probe?account=north"); code != 200 {
			t.Errorf("%s /probe: %d", method, code)
		}
	}
	if got := north.Requests(b2seetest.Cakes); got != 2 {
		t.Errorf("GET and HEAD made %d upstream calls, want 2", got)
	}
}

// TestReloadRefusesCrossSiteRequests: a web page can make a browser POST
// a form to the exporter; such posts must not reload it. Tools still can.
func TestReloadRefusesCrossSiteRequests(t *testing.T) {
	_, _, cfg, _ := fixture.TwoAccounts(t)
	e := newTestExporter(t, cfg)
	app := kingpin.New("test", "")
	f, err := parseFlags(app, []string{"--config.file=" + e.cfgPath}, &promslog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reloads := 0
	srv := httptest.NewServer(newHandler(f, e.accounts, func() error { reloads++; return nil }, e.reg, slog.New(slog.DiscardHandler)))
	defer srv.Close()

	tests := []struct {
		name    string
		headers map[string]string
		body    string
		ok      bool
	}{
		{"curl -X POST", nil, "", true},
		{"a tool posting JSON", map[string]string{"Content-Type": "application/json"}, "{}", true},
		{"the same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL}, "", true},
		{"a form, urlencoded", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "a=b", false},
		{"a form, curl -d", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "", false},
		{"a form, multipart", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, "--x--\r\n", false},
		{"a form, text/plain", map[string]string{"Content-Type": "Text/Plain; charset=UTF-8"}, "a=b", false},
		{"another site", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", false},
		{"a sibling site", map[string]string{"Sec-Fetch-Site": "same-site"}, "", false},
		{"another origin, older browser", map[string]string{"Origin": "http://attacker.example"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reloads
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/-/reload", strings.NewReader(tt.body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.ok && (resp.StatusCode != 200 || reloads != before+1) {
				t.Errorf("refused: %d %q", resp.StatusCode, body)
			}
			if !tt.ok && (resp.StatusCode < 400 || reloads != before) {
				t.Errorf("reloaded: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestProbeOddNames: an unknown account name of any shape gets a plain
// text 400 that quotes it escaped and truncated: no markup a browser would
// render, no control character, no header of the caller's making.
func TestProbeOddNames(t *testing.T) {
	_, _, cfg, _ := fixture.TwoAccounts(t)
	e := newTestExporter(t, cfg)
	for _, tt := range []struct{ name, query string }{
		{"very long", strings.Repeat("n", 10000)},
		{"control characters", "a%00b%1b%0D%0ASet-Cookie:%20x=1"},
		{"HTML", "%3Cscript%3Ealert(1)%3C/script%3E"},
		{"invalid UTF-8", "%ff%fe%c3"},
		{"a rune cut by the truncation", strings.Repeat("%C3%A9", 200)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(e.srv.URL + "/probe?account=" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown account") {
				t.Fatalf("%d %q, want 400 saying unknown account", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("Content-Type %q, X-Content-Type-Options %q: a browser may render it", ct, resp.Header.Get("X-Content-Type-Options"))
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Error("the name set a header")
			}
			if !utf8.ValidString(body) || strings.ContainsFunc(strings.TrimSuffix(body, "\n"), unicode.IsControl) {
				t.Errorf("raw control characters or invalid UTF-8 in %q", body)
			}
			if len(body) > 500 {
				t.Errorf("%d bytes of answer: the name is not truncated", len(body))
			}
		})
	}
}
