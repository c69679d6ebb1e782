package b2see

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/config"
)

// The basic auth credentials the clients of these tests send.
const (
	testUser     = "proxyuser"
	testPassword = "Pr0xyPassw0rd"
)

// api is one of the two clients, called through hc against base.
type api struct {
	name string
	good func(t *testing.T) []byte // a successful answer
	call func(t *testing.T, base string, hc *http.Client) error
}

var apis = []api{
	{
		name: "cakes",
		good: func(*testing.T) []byte { return []byte(sampleRecord) },
		call: func(t *testing.T, base string, hc *http.Client) error {
			_, err := collect(newTestClient(t, base, func(c *Config) {
				c.HTTPClient = hc
				c.Secrets = []string{testPassword, testUser + ":" + testPassword}
			}))
			return err
		},
	},
	{
		name: "batches",
		good: func(t *testing.T) []byte { return readFixture(t, "batch_meta_empty.json") },
		call: func(t *testing.T, base string, hc *http.Client) error {
			_, err := newBatchesTestClient(t, base, func(c *BatchesConfig) {
				c.HTTPClient = hc
				c.Secrets = []string{testPassword, testUser + ":" + testPassword}
			}).Status(context.Background(), "1032005")
			return err
		},
	},
}

// recorder is an upstream that records the requests it gets.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(context.Background()))
		rec.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

// configClient is what the exporter builds from an http_client_config:
// basic auth, which goes with every request, and redirects followed or not.
func configClient(t *testing.T, follow bool) *http.Client {
	t.Helper()
	cfg := config.DefaultHTTPClientConfig
	cfg.BasicAuth = &config.BasicAuth{Username: testUser, Password: testPassword}
	cfg.FollowRedirects = follow
	hc, err := config.NewClientFromConfig(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// secretForms are the ways the key and the password could show.
func secretForms() []string {
	return []string{
		testKey, strings.ReplaceAll(testKey, "-", ""), strings.ReplaceAll(testKey, "-", "%2D"),
		testPassword, base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword)),
		"apiKey", "maintenance",
	}
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secretForms() {
		if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
			t.Errorf("%s holds %q: %s", what, s, text)
		}
	}
}

func redirectTo(loc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	}
}

// A redirect to another host name is refused: the target gets nothing, so
// neither a Referer with the key nor the credentials, whatever the
// client's follow_redirects says.
func TestRedirectToAnotherHostRefused(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			target := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.Write(a.good(t)) })
			// The same loopback server, named otherwise: another host.
			other := strings.Replace(target.URL, "127.0.0.1", "localhost", 1)
			loc := other + "/maintenance?apiKey=" + strings.ReplaceAll(testKey, "-", "%2D") + "&customerId=4242"
			src := newRecorder(t, redirectTo(loc))
			err := a.call(t, src.URL, configClient(t, true))
			if Reason(err) != ReasonRedirect {
				t.Fatalf("err = %v (reason %q), want reason %q", err, Reason(err), ReasonRedirect)
			}
			if want := strings.TrimPrefix(other, "http://"); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "another host") {
				t.Errorf("error %q does not say it refused another host, %s", err, want)
			}
			assertNoSecret(t, "the error", err.Error())
			if got := target.requests(); len(got) != 0 {
				t.Errorf("the other host got %d requests, the first with Referer %q and Authorization %q",
					len(got), got[0].Header.Get("Referer"), got[0].Header.Get("Authorization"))
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b?c=d", true},
		{"https://App.Example.com/a", "https://app.example.com:443/b", true},
		{"http://example.com/a", "http://example.com:80/b", true},
		{"http://127.0.0.1:8080/a", "http://localhost:8080/a", false},
		{"http://127.0.0.1:8080/a", "http://127.0.0.1:8081/a", false},
		{"https://example.com/a", "http://example.com/a", false},
		{"https://example.com/a", "https://example.com:80/a", false},
	}
	for _, tt := range tests {
		a, _ := url.Parse(tt.a)
		b, _ := url.Parse(tt.b)
		if got := sameOrigin(a, b); got != tt.want {
			t.Errorf("sameOrigin(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// A redirect on the same host is followed, without a Referer.
func TestRedirectOnTheSameHostFollowed(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.URL.Path, "/moved") {
					redirectTo("/moved"+r.URL.Path)(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write(a.good(t))
			})
			if err := a.call(t, srv.URL, configClient(t, true)); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			for _, r := range reqs {
				if ref, ok := r.Header["Referer"]; ok {
					t.Errorf("request to %s carried Referer %q", r.URL.Path, ref)
				}
			}
		})
	}
}

