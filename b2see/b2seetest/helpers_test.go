package b2seetest_test

import (
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

// testNow is the fixed clock of most tests.
var testNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// startServer starts a fake closed at the end of the test.
func startServer(t testing.TB, cfg b2seetest.Config) *b2seetest.Server {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = clock
	}
	s := b2seetest.NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// client returns a client of its own, so that tests do not share pooled
// connections, with transparent decompression off.
func client(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// cakesURL is the URL of the cakes endpoint with the given query values;
// empty values are left out.
func cakesURL(s *b2seetest.Server, customerID, apiKey, days string) string {
	q := url.Values{}
	for k, v := range map[string]string{"customerId": customerID, "apiKey": apiKey, "daysOfHistory": days} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return s.URL + "/MyVideos/v1/cakes/" + url.PathEscape(customerID) + "?" + q.Encode()
}

// goodCakesURL is the cakes URL with the default credentials.
func goodCakesURL(s *b2seetest.Server, days string) string {
	return cakesURL(s, b2seetest.DefaultCustomerID, b2seetest.DemoAPIKey, days)
}

// get does a GET with optional headers and returns the response with its
// whole body read; readErr is the error reading the body.
func get(t testing.TB, c *http.Client, u string, header ...string) (resp *http.Response, body []byte, readErr error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, readErr = io.ReadAll(resp.Body)
	return resp, body, readErr
}

// atomicDuration is a clock offset a test moves while the fake reads it.
type atomicDuration struct{ v atomic.Int64 }

func (d *atomicDuration) Load() time.Duration   { return time.Duration(d.v.Load()) }
func (d *atomicDuration) Store(v time.Duration) { d.v.Store(int64(v)) }
