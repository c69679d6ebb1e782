package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/exposition"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
)

// exporterBinary is the exporter built once for the tests that run it as
// a user would: a process with flags, environment and a port.
var exporterBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "b2see-exporter-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exporterBinary = filepath.Join(dir, "b2see_exporter")
	build := exec.Command("go", "build", "-o", exporterBinary, "..")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a program a test started; it is stopped when the test ends.
type process struct {
	name   string
	cmd    *exec.Cmd
	logs   *testlog.Buffer
	exited chan struct{}
}

// startProcess runs bin with args and env added to the test's environment.
func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), logs: &testlog.Buffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	return p
}

// stop ends the process: SIGTERM, then SIGKILL after a while. Stopping a
// stopped process does nothing.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitReady polls url until ready says the answer will do, and fails the
// test at once if the process exits, or after timeout.
func (p *process) waitReady(t *testing.T, client *http.Client, url string, timeout time.Duration, ready func(*http.Response) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			ok := ready(resp)
			resp.Body.Close()
			if ok {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited at start (%v); output:\n%s", p.name, p.cmd.ProcessState, p.logs)
		case <-deadline.C:
			t.Fatalf("%s not ready at %s after %v; output:\n%s", p.name, url, timeout, p.logs)
		case <-tick.C:
		}
	}
}

// exporter is a running exporter process.
type exporter struct {
	*process
	addr string
}

// startExporter runs the exporter with args and env on a free loopback
// port and waits until it answers.
func startExporter(t *testing.T, env []string, args ...string) *exporter {
	t.Helper()
	addr := freeAddr(t)
	p := startProcess(t, "exporter", env, exporterBinary, append([]string{"--web.listen-address=" + addr}, args...)...)
	p.waitReady(t, http.DefaultClient, "http://"+addr+"/", 20*time.Second, func(*http.Response) bool { return true })
	return &exporter{process: p, addr: addr}
}

// get fetches path from the exporter and returns status and body.
func (e *exporter) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+path, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
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

func TestEndToEnd(t *testing.T) {
	now := time.Now()
	records := b2seetest.Generate(300, 7, now, 60)
	fake := b2seetest.NewServer(b2seetest.Config{Records: records, Gzip: true})
	defer fake.Close()
	secrets := append([]string{b2seetest.DemoAPIKey}, b2seetest.PersonalData(records)...)

	keyFile := filepath.Join(t.TempDir(), "api.key")
	if err := os.WriteFile(keyFile, []byte(b2seetest.DemoAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, nil,
		"--b2see.url="+fake.URL,
		"--b2see.customer-id="+b2seetest.DefaultCustomerID,
		"--b2see.api-key-file="+keyFile,
		"--b2see.account-name=north",
		"--b2see.days-of-history=30",
		"--storage.path="+t.TempDir(),
	)

	// Success: the sums match what the records say, counted here on their own.
	code, body := e.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	m := parseMetrics(t, body)
	if m.Value(`b2see_up{account="north"}`) != 1 {
		t.Fatalf("b2see_up = %v\nlogs:\n%s", m.Value(`b2see_up{account="north"}`), e.logs)
	}
	var wantBatches, wantPlays, wantWatches, wantWatched float64
	seen := map[int64]bool{}
	for _, r := range records {
		if r.DateCreated.Before(now.Add(-30*24*time.Hour)) || seen[r.BatchId] {
			continue
		}
		seen[r.BatchId] = true
		wantBatches++
		wantPlays += float64(r.VideoPlayCount)
		wantWatches += float64(r.LandingPageWatchCount)
		if r.LandingPageWatchCount > 0 {
			wantWatched++
		}
	}
	for name, want := range map[string]float64{
		"b2see_window_batches": wantBatches, "b2see_window_video_plays": wantPlays,
		"b2see_window_landing_page_watches": wantWatches, "b2see_window_batches_watched": wantWatched,
	} {
		if got := m.Sum(name); got != want {
			t.Errorf("sum of %s = %v, want %v", name, got, want)
		}
	}
	if m.Sum("b2see_exporter_build_info") != 1 {
		t.Error("no b2see_exporter_build_info")
	}
	fixture.NoLeak(t, "metrics after a good scrape", body, secrets)

	// Failure: up is 0, the page is still served, the reason is logged.
	fake.SetFault(b2seetest.Cakes, b2seetest.Fault{Status: 500, Body: []byte("<html>" + b2seetest.DemoAPIKey + "</html>"), ContentType: "text/html"})
	code, body = e.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("status %d on upstream failure", code)
	}
	m = parseMetrics(t, body)
	if m.Value(`b2see_up{account="north"}`) != 0 {
		t.Errorf("b2see_up = %v on upstream failure", m.Value(`b2see_up{account="north"}`))
	}
	if m.Value(`b2see_scrape_errors_total{account="north",reason="upstream_error"}`) != 1 {
		t.Errorf("upstream_error count = %v", m.Value(`b2see_scrape_errors_total{account="north",reason="upstream_error"}`))
	}
	if !strings.Contains(body, "process_cpu_seconds_total") {
		t.Error("the exporter's own metrics are missing on upstream failure")
	}
	fixture.NoLeak(t, "metrics after a failed scrape", body, secrets)

	// The landing page names the account and its state.
	code, page := e.get(t, "/")
	if code != 200 || !strings.Contains(page, "north") || !strings.Contains(page, "down") {
		t.Errorf("landing page (%d) lacks the account's state:\n%s", code, page)
	}
	fixture.NoLeak(t, "landing page", page, secrets)

	logs := e.logs.String()
	if !strings.Contains(logs, "reason=upstream_error") {
		t.Errorf("the failure's reason is not logged:\n%s", logs)
	}
	fixture.NoLeak(t, "logs", logs, secrets)
}

