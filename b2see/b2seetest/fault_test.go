package b2seetest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

// result is what a client saw of one request.
type result struct {
	resp    *http.Response
	body    []byte
	readErr error
	plain   []byte // the body without the fault
	elapsed time.Duration
}

func TestFaults(t *testing.T) {
	const html = "<html><body><h1>Server Error in '/' Application.</h1></body></html>"
	const xmlPage = `<?xml version="1.0"?><Error><Message>An error has occurred.</Message></Error>`
	tests := []struct {
		name  string
		fault b2seetest.Fault
		check func(t *testing.T, r result)
	}{
		{"500 with an HTML page", b2seetest.Fault{Status: 500, Body: []byte(html), ContentType: "text/html"},
			func(t *testing.T, r result) {
				wantResponse(t, r, 500, "text/html", html)
			}},
		{"502 without a body", b2seetest.Fault{Status: 502},
			func(t *testing.T, r result) {
				wantResponse(t, r, 502, "", "")
			}},
		{"XML error page", b2seetest.Fault{Status: 503, Body: []byte(xmlPage), ContentType: "application/xml"},
			func(t *testing.T, r result) {
				wantResponse(t, r, 503, "application/xml", xmlPage)
			}},
		{"429 with Retry-After", b2seetest.Fault{RetryAfter: 120},
			func(t *testing.T, r result) {
				wantResponse(t, r, 429, "", "")
				if got := r.resp.Header.Get("Retry-After"); got != "120" {
					t.Errorf("Retry-After %q, want 120", got)
				}
			}},
		{"extra header", b2seetest.Fault{Header: http.Header{"X-Fault": {"yes"}}},
			func(t *testing.T, r result) {
				wantResponse(t, r, 200, "application/json; charset=utf-8", string(r.plain))
				if r.resp.Header.Get("X-Fault") != "yes" {
					t.Error("no X-Fault header")
				}
			}},
		{"truncated body", b2seetest.Fault{TruncateAfter: 100},
			func(t *testing.T, r result) {
				if !errors.Is(r.readErr, io.ErrUnexpectedEOF) {
					t.Errorf("read error %v, want unexpected EOF", r.readErr)
				}
				if len(r.body) != 100 || !bytes.Equal(r.body, r.plain[:100]) {
					t.Errorf("got %d bytes, want the first 100", len(r.body))
				}
				if r.resp.ContentLength != int64(len(r.plain)) {
					t.Errorf("Content-Length %d, want the full %d", r.resp.ContentLength, len(r.plain))
				}
			}},
		{"reset mid-body", b2seetest.Fault{ResetAfter: 100},
			func(t *testing.T, r result) {
				if r.readErr == nil {
					t.Error("the body read without error")
				}
				if len(r.body) > 100 || !bytes.Equal(r.body, r.plain[:len(r.body)]) {
					t.Errorf("got %d bytes, want at most the first 100", len(r.body))
				}
			}},
		{"JSON object instead of an array", b2seetest.Fault{Corrupt: b2seetest.ObjectNotArray},
			func(t *testing.T, r result) {
				var arr []any
				if err := json.Unmarshal(r.body, &arr); err == nil {
					t.Error("the body decodes as an array")
				}
				var obj struct{ Data []map[string]any }
				if err := json.Unmarshal(r.body, &obj); err != nil || len(obj.Data) == 0 {
					t.Errorf("not an object with the records: %v", err)
				}
			}},
		{"invalid UTF-8", b2seetest.Fault{Corrupt: b2seetest.InvalidUTF8},
			func(t *testing.T, r result) {
				if utf8.Valid(r.body) {
					t.Error("the body is valid UTF-8")
				}
				if len(r.body) != len(r.plain)+2 {
					t.Errorf("%d bytes, want %d", len(r.body), len(r.plain)+2)
				}
				var recs []map[string]any
				if err := json.Unmarshal(r.body, &recs); err != nil {
					t.Errorf("the JSON around the bad bytes is broken: %v", err)
				}
			}},
		{"byte order mark", b2seetest.Fault{Corrupt: b2seetest.ByteOrderMark},
			func(t *testing.T, r result) {
				if !bytes.Equal(r.body, append([]byte("\xef\xbb\xbf"), r.plain...)) {
					t.Error("the body is not the plain body after a BOM")
				}
			}},
		{"oversize", b2seetest.Fault{Corrupt: b2seetest.Oversize, Size: 1 << 20},
			func(t *testing.T, r result) {
				if len(r.body) < 1<<20 || len(r.body) > 1<<20+4096 {
					t.Errorf("%d bytes, want just over %d", len(r.body), 1<<20)
				}
				var recs []map[string]any
				if err := json.Unmarshal(r.body, &recs); err != nil {
					t.Fatalf("not a valid array: %v", err)
				}
				if len(recs) <= len(r.plain)/1000 {
					t.Errorf("only %d records", len(recs))
				}
			}},
		{"gzip bomb", b2seetest.Fault{Corrupt: b2seetest.GzipBomb, Size: 16 << 20},
			func(t *testing.T, r result) {
				if r.resp.Header.Get("Content-Encoding") != "gzip" {
					t.Fatal("no Content-Encoding: gzip")
				}
				if len(r.body) > (16<<20)/500 {
					t.Errorf("%d bytes compressed: not much of a bomb", len(r.body))
				}
				zr, err := gzip.NewReader(bytes.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				expanded, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if len(expanded) != 16<<20 {
					t.Errorf("expands to %d bytes, want %d", len(expanded), 16<<20)
				}
				if len(expanded) < 2 || expanded[0] != '[' || expanded[len(expanded)-1] != ']' ||
					len(bytes.TrimSpace(expanded[1:len(expanded)-1])) != 0 {
					t.Error("does not expand to an empty JSON array padded with whitespace")
				}
			}},
		{"delay", b2seetest.Fault{Delay: 50 * time.Millisecond},
			func(t *testing.T, r result) {
				wantResponse(t, r, 200, "application/json; charset=utf-8", string(r.plain))
				if r.elapsed < 50*time.Millisecond {
					t.Errorf("answered after %v", r.elapsed)
				}
			}},
		{"drip", b2seetest.Fault{DripBytesPerSecond: 20000},
			func(t *testing.T, r result) {
				wantResponse(t, r, 200, "application/json; charset=utf-8", string(r.plain))
				want := time.Duration(float64(len(r.plain)) / 20000 * float64(time.Second))
				if r.elapsed < want*8/10 {
					t.Errorf("%d bytes took %v, want about %v", len(r.plain), r.elapsed, want)
				}
			}},
		{"truncated drip", b2seetest.Fault{DripBytesPerSecond: 1000, TruncateAfter: 150},
			func(t *testing.T, r result) {
				if !errors.Is(r.readErr, io.ErrUnexpectedEOF) || len(r.body) != 150 {
					t.Errorf("%d bytes, %v; want 150 and unexpected EOF", len(r.body), r.readErr)
				}
				if r.elapsed < 100*time.Millisecond {
					t.Errorf("150 bytes at 1000/s took %v", r.elapsed)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, b2seetest.Config{Records: b2seetest.Generate(8, 2, testNow, 30)})
			c := client(t)
			_, plain, _ := get(t, c, goodCakesURL(s, ""))
			s.SetFault(b2seetest.Cakes, tt.fault)
			start := time.Now()
			resp, body, readErr := get(t, c, goodCakesURL(s, ""))
			tt.check(t, result{resp: resp, body: body, readErr: readErr, plain: plain, elapsed: time.Since(start)})

			s.SetFault(b2seetest.Cakes, b2seetest.Fault{})
			if resp, body, err := get(t, c, goodCakesURL(s, "")); err != nil || resp.StatusCode != 200 || !bytes.Equal(body, plain) {
				t.Errorf("after clearing the fault: status %d, %v", resp.StatusCode, err)
			}
		})
	}
}

func wantResponse(t *testing.T, r result, status int, contentType, body string) {
	t.Helper()
	if r.readErr != nil {
		t.Errorf("read error %v", r.readErr)
	}
	if r.resp.StatusCode != status {
		t.Errorf("status %d, want %d", r.resp.StatusCode, status)
	}
	if got := r.resp.Header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type %q, want %q", got, contentType)
	}
	if string(r.body) != body {
		t.Errorf("body %.80q, want %.80q", r.body, body)
	}
}

