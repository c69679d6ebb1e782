package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
	"github.com/b2see-exporter/b2see_exporter/internal/promqlnames"
)

// formatRecorder is a reverse proxy in front of the exporter that keeps
// the Content-Type of every answer, to show which format a scrape got.
type formatRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	types map[string]int
}

func newFormatRecorder(t *testing.T, exporterAddr string) *formatRecorder {
	t.Helper()
	r := &formatRecorder{types: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: exporterAddr})
	proxy.ModifyResponse = func(resp *http.Response) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.types[resp.Header.Get("Content-Type")]++
		return nil
	}
	r.Server = httptest.NewServer(proxy)
	t.Cleanup(r.Close)
	return r
}

func (r *formatRecorder) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.types)
}

// scrapeProtocols are the formats Prometheus 3 can ask for, by its names,
// with the Content-Type the exporter must answer each with.
var scrapeProtocols = []struct{ name, contentType string }{
	{"OpenMetricsText1.0.0", "application/openmetrics-text; version=1.0.0"},
	{"PrometheusProto", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"},
	{"PrometheusText0.0.4", "text/plain; version=0.0.4"},
}

// TestPrometheus3ScrapeProtocols scrapes the demo from Prometheus 3 in
// each exposition format it speaks, one job per format: every job must be
// healthy, ingest the same series, and keep the type and help each family
// has in the exposition as its metadata.
func TestPrometheus3ScrapeProtocols(t *testing.T) {
	promBin := progtest.Prometheus3.Server(t)
	demo := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	logOnFailure(t, "exporter --demo", demo.logs)

	var jobs []any
	recorders := map[string]*formatRecorder{}
	for _, p := range scrapeProtocols {
		r := newFormatRecorder(t, demo.addr)
		recorders[p.name] = r
		jobs = append(jobs, map[string]any{
			"job_name":         p.name,
			"scrape_protocols": []string{p.name},
			"static_configs":   []any{map[string]any{"targets": []string{strings.TrimPrefix(r.URL, "http://")}}},
		})
	}
	prom := startPrometheusConfig(t, promBin, t.TempDir(), map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s"},
		"scrape_configs": jobs,
	})

	for _, p := range scrapeProtocols {
		q := fmt.Sprintf(`count_over_time(up{job=%q}[1m]) >= 3`, p.name)
		eventually(t, startTimeout, "three scrapes of job "+p.name, func() (bool, string) {
			n, err := prom.query(q)
			if err != nil {
				return false, err.Error()
			}
			return n > 0, "fewer scrapes so far"
		})
	}
	for _, p := range scrapeProtocols {
		seen := recorders[p.name].seen()
		if len(seen) == 0 {
			t.Errorf("job %s: no answer went through its proxy", p.name)
		}
		for ct := range seen {
			if !strings.HasPrefix(ct, p.contentType) {
				t.Errorf("job %s got an answer in %q, want %s", p.name, ct, p.contentType)
			}
		}
	}
	testTargetsHealthy(t, prom)
	testSameSeries(t, prom)
	testMetadata(t, prom, demo)
}

