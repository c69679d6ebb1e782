package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/promslog"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/config"
)

// testExporter is the exporter's handler in-process, over a config file.
type testExporter struct {
	srv      *httptest.Server
	accounts *accountSet
	reg      *prometheus.Registry
	cfgPath  string
	logs     *syncBuffer
}

func newTestExporter(t *testing.T, configYAML string, extraArgs ...string) *testExporter {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "b2see.yml")
	writeFile(t, cfgPath, configYAML)
	app := kingpin.New("test", "")
	f, err := parseFlags(app, append([]string{"--config.file=" + cfgPath, "--storage.path=" + dir}, extraArgs...), &promslog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	load, err := configLoader(f)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	set := newAccountSet(load, f.storagePath, f.timeout, logger, reg)
	if err := set.reload(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(f, set, set.reload, reg, logger))
	t.Cleanup(srv.Close)
	return &testExporter{srv: srv, accounts: set, reg: reg, cfgPath: cfgPath, logs: logs}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// retiredAccount is the account a reload removed under name.
func (e *testExporter) retiredAccount(t *testing.T, name string) any {
	t.Helper()
	e.accounts.reloadMu.Lock()
	defer e.accounts.reloadMu.Unlock()
	a, ok := e.accounts.retired[name]
	if !ok {
		t.Fatalf("no retired account %q", name)
	}
	return a
}

func (e *testExporter) do(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// twoFakes starts two fake upstreams, each with its own customer and key,
// and returns a config naming them north and south, with key files.
func twoFakes(t *testing.T) (north, south *b2seetest.Server, cfg string, keyDir string) {
	t.Helper()
	now := time.Now()
	north = b2seetest.NewServer(b2seetest.Config{CustomerID: "100", APIKey: "10000000-0000-0000-0000-000000000001", Records: b2seetest.Generate(50, 1, now, 20)})
	south = b2seetest.NewServer(b2seetest.Config{CustomerID: "200", APIKey: "20000000-0000-0000-0000-000000000002", Records: b2seetest.Generate(70, 2, now, 20)})
	t.Cleanup(north.Close)
	t.Cleanup(south.Close)
	keyDir = t.TempDir()
	writeFile(t, filepath.Join(keyDir, "north.key"), "10000000-0000-0000-0000-000000000001\n")
	writeFile(t, filepath.Join(keyDir, "south.key"), "20000000-0000-0000-0000-000000000002\n")
	cfg = `accounts:
  - name: north
    customer_id: "100"
    api_key_file: ` + filepath.Join(keyDir, "north.key") + `
    url: ` + north.URL + `
  - name: south
    customer_id: "200"
    api_key_file: ` + filepath.Join(keyDir, "south.key") + `
    url: ` + south.URL + `
`
	return north, south, cfg, keyDir
}

func TestProbe(t *testing.T) {
	_, _, cfg, _ := twoFakes(t)
	e := newTestExporter(t, cfg)

	code, body := e.do(t, http.MethodGet, "/probe?account=north")
	if code != 200 {
		t.Fatalf("probe: %d %s", code, body)
	}
	m := parseMetrics(t, body)
	if m["b2see_up{account=north}"] != 1 || sum(m, "b2see_window_batches") != 50 {
		t.Errorf("probe north: up %v, batches %v", m["b2see_up{account=north}"], sum(m, "b2see_window_batches"))
	}
	if strings.Contains(body, `account="south"`) || strings.Contains(body, "go_goroutines") {
		t.Error("probe of north serves more than north's metrics")
	}

	for _, tt := range []struct{ path, want string }{
		{"/probe", "missing the account parameter"},
		{"/probe?account=west", `unknown account "west"`},
	} {
		code, body := e.do(t, http.MethodGet, tt.path)
		if code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d %q, want 400 saying %q", tt.path, code, body, tt.want)
		}
	}
}

func TestOneAccountDownOthersUpOverHTTP(t *testing.T) {
	_, south, cfg, _ := twoFakes(t)
	south.SetFault(b2seetest.Cakes, b2seetest.Fault{Status: 503})
	e := newTestExporter(t, cfg)
	code, body := e.do(t, http.MethodGet, "/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	m := parseMetrics(t, body)
	if m["b2see_up{account=north}"] != 1 || m["b2see_up{account=south}"] != 0 {
		t.Errorf("up: north %v south %v", m["b2see_up{account=north}"], m["b2see_up{account=south}"])
	}
	if sum(m, "b2see_window_batches") != 50 {
		t.Errorf("north's batches = %v, want 50", sum(m, "b2see_window_batches"))
	}
}

func TestReload(t *testing.T) {
	north, _, cfg, keyDir := twoFakes(t)
	e := newTestExporter(t, cfg)
	reloadOK := func() float64 {
		mfs, _ := e.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "b2see_config_last_reload_successful" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	e.do(t, http.MethodGet, "/probe?account=north")
	northBefore, _ := e.accounts.get("north")

	// A bad file: the running configuration stays, and says why.
	writeFile(t, e.cfgPath, cfg+"    surprise: 1\n")
	code, body := e.do(t, http.MethodPost, "/-/reload")
	if code != 500 || !strings.Contains(body, "surprise") {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if reloadOK() != 0 {
		t.Errorf("reload_successful = %v after a bad reload", reloadOK())
	}
	if len(e.accounts.accounts()) != 2 {
		t.Errorf("%d accounts after a bad reload, want the 2 running", len(e.accounts.accounts()))
	}

	// GET is not a reload.
	if code, _ := e.do(t, http.MethodGet, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d", code)
	}

	// A good file dropping south: north keeps its state.
	writeFile(t, e.cfgPath, cfg[:strings.Index(cfg, "  - name: south")])
	if code, body := e.do(t, http.MethodPost, "/-/reload"); code != 200 {
		t.Fatalf("good reload: %d %q", code, body)
	}
	if reloadOK() != 1 {
		t.Errorf("reload_successful = %v after a good reload", reloadOK())
	}
	if _, ok := e.accounts.get("south"); ok {
		t.Error("south still served after it left the file")
	}
	if a, _ := e.accounts.get("north"); a != northBefore {
		t.Error("north was rebuilt, losing its state, though it stayed")
	}

	// South comes back: the same account as before, not a second one on
	// its state files.
	southBefore := e.retiredAccount(t, "south")
	writeFile(t, e.cfgPath, cfg)
	if code, body := e.do(t, http.MethodPost, "/-/reload"); code != 200 {
		t.Fatalf("reload bringing south back: %d %q", code, body)
	}
	if a, _ := e.accounts.get("south"); a != southBefore {
		t.Error("south came back as a new account beside the old one's state")
	}
	writeFile(t, e.cfgPath, cfg[:strings.Index(cfg, "  - name: south")])
	if code, _ := e.do(t, http.MethodPost, "/-/reload"); code != 200 {
		t.Fatal("reload dropping south again failed")
	}

	// The key file changes: a reload reads the new key.
	writeFile(t, filepath.Join(keyDir, "north.key"), "30000000-0000-0000-0000-000000000003")
	if code, body := e.do(t, http.MethodPost, "/-/reload"); code != 200 {
		t.Fatalf("reload after key change: %d %q", code, body)
	}
	_, body = e.do(t, http.MethodGet, "/probe?account=north")
	if m := parseMetrics(t, body); m["b2see_up{account=north}"] != 0 {
		t.Error("north still up with a key the fake does not accept: the new key was not used")
	}
	if north.Requests(b2seetest.Cakes) != 2 {
		t.Errorf("north's fake saw %d requests, want 2", north.Requests(b2seetest.Cakes))
	}
	assertNoLeak(t, "logs", e.logs.String(), []string{"30000000-0000-0000-0000-000000000003", "10000000-0000-0000-0000-000000000001"})
}

func TestRetryAfterOverHTTP(t *testing.T) {
	north, _, cfg, _ := twoFakes(t)
	north.SetFault(b2seetest.Cakes, b2seetest.Fault{RetryAfter: 3600})
	e := newTestExporter(t, cfg)
	for range 3 {
		_, body := e.do(t, http.MethodGet, "/probe?account=north")
		if m := parseMetrics(t, body); m["b2see_up{account=north}"] != 0 {
			t.Fatal("up while rate limited")
		}
	}
	north.SetFault(b2seetest.Cakes, b2seetest.Fault{})
	if got := north.Requests(b2seetest.Cakes); got != 1 {
		t.Errorf("%d calls to a rate-limited upstream within its Retry-After, want 1", got)
	}
}

func TestConcurrentProbesShareOneUpstreamCall(t *testing.T) {
	north, _, cfg, _ := twoFakes(t)
	// With a minimum interval, every probe after the first read is served
	// from it; concurrent ones wait for the one read in flight.
	north.SetFault(b2seetest.Cakes, b2seetest.Fault{Delay: 200 * time.Millisecond})
	e := newTestExporter(t, cfg, "--b2see.min-interval=1h")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := e.do(t, http.MethodGet, "/probe?account=north")
			if code != 200 || !strings.Contains(body, `b2see_up{account="north"} 1`) {
				t.Errorf("probe: %d", code)
			}
		}()
	}
	wg.Wait()
	if got := north.Requests(b2seetest.Cakes); got != 1 {
		t.Errorf("50 concurrent probes made %d upstream calls, want 1", got)
	}
}

func TestHTTPSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content+"\n")
		return p
	}
	proxy, err := url.Parse("http://proxyuser:proxy-password@127.0.0.1:3128")
	if err != nil {
		t.Fatal(err)
	}
	c := promconfig.HTTPClientConfig{
		BearerToken:   "inline-bearer-token",
		Authorization: &promconfig.Authorization{CredentialsFile: file("credentials", "file-credentials")},
		BasicAuth:     &promconfig.BasicAuth{Username: "u", PasswordFile: file("password", "file-password")},
		OAuth2:        &promconfig.OAuth2{ClientID: "id", ClientSecretFile: file("secret", "file-client-secret")},
		ProxyConfig: promconfig.ProxyConfig{
			ProxyURL:           promconfig.URL{URL: proxy},
			ProxyConnectHeader: promconfig.ProxyHeader{"Proxy-Authorization": {"proxy-header-secret"}},
		},
		HTTPHeaders: &promconfig.Headers{Headers: map[string]promconfig.Header{
			"X-Token": {Secrets: []promconfig.Secret{"header-secret"}, Files: []string{file("header", "header-file-secret")}},
		}},
	}
	got, err := httpSecrets(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"inline-bearer-token", "file-credentials", "file-password", "file-client-secret",
		// What an echoed Authorization or Proxy-Authorization holds.
		"u:file-password", "proxy-password", "proxyuser:proxy-password",
		"proxy-header-secret", "header-secret", "header-file-secret",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("httpSecrets misses %q: %q", want, got)
		}
	}
}

