package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/b2see-exporter/b2see_exporter/alerts"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/dashboards"
	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
)

// The servers run on a 2-core CI machine next to other work: deadlines are
// generous, and only a failure waits them out.
const (
	startTimeout = 60 * time.Second
	alertTimeout = 90 * time.Second
	pollInterval = 100 * time.Millisecond
)

// jobName is the scrape job of the test's Prometheus. It contains "b2see"
// as the rules file asks.
const jobName = "b2see"

// alertCase makes one alert fire: an exporter of its own reads a fake
// upstream that the case breaks.
type alertCase struct {
	alert   string
	account string
	fake    b2seetest.Config
	breaks  func(*b2seetest.Server) // before the exporter starts
	// later breaks the fake once Prometheus has scraped every target: for
	// alerts on what changes after the exporter's first read.
	later func(*b2seetest.Server)
	// config, when set, is the exporter's accounts file for the fake; the
	// exporter is otherwise configured by flags.
	config func(*b2seetest.Server) string
}

// alertCases are the alerts TestPrometheus follows from the exporter
// through Prometheus and Alertmanager to a webhook.
var alertCases = []alertCase{
	{
		alert:   "B2seeAPIDown",
		account: "north",
		breaks: func(s *b2seetest.Server) {
			s.SetFault(b2seetest.Cakes, b2seetest.Fault{Status: 500, ContentType: "text/html",
				Body: []byte("<html>error for " + b2seetest.DemoAPIKey + "</html>")})
		},
	},
	{
		// A batch still processing when the exporter starts fails later: news,
		// unlike failures already there at the first read.
		alert:   "B2seeBatchFailures",
		account: "south",
		fake: b2seetest.Config{
			Records: b2seetest.Generate(40, 11, time.Now(), 10),
			Batches: b2seetest.BatchesConfig{DefaultStatus: func(id int64) b2seetest.Status {
				if id == failingBatch {
					return b2seetest.Status{Code: 1, TimeoutMinutes: 100000}
				}
				return b2seetest.Status{Code: 2, TimeoutMinutes: 100000}
			}},
		},
		breaks: func(*b2seetest.Server) {},
		later: func(s *b2seetest.Server) {
			s.SetBatchStatus(failingBatch, b2seetest.Status{Code: 3, TimeoutMinutes: 100000})
		},
		config: func(s *b2seetest.Server) string {
			cfg := "accounts:\n  - name: south\n    customer_id: \"" + b2seetest.DefaultCustomerID + "\"\n" +
				"    api_key_env: B2SEE_API_KEY\n    url: " + s.URL + "\n    batches:\n      url: " + s.BatchesURL + "\n      statuses:\n"
			for _, st := range b2seetest.ExampleStatuses {
				cfg += fmt.Sprintf("        %d: {name: %s, phase: %s}\n", st.Code, st.Name, st.State)
			}
			return cfg
		},
	},
}

// failingBatch is the batch of the B2seeBatchFailures case that fails
// while watched: one of its fake's records.
var failingBatch = b2seetest.Generate(40, 11, time.Now(), 10)[7].BatchId

// TestPrometheus runs the exporter under a real Prometheus, of each
// supported major version, that loads the project's rules and sends alerts
// to a real Alertmanager, and checks that the rules evaluate, that alerts
// reach a webhook, and that every dashboard query returns data.
func TestPrometheus(t *testing.T) {
	for _, p := range progtest.Prometheuses {
		t.Run(p.Name, func(t *testing.T) {
			promBin := p.Server(t)
			amBin := progtest.Require(t, "prometheus-alertmanager", "alertmanager")
			testPrometheus(t, promBin, amBin)
		})
	}
}

