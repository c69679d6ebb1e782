package b2see

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testKey = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"

const sampleRecord = `[{"BatchId": 1032005, "DateCreated": "2021-05-13T10:53:44Z", "SendingUserName": "Rory Walsh",
 "ProductType": "aftersales_via_portal", "RecipientEmail": "someone@example.com", "LandingPageWatchCount": 2, "VideoPlayCount": 1}]`

func newTestClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: url, CustomerID: "4242", APIKey: testKey, DaysOfHistory: 30, UserAgent: "b2see_exporter/test"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func collect(c *Client) ([]Record, error) {
	var out []Record
	err := c.Cakes(context.Background(), func(b *Record) error {
		out = append(out, *b)
		return nil
	})
	return out, err
}

func TestClientRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		io.WriteString(w, sampleRecord)
	}))
	defer srv.Close()

	tests := []struct {
		name, path, wantPath string
	}{
		{"default path puts the customer ID for :id", "", "/PublicAPI/MyVideos/v1/cakes/4242"},
		{"configured path", "/MyVideos/v1/cakes/all", "/PublicAPI/MyVideos/v1/cakes/all"},
		{"placeholder escaped", "/x/{customer_id}/y", "/PublicAPI/x/4242/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, srv.URL+"/PublicAPI", func(c *Config) { c.CakesPath = tt.path })
			bs, err := collect(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != 1 || bs[0].ID != 1032005 {
				t.Fatalf("records = %+v", bs)
			}
			if got.URL.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", got.URL.Path, tt.wantPath)
			}
			q := got.URL.Query()
			if q.Get("customerId") != "4242" || q.Get("apiKey") != testKey || q.Get("daysOfHistory") != "30" {
				t.Errorf("query = %v", q)
			}
			if ua := got.Header.Get("User-Agent"); ua != "b2see_exporter/test" {
				t.Errorf("User-Agent = %q", ua)
			}
			if ae := got.Header.Get("Accept-Encoding"); !strings.Contains(ae, "gzip") {
				t.Errorf("Accept-Encoding = %q, want gzip", ae)
			}
		})
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no customer", func(c *Config) { c.CustomerID = "" }, "customer ID"},
		{"key not a GUID", func(c *Config) { c.APIKey = "secret-not-a-guid" }, "not a GUID"},
		{"zero days", func(c *Config) { c.DaysOfHistory = 0 }, "days of history"},
		{"bad scheme", func(c *Config) { c.URL = "ftp://example.com" }, "http"},
		{"no host", func(c *Config) { c.URL = "http://" }, "no host"},
		{"query in URL", func(c *Config) { c.URL = "https://example.com/api?x=1" }, "query"},
		{"relative path", func(c *Config) { c.CakesPath = "cakes" }, "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{URL: "https://example.com/PublicAPI", CustomerID: "4242", APIKey: testKey, DaysOfHistory: 30}
			tt.mod(&cfg)
			_, err := NewClient(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), cfg.APIKey) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestClientStatusErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        []byte
		header      map[string]string
		check       func(t *testing.T, err error)
		wantReason  string
		wantMessage string
	}{
		{
			name: "404 unknown customer", status: 404, body: readFixture(t, "error_404_customer.json"),
			wantReason: ReasonMisconfigured, wantMessage: "CustomerID does not exist",
			check: func(t *testing.T, err error) {
				var e *MisconfigurationError
				if !errors.As(err, &e) || e.Message != "CustomerID does not exist" {
					t.Errorf("err = %#v", err)
				}
			},
		},
		{
			name: "404 key format", status: 404, body: readFixture(t, "error_404_apikey.json"),
			wantReason: ReasonMisconfigured, wantMessage: "API key not in correct format",
		},
		{
			name: "401", status: 401, body: readFixture(t, "error_401.json"),
			wantReason: ReasonUnauthorized, wantMessage: "Authorization has been denied",
		},
		{
			name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "120"},
			wantReason: ReasonRateLimited, wantMessage: "retry after 2m0s",
			check: func(t *testing.T, err error) {
				var e *RateLimitError
				if !errors.As(err, &e) || e.RetryAfter != 2*time.Minute {
					t.Errorf("err = %#v", err)
				}
			},
		},
		{
			name: "500 HTML page", status: 500, body: readFixture(t, "error_500.html"),
			wantReason: ReasonUpstreamError, wantMessage: "HTTP 500",
			check: func(t *testing.T, err error) {
				if strings.Contains(err.Error(), "<html") {
					t.Errorf("HTML page in the error: %v", err)
				}
			},
		},
		{name: "502 no body", status: 502, wantReason: ReasonUpstreamError, wantMessage: "HTTP 502"},
		{
			name: "message echoing key and personal data", status: 500,
			body:       []byte(`{"Message":"bad key ` + testKey + ` for someone@example.com +447700900123"}`),
			wantReason: ReasonUpstreamError, wantMessage: "bad key " + Redacted,
			check: func(t *testing.T, err error) {
				for _, s := range []string{"someone@example.com", "447700900123"} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error holds %q: %v", s, err)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				w.Write(tt.body)
			}))
			defer srv.Close()
			_, err := collect(newTestClient(t, srv.URL, nil))
			if err == nil {
				t.Fatal("no error")
			}
			if got := Reason(err); got != tt.wantReason {
				t.Errorf("Reason = %q, want %q (err %v)", got, tt.wantReason, err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not contain %q", err, tt.wantMessage)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the key: %v", err)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestClientRedactsKeyFromTransportErrors(t *testing.T) {
	// A listener closed at once: the port refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = collect(newTestClient(t, "http://"+addr, nil))
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %#v, want *NetworkError", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false for %v", err)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "apiKey") {
		t.Errorf("error holds the key or query: %v", err)
	}
	if Reason(err) != ReasonNetwork {
		t.Errorf("Reason = %q", Reason(err))
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := newTestClient(t, srv.URL, nil).Cakes(ctx, func(*Record) error { return nil })
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %#v, want *TimeoutError", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error leaks the key: %v", err)
	}
}