func TestFaultOnBatchesAndToken(t *testing.T) {
	rs := b2seetest.Generate(2, 1, testNow, 30)
	s := startServer(t, b2seetest.Config{Records: rs, Batches: b2seetest.BatchesConfig{OAuth2ClientID: "a", OAuth2ClientSecret: "b"}})
	c := client(t)
	s.SetFault(b2seetest.Token, b2seetest.Fault{Status: 503})
	s.SetFault(b2seetest.Batches, b2seetest.Fault{Status: 500})
	resp, err := c.Post(s.TokenURL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("token: status %d, want 503", resp.StatusCode)
	}
	if resp, _, _ := get(t, c, batchURL(s, strconv.FormatInt(rs[0].BatchId, 10))); resp.StatusCode != 500 {
		t.Errorf("batches: status %d, want 500", resp.StatusCode)
	}
	if resp, _, _ := get(t, c, goodCakesURL(s, "")); resp.StatusCode != 200 {
		t.Errorf("cakes: status %d, want 200: faults are per endpoint", resp.StatusCode)
	}
}

func TestHangEndsWhenClientGivesUp(t *testing.T) {
	for _, ft := range []b2seetest.Fault{{Hang: true}, {Delay: time.Hour}, {DripBytesPerSecond: 1}} {
		s := startServer(t, b2seetest.Config{})
		s.SetFault(b2seetest.Cakes, ft)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, goodCakesURL(s, ""), nil)
		resp, err := client(t).Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%+v: error %v, want the deadline", ft, err)
		}
		// Close waits for the handler: the test would time out if the
		// fault kept running after the client left.
		s.Close()
	}
}

