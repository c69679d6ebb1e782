package b2see

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/config"
)

func newBatchesTestClient(t *testing.T, url string, mod func(*BatchesConfig)) *BatchesClient {
	t.Helper()
	cfg := BatchesConfig{URL: url, UserAgent: "b2see_exporter/test"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewBatchesClient(cfg)
	if err != nil {
		t.Fatalf("NewBatchesClient: %v", err)
	}
	return c
}

// personalWords occur in the fixtures' Name, Description and Parameters and
// must never reach a result or an error.
var personalWords = []string{"jane.doe", "07700900123", "ops@example.com", "sample string 1", "sample string 3"}

func TestBatchDecodes(t *testing.T) {
	sampleJSON := readFixture(t, "batch_sample.json")
	sampleXML := readFixture(t, "batch_sample.xml")
	tests := []struct {
		name        string
		contentType string
		body        []byte
		want        BatchStatus
	}{
		{"published JSON sample", "application/json; charset=utf-8", sampleJSON, BatchStatus{"sample string 4", 5, 6}},
		{"published JSON sample as text/json", "text/json", sampleJSON, BatchStatus{"sample string 4", 5, 6}},
		{"published XML sample", "application/xml; charset=utf-8", sampleXML, BatchStatus{"sample string 4", 5, 6}},
		{"published XML sample as text/xml", "text/xml", sampleXML, BatchStatus{"sample string 4", 5, 6}},
		{"Meta empty string, StatusUrl null", "application/json", readFixture(t, "batch_meta_empty.json"), BatchStatus{"1032005", 1, 1440}},
		{"XML labelled JSON", "application/json", sampleXML, BatchStatus{"sample string 4", 5, 6}},
		{"JSON labelled XML", "application/xml", sampleJSON, BatchStatus{"sample string 4", 5, 6}},
		{"no content type", "", sampleXML, BatchStatus{"sample string 4", 5, 6}},
		{"octet-stream with a BOM", "application/octet-stream", append([]byte("\xef\xbb\xbf \n"), sampleJSON...), BatchStatus{"sample string 4", 5, 6}},
		{"no ID in Data: the one asked", "application/json", []byte(`{"Success":true,"Data":{"Status":0,"TimeoutMinutes":0}}`), BatchStatus{"77", 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				} else {
					w.Header()["Content-Type"] = nil
				}
				w.Write(tt.body)
			}))
			defer srv.Close()
			c := newBatchesTestClient(t, srv.URL+"/BatchAPI/", nil)
			st, err := c.Status(context.Background(), "77")
			if err != nil {
				t.Fatal(err)
			}
			if st != tt.want {
				t.Errorf("status = %+v, want %+v", st, tt.want)
			}
			if got.URL.Path != "/BatchAPI/v1/batches/77" {
				t.Errorf("path = %q", got.URL.Path)
			}
			if a := got.Header.Get("Accept"); a != "application/json, application/xml;q=0.9" {
				t.Errorf("Accept = %q", a)
			}
			if ua := got.Header.Get("User-Agent"); ua != "b2see_exporter/test" {
				t.Errorf("User-Agent = %q", ua)
			}
		})
	}
}

func TestBatchEscapesID(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		w.Write(readFixture(t, "batch_meta_empty.json"))
	}))
	defer srv.Close()
	c := newBatchesTestClient(t, srv.URL, nil)
	if _, err := c.Status(context.Background(), "a/b?c"); err != nil {
		t.Fatal(err)
	}
	if got != "/v1/batches/a%2Fb%3Fc" {
		t.Errorf("path = %q", got)
	}
}

func TestBatchErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        []byte
		wantReason  string
		wantMessage string // in the error's text
	}{
		{"404 envelope", 404, map[string]string{"Content-Type": "application/json"}, readFixture(t, "batch_not_found.json"), ReasonNotFound, "Batch not found"},
		{"404 XML envelope", 404, map[string]string{"Content-Type": "text/xml"}, readFixture(t, "batch_not_found.xml"), ReasonNotFound, "Batch not found"},
		{"404 envelope with 200", 200, nil, readFixture(t, "batch_not_found.json"), ReasonNotFound, "Batch not found"},
		{"Success false with 200", 200, nil, readFixture(t, "batch_failure_200.json"), ReasonUpstreamError, "Batch store unavailable"},
		{"401 ASP.NET message", 401, nil, []byte(`{"Message":"Authorization has been denied for this request."}`), ReasonUnauthorized, "denied"},
		{"429", 429, map[string]string{"Retry-After": "30"}, nil, ReasonRateLimited, "retry after 30s"},
		{"503 HTML", 503, map[string]string{"Content-Type": "text/html"}, []byte("<html><body>Service Unavailable</body></html>"), ReasonUpstreamError, "503"},
		{"200 HTML page", 200, map[string]string{"Content-Type": "text/html"}, []byte("<!DOCTYPE html><html><body>Sign in</body></html>"), ReasonBadBody, ""},
		{"200 plain text", 200, map[string]string{"Content-Type": "text/plain"}, []byte("OK"), ReasonBadBody, ""},
		{"200 JSON without Data", 200, nil, []byte(`{"Success":true,"Data":null}`), ReasonBadBody, ""},
		{"200 JSON with a string Status", 200, nil, []byte(`{"Success":true,"Data":{"Status":"running"}}`), ReasonBadBody, ""},
		{"200 truncated XML", 200, map[string]string{"Content-Type": "application/xml"}, readFixture(t, "batch_sample.xml")[:300], ReasonBadBody, ""},
		{"too large", 200, nil, []byte(`{"Success":true,"Data":{"Status":1,"Name":"` + strings.Repeat("x", 2<<10) + `"}}`), ReasonTooLarge, ""},
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
			c := newBatchesTestClient(t, srv.URL, func(c *BatchesConfig) { c.MaxBodyBytes = 1 << 10 })
			_, err := c.Status(context.Background(), "1032005")
			if err == nil {
				t.Fatal("no error")
			}
			if r := Reason(err); r != tt.wantReason {
				t.Errorf("reason = %q, want %q (err %v)", r, tt.wantReason, err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not carry %q", err, tt.wantMessage)
			}
			for _, w := range personalWords {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q holds %q", err, w)
				}
			}
		})
	}
}