func TestClientGzipAndSizeCap(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(sampleRecord))
	zw.Close()
	gz := buf.Bytes()

	bomb := func() []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte("["))
		zw.Write(bytes.Repeat([]byte(" "), 8<<20))
		zw.Write([]byte("]"))
		zw.Close()
		return b.Bytes()
	}()

	tests := []struct {
		name      string
		body      []byte
		gzip      bool
		limit     int64
		wantErr   string // Reason; "" for success
		wantCount int
	}{
		{"gzip decoded", gz, true, 0, "", 1},
		{"plain under the cap", []byte(sampleRecord), false, int64(len(sampleRecord)), "", 1},
		{"plain over the cap", []byte(sampleRecord), false, int64(len(sampleRecord)) - 1, ReasonTooLarge, 0},
		{"gzip expanding past the cap", bomb, true, 1 << 20, ReasonTooLarge, 0},
		{"not gzip though said so", []byte(sampleRecord), true, 0, ReasonBadBody, 0},
		{"gzip corrupt after its header", append(append([]byte(nil), gz[:12]...), bytes.Repeat([]byte{0xff}, 40)...), true, 0, ReasonBadBody, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.gzip {
					w.Header().Set("Content-Encoding", "gzip")
				}
				w.Write(tt.body)
			}))
			defer srv.Close()
			bs, err := collect(newTestClient(t, srv.URL, func(c *Config) { c.MaxBodyBytes = tt.limit }))
			if got := Reason(err); got != tt.wantErr {
				t.Fatalf("Reason = %q (err %v), want %q", got, err, tt.wantErr)
			}
			if err == nil && len(bs) != tt.wantCount {
				t.Errorf("got %d records, want %d", len(bs), tt.wantCount)
			}
			var big *TooLargeError
			if tt.wantErr == ReasonTooLarge && (!errors.As(err, &big) || big.Limit != tt.limit) {
				t.Errorf("err = %#v, want TooLargeError with limit %d", err, tt.limit)
			}
		})
	}
}

func TestClientStatusBeforeEncoding(t *testing.T) {
	// A 404 said to be gzip but sent plain: still the documented 404.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusNotFound)
		w.Write(readFixture(t, "error_404_customer.json"))
	}))
	defer srv.Close()
	_, err := collect(newTestClient(t, srv.URL, nil))
	if Reason(err) != ReasonMisconfigured {
		t.Errorf("Reason = %q (err %v), want misconfigured", Reason(err), err)
	}
}

func TestClientStopsOnCallbackError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"BatchId":1},{"BatchId":2},{"BatchId":3}]`)
	}))
	defer srv.Close()
	stop := errors.New("stop")
	n := 0
	err := newTestClient(t, srv.URL, nil).Cakes(context.Background(), func(*Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("err = %v after %d records", err, n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999", 7 * 24 * time.Hour},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClientReusesConnections(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sampleRecord)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c := newTestClient(t, srv.URL, func(c *Config) { c.HTTPClient = &http.Client{Transport: &http.Transport{}} })
	for range 3 {
		if _, err := collect(c); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("3 reads opened %d connections, want 1", conns)
	}
}