func TestHangEndsWhenFakeCloses(t *testing.T) {
	for _, ft := range []b2seetest.Fault{{Hang: true}, {Delay: time.Hour}, {DripBytesPerSecond: 1}} {
		f := b2seetest.New(b2seetest.Config{Now: clock})
		f.SetFault(b2seetest.Cakes, ft)
		arrived := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			f.ServeHTTP(w, r)
		}))
		u := srv.URL + "/PublicAPI/MyVideos/v1/cakes/4242?customerId=4242&apiKey=" + b2seetest.DemoAPIKey
		errc := make(chan error, 1)
		c := client(t)
		go func() {
			resp, err := c.Get(u)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errc <- err
		}()
		<-arrived
		f.Close()
		// The server's Close waits for the handler: the test would time out
		// if the fault kept it running.
		srv.Close()
		if err := <-errc; err == nil {
			t.Errorf("%+v: the request succeeded", ft)
		}
	}
}

func TestRequests(t *testing.T) {
	rs := b2seetest.Generate(2, 1, testNow, 30)
	s := startServer(t, b2seetest.Config{Records: rs, Batches: b2seetest.BatchesConfig{OAuth2ClientID: "a"}})
	c := client(t)
	s.SetFault(b2seetest.Cakes, b2seetest.Fault{Status: 500})
	for range 3 {
		get(t, c, goodCakesURL(s, ""))
	}
	get(t, c, cakesURL(s, "1", "bad", ""))
	for range 2 {
		get(t, c, batchURL(s, strconv.FormatInt(rs[0].BatchId, 10)))
	}
	resp, err := c.Post(s.TokenURL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, c, s.URL+"/elsewhere")
	for e, want := range map[b2seetest.Endpoint]int{b2seetest.Cakes: 4, b2seetest.Batches: 2, b2seetest.Token: 1} {
		if got := s.Requests(e); got != want {
			t.Errorf("Requests(%d) = %d, want %d", e, got, want)
		}
	}
}