func TestDemo(t *testing.T) {
	e := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	_, body := e.get(t, "/metrics")
	m := parseMetrics(t, body)
	if m.Value(`b2see_up{account="demo"}`) != 1 {
		t.Fatalf("demo b2see_up = %v\nlogs:\n%s", m.Value(`b2see_up{account="demo"}`), e.logs)
	}
	for _, name := range []string{"b2see_window_batches", "b2see_window_video_plays", "b2see_window_landing_page_watches", "b2see_window_link_clicks", "b2see_window_customer_actions", "b2see_window_customer_action_value", "b2see_window_customer_ratings", "b2see_window_time_to_first_watch_seconds", "b2see_batch_status"} {
		if m.Sum(name) <= 0 {
			t.Errorf("demo %s is not positive", name)
		}
	}

	// The whole real exposition passes the linters.
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, p := range progtest.Prometheuses {
		t.Run("promtool check metrics/"+p.Name, func(t *testing.T) {
			check := exec.Command(p.Promtool(t), "check", "metrics")
			check.Stdin = strings.NewReader(body)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}

func TestBadConfigurationFailsAtStart(t *testing.T) {
	const key = "11111111-2222-3333-4444-555555555555"
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("not-a-guid-"+key), 0o600)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no customer ID", []string{"B2SEE_API_KEY=" + key}, nil, "no customer ID"},
		{"no key", nil, []string{"--b2see.customer-id=1"}, "no API key"},
		{"key not a GUID", []string{"B2SEE_API_KEY=x" + key}, []string{"--b2see.customer-id=1"}, "not a GUID"},
		{"key file not a GUID", nil, []string{"--b2see.customer-id=1", "--b2see.api-key-file=" + keyFile}, "not a GUID"},
		{"unreadable key file", nil, []string{"--b2see.customer-id=1", "--b2see.api-key-file=/nonexistent/key"}, "API key file"},
		{"malformed URL", []string{"B2SEE_API_KEY=" + key}, []string{"--b2see.customer-id=1", "--b2see.url=ftp//x"}, "must start with http"},
		{"unknown flag", nil, []string{"--b2see.nope"}, "unknown long flag"},
		{"zero timeout", []string{"B2SEE_API_KEY=" + key}, []string{"--b2see.customer-id=1", "--b2see.timeout=0s"}, "--b2see.timeout must be positive"},
		{"config file and customer flag", nil, []string{"--b2see.customer-id=1", "--config.file=x.yml"}, "leave out --b2see.customer-id"},
		{"bad config file", nil, []string{"--config.file=/nonexistent/b2see.yml"}, "reading the config file"},
		{"zero days", []string{"B2SEE_API_KEY=" + key}, []string{"--b2see.customer-id=1", "--b2see.days-of-history=0"}, "--b2see.days-of-history must be 1 or more"},
		{"zero body size", []string{"B2SEE_API_KEY=" + key}, []string{"--b2see.customer-id=1", "--b2see.max-body-size=0"}, "--b2see.max-body-size must be 1 byte or more"},
		{"config file and a flag of the single account", nil, []string{"--config.file=x.yml", "--b2see.batch-status"}, "leave out"},
		{"demo and config file", nil, []string{"--config.file=x.yml", "--demo"}, "--demo serves its own account"},
		{"negative connection cap", []string{"B2SEE_API_KEY=" + key}, []string{"--b2see.customer-id=1", "--web.max-connections=-1"}, "--web.max-connections must be 0 (no limit) or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(exporterBinary, append([]string{"--web.listen-address=" + freeAddr(t)}, tt.args...)...)
			cmd.Env = append(cleanEnv(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exporter started; output:\n%s", out)
			}
			lines := nonEmptyLines(string(out))
			last := lines[len(lines)-1]
			if !strings.Contains(last, tt.want) {
				t.Errorf("last line %q does not say %q", last, tt.want)
			}
			fixture.NoLeak(t, "start-up error", string(out), []string{key})
		})
	}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "B2SEE_") {
			env = append(env, kv)
		}
	}
	return env
}

func nonEmptyLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

func TestCountersContinueAcrossRestart(t *testing.T) {
	now := time.Now()
	fake := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(200, 3, now, 20)})
	defer fake.Close()
	storage := t.TempDir()
	env := []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey}
	args := []string{"--b2see.url=" + fake.URL, "--b2see.customer-id=" + b2seetest.DefaultCustomerID, "--storage.path=" + storage}
	evolve := func(seed uint64) {
		fake.UpdateRecords(func(rs []b2seetest.Record) []b2seetest.Record { return b2seetest.Evolve(rs, seed, time.Now()) })
	}
	plays := func(e *exporter) float64 {
		_, body := e.get(t, "/metrics")
		m := parseMetrics(t, body)
		if m.Value(`b2see_up{account="`+b2seetest.DefaultCustomerID+`"}`) != 1 {
			t.Fatalf("exporter not up:\n%s", e.logs)
		}
		return m.Sum("b2see_video_plays_total")
	}

	first := startExporter(t, env, args...)
	if p := plays(first); p != 0 {
		t.Fatalf("the first scrape is the starting point, but plays_total = %v", p)
	}
	evolve(1)
	before := plays(first)
	if before <= 0 {
		t.Fatal("plays_total did not grow")
	}
	first.stop()

	second := startExporter(t, env, args...)
	if after := plays(second); after != before {
		t.Errorf("after a restart with no upstream change plays_total = %v, want %v (no reset, no jump)", after, before)
	}
	evolve(2)
	if after := plays(second); after <= before {
		t.Errorf("plays_total = %v after growth, was %v", after, before)
	}
}