// testPrometheus is TestPrometheus with one Prometheus, its own
// Alertmanager and exporters.
func testPrometheus(t *testing.T, promBin, amBin string) {
	dir := t.TempDir()

	hook := newWebhook(t)
	am := startAlertmanager(t, amBin, dir, hook.URL)

	demo := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	logOnFailure(t, "exporter --demo", demo.logs)
	targets := []string{demo.addr}
	caseAddr := map[string]string{}
	fakes := map[string]*b2seetest.Server{}
	for _, c := range alertCases {
		fake := b2seetest.NewServer(c.fake)
		t.Cleanup(fake.Close)
		c.breaks(fake)
		fakes[c.alert] = fake
		args := []string{
			"--b2see.url=" + fake.URL,
			"--b2see.customer-id=" + b2seetest.DefaultCustomerID,
			"--b2see.account-name=" + c.account,
		}
		if c.config != nil {
			path := filepath.Join(t.TempDir(), "b2see.yml")
			fixture.WriteFile(t, path, c.config(fake))
			args = []string{"--config.file=" + path}
		}
		e := startExporter(t, []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey},
			append(args, "--storage.path="+t.TempDir())...)
		logOnFailure(t, "exporter "+c.account, e.logs)
		targets = append(targets, e.addr)
		caseAddr[c.alert] = e.addr
	}
	prom := startPrometheus(t, promBin, dir, am, targets)

	t.Run("rules evaluate", func(t *testing.T) { testRulesEvaluate(t, prom, len(targets)) })
	for _, c := range alertCases {
		if c.later != nil {
			c.later(fakes[c.alert])
		}
	}
	t.Run("alerts reach the webhook", func(t *testing.T) { testAlertsReachWebhook(t, hook, caseAddr) })
	t.Run("dashboard queries return data", func(t *testing.T) { testDashboardQueries(t, prom, demo.addr) })
}

// testRulesEvaluate waits until Prometheus has evaluated every rule of the
// project's file over scraped data and requires that none failed: errors
// such as many-to-many matches show only with real series.
func testRulesEvaluate(t *testing.T, prom *server, targets int) {
	rules, err := alerts.Rules()
	if err != nil {
		t.Fatal(err)
	}
	scraped := fmt.Sprintf(`count(up{job=%q} == 1) == %d`, jobName, targets)
	eventually(t, startTimeout, "a scrape of every target", func() (bool, string) {
		n, err := prom.query(scraped)
		if err != nil {
			return false, err.Error()
		}
		return n > 0, "not every target scraped yet"
	})
	// An evaluation before the first scrapes sees no series and cannot fail.
	since := time.Now()
	type ruleState struct {
		Name           string    `json:"name"`
		Health         string    `json:"health"`
		LastError      string    `json:"lastError"`
		LastEvaluation time.Time `json:"lastEvaluation"`
	}
	var got []ruleState
	eventually(t, startTimeout, "every rule evaluated over scraped data", func() (bool, string) {
		var data struct {
			Groups []struct {
				Rules []ruleState `json:"rules"`
			} `json:"groups"`
		}
		if err := prom.api("/api/v1/rules", nil, &data); err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, g := range data.Groups {
			got = append(got, g.Rules...)
		}
		for _, r := range got {
			if !r.LastEvaluation.After(since) {
				return false, r.Name + " not evaluated since the scrapes"
			}
		}
		return len(got) > 0, fmt.Sprintf("%d rules loaded", len(got))
	})
	if len(got) != len(rules) {
		t.Errorf("Prometheus loaded %d rules, the file has %d", len(got), len(rules))
	}
	for _, r := range got {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
		}
	}
}

// testAlertsReachWebhook waits for each case's alert at the webhook, with
// the labels and annotations the runbook relies on.
func testAlertsReachWebhook(t *testing.T, hook *webhook, caseAddr map[string]string) {
	for _, c := range alertCases {
		t.Run(c.alert, func(t *testing.T) {
			var a webhookAlert
			eventually(t, alertTimeout, c.alert+" for account "+c.account+" at the webhook", func() (bool, string) {
				var ok bool
				a, ok = hook.find(c.alert, c.account)
				return ok, "the webhook received " + hook.summary()
			})
			want := map[string]string{"alertname": c.alert, "account": c.account, "job": jobName, "instance": caseAddr[c.alert]}
			for k, v := range want {
				if a.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
				}
			}
			if a.Status != "firing" {
				t.Errorf("status %q, want firing", a.Status)
			}
			if a.Labels["severity"] == "" {
				t.Error("no severity label")
			}
			if u := a.Annotations["runbook_url"]; !strings.HasSuffix(u, "RUNBOOK.md#"+strings.ToLower(c.alert)) {
				t.Errorf("runbook_url %q does not point at the alert's section", u)
			}
			for _, k := range []string{"summary", "description"} {
				if a.Annotations[k] == "" || strings.Contains(a.Annotations[k], "{{") {
					t.Errorf("annotation %s = %q, want expanded text", k, a.Annotations[k])
				}
			}
		})
	}
	// The healthy demo account must not be reported down while the others
	// are.
	if _, ok := hook.find("B2seeAPIDown", "demo"); ok {
		t.Error("B2seeAPIDown fired for the healthy demo account")
	}
	fixture.NoLeak(t, "notifications", hook.raw(), []string{b2seetest.DemoAPIKey})
}

