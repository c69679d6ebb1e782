package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/b2see-exporter/b2see_exporter/accounts"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/exposition"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
)

// testExporter is the exporter's handler in-process, over a config file.
type testExporter struct {
	srv      *httptest.Server
	accounts *accounts.Set
	reg      *prometheus.Registry
	cfgPath  string
	logs     *testlog.Buffer
}

func newTestExporter(t *testing.T, configYAML string, extraArgs ...string) *testExporter {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "b2see.yml")
	fixture.WriteFile(t, cfgPath, configYAML)
	app := kingpin.New("test", "")
	f, err := parseFlags(app, append([]string{"--config.file=" + cfgPath, "--storage.path=" + dir}, extraArgs...), &promslog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	load, err := configLoader(f)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	set := newAccountSet(f, load, logger, reg)
	if err := set.Reload(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(f, set, set.Reload, reg, logger))
	t.Cleanup(srv.Close)
	return &testExporter{srv: srv, accounts: set, reg: reg, cfgPath: cfgPath, logs: logs}
}

// parseMetrics parses an exposition in the text format.
func parseMetrics(t *testing.T, body string) exposition.Series {
	t.Helper()
	m, err := exposition.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return m
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

func TestProbe(t *testing.T) {
	_, _, cfg, _ := fixture.TwoAccounts(t)
	e := newTestExporter(t, cfg)

	code, body := e.do(t, http.MethodGet, "/probe?account=north")
	if code != 200 {
		t.Fatalf("probe: %d %s", code, body)
	}
	m := parseMetrics(t, body)
	if m.Value(`b2see_up{account="north"}`) != 1 || m.Sum("b2see_window_batches") != 50 {
		t.Errorf("probe north: up %v, batches %v", m.Value(`b2see_up{account="north"}`), m.Sum("b2see_window_batches"))
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
	_, south, cfg, _ := fixture.TwoAccounts(t)
	south.SetFault(b2seetest.Cakes, b2seetest.Fault{Status: 503})
	e := newTestExporter(t, cfg)
	code, body := e.do(t, http.MethodGet, "/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	m := parseMetrics(t, body)
	if m.Value(`b2see_up{account="north"}`) != 1 || m.Value(`b2see_up{account="south"}`) != 0 {
		t.Errorf("up: north %v south %v", m.Value(`b2see_up{account="north"}`), m.Value(`b2see_up{account="south"}`))
	}
	if m.Sum("b2see_window_batches") != 50 {
		t.Errorf("north's batches = %v, want 50", m.Sum("b2see_window_batches"))
	}
}

// TestReloadOverHTTP: POST /-/reload reloads, answering why when it
// fails; the accounts' lifecycle itself is tested in package accounts.
func TestReloadOverHTTP(t *testing.T) {
	_, _, cfg, _ := fixture.TwoAccounts(t)
	e := newTestExporter(t, cfg)

	// A bad file: the running configuration stays, and says why.
	fixture.WriteFile(t, e.cfgPath, cfg+"    surprise: 1\n")
	code, body := e.do(t, http.MethodPost, "/-/reload")
	if code != 500 || !strings.Contains(body, "surprise") {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if code, _ := e.do(t, http.MethodGet, "/probe?account=south"); code != 200 {
		t.Errorf("probe of south after a bad reload: %d, want 200", code)
	}

	// GET is not a reload.
	if code, _ := e.do(t, http.MethodGet, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d", code)
	}

	// A good file dropping south.
	fixture.WriteFile(t, e.cfgPath, cfg[:strings.Index(cfg, "  - name: south")])
	if code, body := e.do(t, http.MethodPost, "/-/reload"); code != 200 || body != "configuration reloaded\n" {
		t.Fatalf("good reload: %d %q", code, body)
	}
	if code, body := e.do(t, http.MethodGet, "/probe?account=south"); code != http.StatusBadRequest || !strings.Contains(body, `unknown account "south"`) {
		t.Errorf("probe of south after it left the file: %d %q", code, body)
	}
}

func TestRetryAfterOverHTTP(t *testing.T) {
	north, _, cfg, _ := fixture.TwoAccounts(t)
	north.SetFault(b2seetest.Cakes, b2seetest.Fault{RetryAfter: 3600})
	e := newTestExporter(t, cfg)
	for range 3 {
		_, body := e.do(t, http.MethodGet, "/probe?account=north")
		if m := parseMetrics(t, body); m.Value(`b2see_up{account="north"}`) != 0 {
			t.Fatal("up while rate limited")
		}
	}
	north.SetFault(b2seetest.Cakes, b2seetest.Fault{})
	if got := north.Requests(b2seetest.Cakes); got != 1 {
		t.Errorf("%d calls to a rate-limited upstream within its Retry-After, want 1", got)
	}
}

func TestConcurrentProbesShareOneUpstreamCall(t *testing.T) {
	north, _, cfg, _ := fixture.TwoAccounts(t)
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