func TestBatchNotFoundIsTyped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write(readFixture(t, "batch_not_found.json"))
	}))
	defer srv.Close()
	_, err := newBatchesTestClient(t, srv.URL, nil).Status(context.Background(), "9")
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.ID != "9" || nf.Description != "Batch not found" {
		t.Fatalf("err = %#v", err)
	}
}

func TestBatchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newBatchesTestClient(t, srv.URL, nil).Status(ctx, "1")
	if Reason(err) != ReasonTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestNewBatchesClientRejectsBadConfig(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "http://user:pw@127.0.0.1/", "http://127.0.0.1/?a=b"} {
		if _, err := NewBatchesClient(BatchesConfig{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// tokenServer is an OAuth2 client-credentials token endpoint beside a
// batches endpoint that wants the token it issued.
type tokenServer struct {
	*httptest.Server
	mu            sync.Mutex
	tokenRequests int
	clientID      string
	secret        string
	refuse        bool
	authSeen      []string
}

const issuedToken = "tok-5f0c2a91"

func newTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /BatchAPI/v1/authtoken", func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.tokenRequests++
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		ts.clientID, ts.secret = id, secret
		w.Header().Set("Content-Type", "application/json")
		if ts.refuse || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			// A careless endpoint echoing the credentials back.
			w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`))
			return
		}
		w.Write([]byte(`{"access_token":"` + issuedToken + `","token_type":"Bearer","expires_in":3600}`))
	})
	mux.HandleFunc("GET /BatchAPI/v1/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.authSeen = append(ts.authSeen, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+issuedToken {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"Message":"Authorization has been denied for this request."}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(readFixture(t, "batch_meta_empty.json"))
	})
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func oauthClient(t *testing.T, tokenURL, secret string) *http.Client {
	t.Helper()
	hc, err := config.NewClientFromConfig(config.HTTPClientConfig{
		OAuth2: &config.OAuth2{ClientID: "exporter", ClientSecret: config.Secret(secret), TokenURL: tokenURL},
	}, "b2see_batches")
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

func TestBatchOAuth2ClientCredentials(t *testing.T) {
	ts := newTokenServer(t)
	const secret = "s3cr3t-c1ient-value"
	c := newBatchesTestClient(t, ts.URL+"/BatchAPI", func(c *BatchesConfig) {
		c.HTTPClient = oauthClient(t, ts.URL+"/BatchAPI/v1/authtoken", secret)
	})
	for range 3 {
		st, err := c.Status(context.Background(), "1032005")
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != 1 {
			t.Errorf("status = %+v", st)
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.clientID != "exporter" || ts.secret != secret {
		t.Errorf("token request carried %q/%q", ts.clientID, ts.secret)
	}
	if ts.tokenRequests != 1 {
		t.Errorf("%d token requests for 3 lookups, want 1 (cached)", ts.tokenRequests)
	}
	for _, a := range ts.authSeen {
		if a != "Bearer "+issuedToken {
			t.Errorf("batches request carried Authorization %q", a)
		}
	}
}

func TestBatchOAuth2RefusedKeepsSecret(t *testing.T) {
	ts := newTokenServer(t)
	ts.refuse = true
	const secret = "s3cr3t-c1ient-value"
	c := newBatchesTestClient(t, ts.URL+"/BatchAPI", func(c *BatchesConfig) {
		c.HTTPClient = oauthClient(t, ts.URL+"/BatchAPI/v1/authtoken", secret)
	})
	_, err := c.Status(context.Background(), "1032005")
	if Reason(err) != ReasonUnauthorized {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q holds the client secret", err)
	}
	if !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("error %q does not say why", err)
	}
	if len(ts.authSeen) != 0 {
		t.Errorf("the batches endpoint was called without a token: %q", ts.authSeen)
	}
}

func TestBatchRedactsSecretsFromMessages(t *testing.T) {
	const token = "static-bearer-token-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"Success":false,"ErrorDescription":"token ` + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + ` has no access"}`))
	}))
	defer srv.Close()
	hc, err := config.NewClientFromConfig(config.HTTPClientConfig{BearerToken: token}, "b2see_batches")
	if err != nil {
		t.Fatal(err)
	}
	c := newBatchesTestClient(t, srv.URL, func(c *BatchesConfig) { c.HTTPClient = hc; c.Secrets = []string{token} })
	_, err = c.Status(context.Background(), "1")
	if Reason(err) != ReasonUnauthorized || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "has no access") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, name := range []string{"batch_sample.json", "batch_sample.xml", "batch_meta_empty.json", "batch_not_found.xml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("", b)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		env, err := decodeEnvelope(ct, body)
		if err == nil && env.Success == nil {
			t.Fatal("an envelope without Success was accepted")
		}
		if err != nil && strings.Contains(err.Error(), "sample string") {
			t.Fatalf("error %q quotes the body", err)
		}
	})
}