// noDataWithDemo are the dashboard queries that rightly return nothing from
// a healthy demo, keyed by dashboard/panel/refId, with the reason. They must
// still run; one that returns data must leave this list.
var noDataWithDemo = map[string]string{
	"b2see-operations.json/Upstream errors by outcome/A": "failed upstream requests only; the demo upstream never fails",
	"b2see-operations.json/Rate-limited requests/A":      "rate-limited upstream requests only; the demo upstream never rate-limits",
}

// testDashboardQueries runs every panel query, with Grafana's variables
// set as they would be for the demo target, against the Prometheus.
func testDashboardQueries(t *testing.T, prom *server, demoAddr string) {
	queries, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	// Grafana's $__rate_interval is at least four scrape intervals.
	vars := map[string]string{
		"job": jobName, "instance": demoAddr, "account": "demo",
		"__rate_interval": "4s", "__interval": "1s", "__interval_ms": "1000",
		"__range": "1m", "__range_s": "60", "__range_ms": "60000",
	}
	// Rates over 4s need several scrapes of the demo.
	scrapes := fmt.Sprintf(`count_over_time(up{job=%q, instance=%q}[1m]) >= 6`, jobName, demoAddr)
	eventually(t, startTimeout, "six scrapes of the demo", func() (bool, string) {
		n, err := prom.query(scrapes)
		if err != nil {
			return false, err.Error()
		}
		return n > 0, "fewer scrapes so far"
	})

	seen := map[string]bool{}
	for _, q := range queries {
		key := q.Dashboard + "/" + q.Panel + "/" + q.RefID
		seen[key] = true
		expr := dashboards.Expand(q.Expr, vars)
		if strings.Contains(expr, "$") {
			t.Errorf("%s: a Grafana variable is left in %s", key, expr)
			continue
		}
		n, err := prom.query(expr)
		if err != nil {
			t.Errorf("%s: %v\nquery: %s", key, err, expr)
			continue
		}
		reason, noData := noDataWithDemo[key]
		switch {
		case noData && n > 0:
			t.Errorf("%s returns data now; remove it from noDataWithDemo (%s)", key, reason)
		case !noData && n == 0:
			t.Errorf("%s returns no data\nquery: %s", key, expr)
		}
	}
	for key := range noDataWithDemo {
		if !seen[key] {
			t.Errorf("noDataWithDemo lists %s, which no dashboard has", key)
		}
	}
}

// server is a Prometheus or Alertmanager the test runs.
type server struct {
	addr string
}

// query runs an instant query at the current time and returns how many
// series (or, for a scalar or string, values) it gave.
func (s *server) query(expr string) (int, error) {
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.api("/api/v1/query", url.Values{"query": {expr}}, &r); err != nil {
		return 0, err
	}
	switch r.ResultType {
	case "scalar", "string":
		return 1, nil
	}
	var series []json.RawMessage
	if err := json.Unmarshal(r.Result, &series); err != nil {
		return 0, fmt.Errorf("result of type %q: %v", r.ResultType, err)
	}
	return len(series), nil
}

// api GETs a Prometheus API path and decodes its data into out; an answer
// other than success is an error.
func (s *server) api(path string, params url.Values, out any) error {
	u := "http://" + s.addr + path
	if params != nil {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: status %d: %v: %.200s", path, resp.StatusCode, err, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	if len(env.Warnings) > 0 {
		return fmt.Errorf("%s: warnings: %v", path, env.Warnings)
	}
	return json.Unmarshal(env.Data, out)
}

