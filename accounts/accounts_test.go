package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/config"
	"github.com/b2see-exporter/b2see_exporter/internal/exposition"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
)

// testSet is a Set over a configuration file the test rewrites.
type testSet struct {
	*Set
	reg     *prometheus.Registry
	cfgPath string
	logs    *testlog.Buffer
}

func newTestSet(t *testing.T, configYAML string, timeout time.Duration) *testSet {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "b2see.yml")
	fixture.WriteFile(t, cfgPath, configYAML)
	logger, logs := testlog.Logger()
	reg := prometheus.NewRegistry()
	s := New(Options{
		Load: func() (*config.Config, error) {
			return config.Load(cfgPath, config.Options{Defaults: config.DefaultSettings()})
		},
		StorageDir: dir,
		Timeout:    timeout,
		UserAgent:  "test",
		Logger:     logger,
		Registerer: reg,
	})
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	return &testSet{Set: s, reg: reg, cfgPath: cfgPath, logs: logs}
}

// scrape reads the account name as a probe of it would.
func (s *testSet) scrape(t *testing.T, name string) exposition.Series {
	t.Helper()
	m, err := s.gather(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (s *testSet) gather(name string) (exposition.Series, error) {
	acc, ok := s.Get(name)
	if !ok {
		return nil, fmt.Errorf("account %q is not served", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(ctx, []*collector.Account{acc}, 1))
	mfs, err := reg.Gather()
	return exposition.Flatten(mfs), err
}

// reloadSuccessful is the value of b2see_config_last_reload_successful.
func (s *testSet) reloadSuccessful(t *testing.T) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return exposition.Flatten(mfs).Value("b2see_config_last_reload_successful{}")
}

func TestReload(t *testing.T) {
	north, _, cfg, keyDir := fixture.TwoAccounts(t)
	s := newTestSet(t, cfg, 30*time.Second)
	if m := s.scrape(t, "north"); m.Value(`b2see_up{account="north"}`) != 1 || m.Sum("b2see_window_batches") != 50 {
		t.Fatalf("north: up %v, batches %v", m.Value(`b2see_up{account="north"}`), m.Sum("b2see_window_batches"))
	}
	northBefore, _ := s.Get("north")

	// A bad file: the running configuration stays, and says why.
	fixture.WriteFile(t, s.cfgPath, cfg+"    surprise: 1\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("bad reload: %v", err)
	}
	if got := s.reloadSuccessful(t); got != 0 {
		t.Errorf("reload_successful = %v after a bad reload", got)
	}
	if len(s.Accounts()) != 2 {
		t.Errorf("%d accounts after a bad reload, want the 2 running", len(s.Accounts()))
	}

	// A good file dropping south: north keeps its state.
	southBefore, _ := s.Get("south")
	fixture.WriteFile(t, s.cfgPath, cfg[:strings.Index(cfg, "  - name: south")])
	if err := s.Reload(); err != nil {
		t.Fatalf("good reload: %v", err)
	}
	if got := s.reloadSuccessful(t); got != 1 {
		t.Errorf("reload_successful = %v after a good reload", got)
	}
	if _, ok := s.Get("south"); ok {
		t.Error("south still served after it left the file")
	}
	if got := s.Accounts(); len(got) != 1 || got[0] != northBefore {
		t.Errorf("accounts served %v, want north only", got)
	}
	if a, _ := s.Get("north"); a != northBefore {
		t.Error("north was rebuilt, losing its state, though it stayed")
	}

	// South comes back: the same account as before, not a second one on
	// its state files.
	fixture.WriteFile(t, s.cfgPath, cfg)
	if err := s.Reload(); err != nil {
		t.Fatalf("reload bringing south back: %v", err)
	}
	if a, _ := s.Get("south"); a != southBefore {
		t.Error("south came back as a new account beside the old one's state")
	}
	fixture.WriteFile(t, s.cfgPath, cfg[:strings.Index(cfg, "  - name: south")])
	if err := s.Reload(); err != nil {
		t.Fatal("reload dropping south again failed")
	}

	// The key file changes: a reload reads the new key.
	fixture.WriteFile(t, filepath.Join(keyDir, "north.key"), "30000000-0000-0000-0000-000000000003")
	if err := s.Reload(); err != nil {
		t.Fatalf("reload after key change: %v", err)
	}
	if m := s.scrape(t, "north"); m.Value(`b2see_up{account="north"}`) != 0 {
		t.Error("north still up with a key the fake does not accept: the new key was not used")
	}
	if north.Requests(b2seetest.Cakes) != 2 {
		t.Errorf("north's fake saw %d requests, want 2", north.Requests(b2seetest.Cakes))
	}
	for _, key := range []string{"30000000-0000-0000-0000-000000000003", "10000000-0000-0000-0000-000000000001"} {
		if strings.Contains(s.logs.String(), key) {
			t.Errorf("logs hold %q", key)
		}
	}
}

func TestHTTPSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		fixture.WriteFile(t, p, content+"\n")
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
	path := fixture.SparseFile(t, "secret", 1<<30)
	a := config.NewAccount(config.DefaultSettings())
	a.Name, a.CustomerID, a.InlineAPIKey = "north", "4242", promconfig.Secret(b2seetest.DemoAPIKey)
	a.HTTPClientConfig.BasicAuth = &promconfig.BasicAuth{Username: "u", PasswordFile: path}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := Check(&config.Config{Accounts: []*config.Account{a}}, "test", slog.New(slog.DiscardHandler))
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

// statusConfig is an account of the counting fake with status tracking,
// one lookup at a time, and no status mapping: every batch is looked up
// on every read.
func statusConfig(t *testing.T, srv *httptest.Server) string {
	keyFile := filepath.Join(t.TempDir(), "key")
	fixture.WriteFile(t, keyFile, b2seetest.DemoAPIKey)
	return `accounts:
  - name: north
    customer_id: "` + b2seetest.DefaultCustomerID + `"
    api_key_file: ` + keyFile + `
    url: ` + srv.URL + `/PublicAPI
    batches:
      url: ` + srv.URL + `/BatchAPI
      concurrency: 1
`
}

// TestReloadClosesUpstreamConnections: each reload builds new HTTP
// clients; the connections of the old ones are closed, so the number open
// to the upstream stays that of one set of clients however many reloads.
func TestReloadClosesUpstreamConnections(t *testing.T) {
	fake, srv, conns := countingFake(t)
	s := newTestSet(t, statusConfig(t, srv), 30*time.Second)
	// One connection for the cakes, one for the status lookups.
	const want = 2
	const reloads = 20
	for range reloads {
		if err := s.Reload(); err != nil {
			t.Fatalf("reload: %v", err)
		}
		m := s.scrape(t, "north")
		if m.Value(`b2see_up{account="north"}`) != 1 || m.Value(`b2see_upstream_requests_total{account="north",endpoint="batches",outcome="success"}`) == 0 {
			t.Fatalf("a read after a reload is down or made no status lookup: %v", m.Values())
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
// closed once the longest read could have ended (the timeout).
func TestReloadDuringReadClosesItsConnections(t *testing.T) {
	fake, srv, conns := countingFake(t)
	fake.SetFault(b2seetest.Batches, b2seetest.Fault{Delay: 50 * time.Millisecond})
	s := newTestSet(t, statusConfig(t, srv), 2*time.Second)
	done := make(chan exposition.Series, 1)
	go func() {
		m, err := s.gather("north")
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	for deadline := time.Now().Add(10 * time.Second); fake.Requests(b2seetest.Batches) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the read's status lookups never began")
		}
	}
	if err := s.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	lookups := fake.Requests(b2seetest.Batches)
	if m := <-done; m.Value(`b2see_up{account="north"}`) != 1 {
		t.Fatalf("the read begun before the reload failed: %v", m.Values())
	}
	if fake.Requests(b2seetest.Batches) == lookups {
		t.Fatal("no status lookup after the reload: the test tests nothing")
	}
	if !conns.waitAtMost(0, 10*time.Second) {
		t.Fatalf("%d connections open to the upstream, want none: no read used the clients of the reload", conns.now())
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