// testTargetsHealthy requires every target up, with no scrape error.
func testTargetsHealthy(t *testing.T, prom *server) {
	t.Helper()
	var targets struct {
		Active []struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := prom.api("/api/v1/targets", nil, &targets); err != nil {
		t.Fatal(err)
	}
	if len(targets.Active) != len(scrapeProtocols) {
		t.Errorf("%d targets, want %d", len(targets.Active), len(scrapeProtocols))
	}
	for _, tg := range targets.Active {
		if tg.Health != "up" || tg.LastError != "" {
			t.Errorf("job %s: health %q, last error %q", tg.Labels["job"], tg.Health, tg.LastError)
		}
	}
}

// testSameSeries requires the jobs to have the same series, labels but job
// and instance compared. A series new since the last scrape of one job may
// not be in the others yet: the comparison is tried until it holds.
func testSameSeries(t *testing.T, prom *server) {
	t.Helper()
	seriesOf := func(job string) (map[string]bool, error) {
		var list []map[string]string
		if err := prom.api("/api/v1/series", url.Values{"match[]": {fmt.Sprintf(`{job=%q}`, job)}}, &list); err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, s := range list {
			delete(s, "job")
			delete(s, "instance")
			out[labelString(s)] = true
		}
		return out, nil
	}
	eventually(t, startTimeout, "the same series in every job", func() (bool, string) {
		want, err := seriesOf(scrapeProtocols[0].name)
		if err != nil {
			return false, err.Error()
		}
		if len(want) < 500 {
			return false, fmt.Sprintf("only %d series", len(want))
		}
		for _, p := range scrapeProtocols[1:] {
			got, err := seriesOf(p.name)
			if err != nil {
				return false, err.Error()
			}
			if d := diff(want, got); d != "" {
				return false, fmt.Sprintf("%s against %s: %s", p.name, scrapeProtocols[0].name, d)
			}
		}
		return true, ""
	})
}

func labelString(l map[string]string) string {
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// diff describes what a and b do not share, shortly.
func diff(a, b map[string]bool) string {
	var only []string
	for k := range a {
		if !b[k] {
			only = append(only, "-"+k)
		}
	}
	for k := range b {
		if !a[k] {
			only = append(only, "+"+k)
		}
	}
	sort.Strings(only)
	if len(only) > 5 {
		only = append(only[:5], fmt.Sprintf("... %d in all", len(only)))
	}
	return strings.Join(only, "; ")
}

// testMetadata requires the metadata Prometheus keeps of each job's target
// to give every family of the exposition its type and help, under the name
// the format gives it: OpenMetrics names a counter without its _total.
func testMetadata(t *testing.T, prom *server, demo *exporter) {
	t.Helper()
	format, body := demo.scrapeAs(t, "/metrics", "")
	mfs := decodeAll(t, body, format)
	known := map[string]bool{}
	for _, p := range promqlnames.KnownClashes {
		known[p[0]], known[p[1]] = true, true
	}
	for _, p := range scrapeProtocols {
		t.Run(p.name, func(t *testing.T) {
			var meta []struct {
				Metric string `json:"metric"`
				Type   string `json:"type"`
				Help   string `json:"help"`
			}
			if err := prom.api("/api/v1/targets/metadata", url.Values{"match_target": {fmt.Sprintf(`{job=%q}`, p.name)}}, &meta); err != nil {
				t.Fatal(err)
			}
			type typeHelp struct{ typ, help string }
			got := map[string]typeHelp{}
			for _, m := range meta {
				got[m.Metric] = typeHelp{m.Type, m.Help}
			}
			for _, mf := range mfs {
				if known[mf.GetName()] {
					continue
				}
				name := mf.GetName()
				if p.name == "OpenMetricsText1.0.0" {
					name = promqlnames.OpenMetricsName(promqlnames.Family{Name: name, Type: mf.GetType()})
				}
				want := typeHelp{strings.ToLower(mf.GetType().String()), mf.GetHelp()}
				if g, ok := got[name]; !ok {
					t.Errorf("%s: no metadata", name)
				} else if g != want {
					t.Errorf("%s: metadata %+v, want %+v", name, g, want)
				}
			}
		})
	}
}

// TestScaleOut runs the README's recipe for several exporters: two
// exporters with the same accounts file, and a Prometheus 3 whose two jobs
// keep a share each by hashmod. Every account must be scraped by exactly
// one of them, and none missed.
func TestScaleOut(t *testing.T) {
	promBin := progtest.Prometheus3.Server(t)
	accounts := []string{"north", "south", "east", "west", "valley", "coast"}
	cfg := "accounts:\n"
	for _, a := range accounts {
		fake := b2seetest.NewServer(b2seetest.Config{})
		t.Cleanup(fake.Close)
		cfg += fmt.Sprintf("  - name: %s\n    customer_id: %q\n    api_key_env: B2SEE_API_KEY\n    url: %s\n", a, b2seetest.DefaultCustomerID, fake.URL)
	}
	path := filepath.Join(t.TempDir(), "b2see.yml")
	fixture.WriteFile(t, path, cfg)
	var addrs []string
	for i := range 2 {
		e := startExporter(t, []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey}, "--config.file="+path, "--storage.path="+t.TempDir())
		logOnFailure(t, fmt.Sprintf("exporter %d", i), e.logs)
		addrs = append(addrs, e.addr)
	}

	jobs := readmeScaleOut(t, accounts, addrs)
	prom := startPrometheusConfig(t, promBin, t.TempDir(), map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s"},
		"scrape_configs": jobs,
	})
	eventually(t, startTimeout, "a scrape of every target", func() (bool, string) {
		n, err := prom.query(fmt.Sprintf(`count(up == 1) == %d`, len(accounts)))
		if err != nil {
			return false, err.Error()
		}
		return n > 0, "not every account scraped yet"
	})

	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	if err := prom.api("/api/v1/query", url.Values{"query": {`count by (account, job, instance) (b2see_up == 1)`}}, &data); err != nil {
		t.Fatal(err)
	}
	jobOf := map[string][]string{}
	perJob := map[string]int{}
	for _, r := range data.Result {
		a := r.Metric["account"]
		jobOf[a] = append(jobOf[a], r.Metric["job"])
		perJob[r.Metric["job"]]++
		if r.Metric["instance"] != a {
			t.Errorf("account %s: instance %q", a, r.Metric["instance"])
		}
	}
	for _, a := range accounts {
		if len(jobOf[a]) != 1 {
			t.Errorf("account %s scraped by %v, want exactly one job", a, jobOf[a])
		}
	}
	if len(jobOf) != len(accounts) {
		t.Errorf("b2see_up for %d accounts, want %d: %v", len(jobOf), len(accounts), jobOf)
	}
	if len(perJob) != 2 {
		t.Errorf("accounts per job %v: want both exporters to have a share", perJob)
	}
}