// startPrometheus runs Prometheus scraping targets every second, with the
// project's rules (their for: durations cut to 0s) and am as Alertmanager.
func startPrometheus(t *testing.T, bin, dir string, am *server, targets []string) *server {
	t.Helper()
	rulesFile := filepath.Join(dir, alerts.RulesFile)
	if err := os.WriteFile(rulesFile, rulesWithoutFor(t, alerts.Source()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     "1s",
			"scrape_timeout":      "1s",
			"evaluation_interval": "1s",
		},
		"rule_files": []string{rulesFile},
		"alerting": map[string]any{
			"alertmanagers": []any{map[string]any{
				"static_configs": []any{map[string]any{"targets": []string{am.addr}}},
			}},
		},
		"scrape_configs": []any{map[string]any{
			"job_name":       jobName,
			"static_configs": []any{map[string]any{"targets": targets}},
		}},
	}
	return startPrometheusConfig(t, bin, dir, cfg)
}

// startAlertmanager runs Alertmanager alone (no cluster), notifying the
// webhook at hookURL about a second after an alert arrives.
func startAlertmanager(t *testing.T, bin, dir, hookURL string) *server {
	t.Helper()
	cfg := map[string]any{
		"route": map[string]any{
			"receiver":        "test",
			"group_by":        []string{"alertname", "account"},
			"group_wait":      "1s",
			"group_interval":  "1s",
			"repeat_interval": "1h",
		},
		"receivers": []any{map[string]any{
			"name":            "test",
			"webhook_configs": []any{map[string]any{"url": hookURL, "send_resolved": false}},
		}},
	}
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	writeYAML(t, cfgFile, cfg)
	addr := freeAddr(t)
	startProgram(t, "alertmanager", addr, bin,
		"--config.file="+cfgFile,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
	)
	return &server{addr: addr}
}

// rulesWithoutFor returns the rules file with every for: set to 0s, so
// that alerts fire at their first evaluation; the expressions stay as they
// are.
func rulesWithoutFor(t *testing.T, src []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	groups, _ := doc["groups"].([]any)
	changed := 0
	for _, g := range groups {
		gm, _ := g.(map[any]any)
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[any]any)
			if _, ok := rm["for"]; ok {
				rm["for"] = "0s"
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatal("no rule has a for: duration to cut; has the rules file's layout changed?")
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startProgram runs bin with args, waits until it answers /-/ready on
// addr, and stops it when the test ends. Its output is logged if the test
// fails.
func startProgram(t *testing.T, name, addr, bin string, args ...string) {
	t.Helper()
	p := startProcess(t, name, nil, bin, args...)
	logOnFailure(t, name, p.logs)
	p.waitReady(t, http.DefaultClient, "http://"+addr+"/-/ready", startTimeout, func(r *http.Response) bool { return r.StatusCode == http.StatusOK })
}

// logOnFailure logs a process's output when the test has failed, so that
// its own account of the failure is at hand.
func logOnFailure(t *testing.T, name string, logs *testlog.Buffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs)
		}
	})
}

// eventually polls cond until it holds, and fails the test with cond's
// last message when timeout passes first.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (ok bool, msg string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("waiting for %s: gave up after %v: %s", what, timeout, msg)
		case <-tick.C:
		}
	}
}

// webhook is an Alertmanager webhook receiver that keeps what it receives.
type webhook struct {
	*httptest.Server
	mu     sync.Mutex
	alerts []webhookAlert
	bodies []string
}

type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var msg struct {
			Version string         `json:"version"`
			Alerts  []webhookAlert `json:"alerts"`
		}
		if err := json.Unmarshal(b, &msg); err != nil || msg.Version != "4" {
			http.Error(w, "not an Alertmanager webhook message, version 4", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bodies = append(h.bodies, string(b))
		h.alerts = append(h.alerts, msg.Alerts...)
	}))
	t.Cleanup(h.Close)
	return h
}

// find returns the first alert received with that name and account.
func (h *webhook) find(alert, account string) (webhookAlert, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.IndexFunc(h.alerts, func(a webhookAlert) bool {
		return a.Labels["alertname"] == alert && a.Labels["account"] == account
	})
	if i < 0 {
		return webhookAlert{}, false
	}
	return h.alerts[i], true
}

// summary lists the alerts received, for a failure message.
func (h *webhook) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, a := range h.alerts {
		names = append(names, a.Labels["alertname"]+"{account="+a.Labels["account"]+"}")
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

func (h *webhook) raw() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.bodies, "\n")
}