// TestOversizedSecretFileIsNotRead: a secret file of an HTTP client
// configuration far larger than any secret fails the load with one line,
// without being read whole.
func TestOversizedSecretFileIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: no room taken
		t.Fatal(err)
	}
	f.Close()
	a := config.NewAccount(config.Defaults{})
	a.Name, a.CustomerID, a.InlineAPIKey = "north", "4242", promconfig.Secret(b2seetest.DemoAPIKey)
	a.HTTPClientConfig.BasicAuth = &promconfig.BasicAuth{Username: "u", PasswordFile: path}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, _, err = accountOptions(a, slog.New(slog.DiscardHandler))
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	want := `account "north": http_client_config: the secret file "` + path + `" is larger than 65536 bytes`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing the file allocated %d bytes, want under 16 MiB", alloc)
	}
	if took > 2*time.Second {
		t.Errorf("refusing the file took %v", took)
	}
}

// TestReloadClosesUpstreamConnections: each reload builds new HTTP
// clients; the connections of the old ones are closed, so the number open
// to the upstream stays that of one set of clients however many reloads.
func TestReloadClosesUpstreamConnections(t *testing.T) {
	fake, srv, conns := countingFake(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	writeFile(t, keyFile, b2seetest.DemoAPIKey)
	e := newTestExporter(t, `accounts:
  - name: north
    customer_id: "`+b2seetest.DefaultCustomerID+`"
    api_key_file: `+keyFile+`
    url: `+srv.URL+`/PublicAPI
    batches:
      url: `+srv.URL+`/BatchAPI
      concurrency: 1
`)
	// One connection for the cakes, one for the status lookups.
	const want = 2
	const reloads = 20
	for range reloads {
		if code, body := e.do(t, http.MethodPost, "/-/reload"); code != 200 {
			t.Fatalf("reload: %d %s", code, body)
		}
		_, body := e.do(t, http.MethodGet, "/probe?account=north")
		if m := parseMetrics(t, body); m["b2see_up{account=north}"] != 1 || m["b2see_upstream_requests_total{account=north,endpoint=batches,outcome=success}"] == 0 {
			t.Fatalf("probe after a reload is down or made no status lookup:\n%s", body)
		}
	}
	if fake.Requests(b2seetest.Cakes) != reloads {
		t.Fatalf("%d reads of the cakes, want %d", fake.Requests(b2seetest.Cakes), reloads)
	}
	if !conns.waitAtMost(want, 10*time.Second) {
		t.Fatalf("%d connections open to the upstream after %d reloads and scrapes, want at most %d", conns.now(), reloads, want)
	}
}

// TestReloadDuringReadClosesItsConnections: a read that began before a
// reload goes on with the old clients: here a round of status lookups,
// which opens connections after the reload closed the idle ones. They are
// closed once the longest read could have ended (--b2see.timeout).
func TestReloadDuringReadClosesItsConnections(t *testing.T) {
	fake, srv, conns := countingFake(t)
	fake.SetFault(b2seetest.Batches, b2seetest.Fault{Delay: 50 * time.Millisecond})
	keyFile := filepath.Join(t.TempDir(), "key")
	writeFile(t, keyFile, b2seetest.DemoAPIKey)
	// No status mapping: every batch is looked up on every read.
	e := newTestExporter(t, `accounts:
  - name: north
    customer_id: "`+b2seetest.DefaultCustomerID+`"
    api_key_file: `+keyFile+`
    url: `+srv.URL+`/PublicAPI
    batches:
      url: `+srv.URL+`/BatchAPI
      concurrency: 1
`, "--b2see.timeout=2s")
	done := make(chan string, 1)
	go func() {
		resp, err := http.Get(e.srv.URL + "/probe?account=north")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	for deadline := time.Now().Add(10 * time.Second); fake.Requests(b2seetest.Batches) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probe's status lookups never began")
		}
	}
	if code, body := e.do(t, http.MethodPost, "/-/reload"); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	lookups := fake.Requests(b2seetest.Batches)
	if body := <-done; !strings.Contains(body, `b2see_up{account="north"} 1`) {
		t.Fatalf("the probe begun before the reload failed:\n%s", body)
	}
	if fake.Requests(b2seetest.Batches) == lookups {
		t.Fatal("no status lookup after the reload: the test tests nothing")
	}
	if !conns.waitAtMost(0, 10*time.Second) {
		t.Fatalf("%d connections open to the upstream, want none: no scrape used the clients of the reload", conns.now())
	}
}

// connCount counts a server's open connections.
type connCount struct {
	mu      sync.Mutex
	open    int
	changed chan struct{}
}

func (c *connCount) track(_ net.Conn, st http.ConnState) {
	c.mu.Lock()
	switch st {
	case http.StateNew:
		c.open++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *connCount) now() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// waitAtMost waits until at most n connections are open, and reports
// whether that happened within timeout. The server sees a connection
// closed a moment after the client closes it.
func (c *connCount) waitAtMost(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for c.now() > n {
		select {
		case <-c.changed:
		case <-deadline:
			return false
		}
	}
	return true
}

// countingFake is a fake upstream on loopback that counts its open
// connections.
func countingFake(t *testing.T) (*b2seetest.Fake, *httptest.Server, *connCount) {
	t.Helper()
	fake := b2seetest.New(b2seetest.Config{Records: b2seetest.Generate(30, 1, time.Now(), 20)})
	srv := httptest.NewUnstartedServer(fake)
	conns := &connCount{changed: make(chan struct{}, 1)}
	srv.Config.ConnState = conns.track
	srv.Start()
	t.Cleanup(func() { fake.Close(); srv.Close() })
	return fake, srv, conns
}