func TestRedirectLoopStops(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			var n atomic.Int32
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) > 50 { // a client without a limit fails here rather than never
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				redirectTo(r.URL.String())(w, r)
			})
			err := a.call(t, srv.URL, configClient(t, true))
			if Reason(err) != ReasonRedirect || !strings.Contains(err.Error(), "stopped after 10 redirects") {
				t.Fatalf("err = %v (reason %q), want a redirect error that says it stopped", err, Reason(err))
			}
			if n := len(srv.requests()); n != maxRedirects {
				t.Errorf("%d requests, want %d", n, maxRedirects)
			}
			assertNoSecret(t, "the error", err.Error())
		})
	}
}

// With follow_redirects off, a redirect is an error of its own.
func TestRedirectNotFollowedWhenTurnedOff(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			srv := newRecorder(t, redirectTo("/maintenance?apiKey="+testKey))
			err := a.call(t, srv.URL, configClient(t, false))
			if Reason(err) != ReasonRedirect || !strings.Contains(err.Error(), "follow_redirects") {
				t.Fatalf("err = %v (reason %q), want a redirect error naming follow_redirects", err, Reason(err))
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			assertNoSecret(t, "the error", err.Error())
		})
	}
}

// An unreadable Location, which Go's client quotes whole, stays out of the
// error.
func TestRedirectToBadLocation(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			srv := newRecorder(t, redirectTo("http://localhost:1/maintenance%zz?apiKey="+strings.ReplaceAll(testKey, "-", "%2D")))
			err := a.call(t, srv.URL, configClient(t, true))
			if Reason(err) != ReasonRedirect {
				t.Fatalf("err = %v (reason %q), want reason %q", err, Reason(err), ReasonRedirect)
			}
			assertNoSecret(t, "the error", err.Error())
		})
	}
}

// Secrets the upstream echoes, in whatever form, leave the errors of both
// clients.
func TestClientsRedactEchoedSecrets(t *testing.T) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				key := r.URL.Query().Get("apiKey")
				if key == "" {
					key = testKey
				}
				msg := strings.Join([]string{
					"denied:", strings.ToUpper(key), strings.ReplaceAll(key, "-", ""),
					strings.ToUpper(strings.ReplaceAll(key, "-", "")),
					"/c?k=" + strings.ReplaceAll(key, "-", "%2D"),
					"for john.doe%40example.com with", r.Header.Get("Authorization"),
				}, " ")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"Success":false,"Message":"`+msg+`"}`)
			})
			err := a.call(t, srv.URL, configClient(t, true))
			if Reason(err) != ReasonUnauthorized || !strings.Contains(err.Error(), "denied:") {
				t.Fatalf("err = %v", err)
			}
			assertNoSecret(t, "the error", err.Error())
			if strings.Contains(err.Error(), "john.doe") {
				t.Errorf("the error holds the e-mail address: %v", err)
			}
		})
	}
}

// silentUpstream accepts connections and never answers. It closes them
// when the test ends: a client's TLS handshake may outlive the request.
func silentUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A timeout says whether the connection was up: over http the silent
// upstream accepts it and then never answers; over https the TLS handshake
// never completes.
func TestTimeoutSaysWhere(t *testing.T) {
	addr := silentUpstream(t)
	for _, a := range apis {
		for _, tc := range []struct{ scheme, want string }{
			{"http", "upstream timed out while waiting for the answer's headers"},
			{"https", "upstream timed out while connecting"},
		} {
			t.Run(a.name+" "+tc.scheme, func(t *testing.T) {
				hc := &http.Client{Transport: &http.Transport{}}
				base := tc.scheme + "://" + addr
				var err error
				switch a.name {
				case "cakes":
					c := newTestClient(t, base, func(c *Config) { c.HTTPClient = hc })
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					defer cancel()
					err = c.Cakes(ctx, func(*Record) error { return nil })
				default:
					c := newBatchesTestClient(t, base, func(c *BatchesConfig) { c.HTTPClient = hc })
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					defer cancel()
					_, err = c.Status(ctx, "1")
				}
				var te *TimeoutError
				if !errors.As(err, &te) || err.Error() != tc.want {
					t.Errorf("err = %v, want %q", err, tc.want)
				}
			})
		}
	}
}