// readmeScaleOut returns the scrape configs of the README's recipe for
// several exporters, with the test's accounts and exporters put in and
// scrapes every second. Nothing else is changed: the relabelling is the
// README's own.
func readmeScaleOut(t *testing.T, accounts, addrs []string) []any {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "To spread many accounts over several exporters")
	if !ok {
		t.Fatal("README: the recipe for several exporters is gone")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README: no YAML block in the recipe for several exporters")
	}
	var doc struct {
		ScrapeConfigs []map[string]any `yaml:"scrape_configs"`
	}
	if err := yaml.UnmarshalStrict([]byte(block), &doc); err != nil {
		t.Fatalf("README recipe: %v", err)
	}
	if len(doc.ScrapeConfigs) != len(addrs) {
		t.Fatalf("README recipe has %d jobs, the test %d exporters", len(doc.ScrapeConfigs), len(addrs))
	}
	var jobs []any
	for i, sc := range doc.ScrapeConfigs {
		sc["scrape_interval"], sc["scrape_timeout"] = "1s", "1s"
		sc["static_configs"] = []any{map[string]any{"targets": accounts}}
		placeholder := fmt.Sprintf("exporter-%d:10133", i)
		replaced := 0
		rules, _ := sc["relabel_configs"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[any]any)
			if rm["replacement"] == placeholder {
				rm["replacement"] = addrs[i]
				replaced++
			}
		}
		if replaced != 1 {
			t.Fatalf("README recipe job %d: %d rules replace __address__ with %s, want 1", i, replaced, placeholder)
		}
		jobs = append(jobs, sc)
	}
	return jobs
}

// startPrometheusConfig runs Prometheus with cfg as its configuration and
// waits until it is ready.
func startPrometheusConfig(t *testing.T, bin, dir string, cfg map[string]any) *server {
	t.Helper()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, cfgFile, cfg)
	addr := freeAddr(t)
	startProgram(t, "prometheus", addr, bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+addr,
	)
	return &server{addr: addr}
}
