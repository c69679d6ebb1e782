package alerts

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
	"github.com/b2see-exporter/b2see_exporter/internal/promqlnames"
)

const (
	testsFile   = "b2see.rules.test.yml"
	runbookFile = "RUNBOOK.md"
	runbookURL  = "https://github.com/b2see-exporter/b2see_exporter/blob/main/alerts/" + runbookFile
)

// TestPromtool checks the rules and runs their unit tests with the
// promtool of every supported Prometheus: evaluation details, such as
// which samples a range holds, differ between 2.x and 3.x.
func TestPromtool(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"check rules", []string{"check", "rules", RulesFile}},
		{"test rules", []string{"test", "rules", testsFile}},
	}
	for _, p := range progtest.Prometheuses {
		t.Run(p.Name, func(t *testing.T) {
			promtool := p.Promtool(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					out, err := exec.CommandContext(t.Context(), promtool, tt.args...).CombinedOutput()
					if err != nil {
						t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
					}
				})
			}
		})
	}
}

// TestEmbedded guards against the embedded copy and the file on disk (which
// promtool tests) drifting apart.
func TestEmbedded(t *testing.T) {
	disk, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, Source()) {
		t.Errorf("embedded rules differ from %s", RulesFile)
	}
}

func mustRules(t *testing.T) []Rule {
	t.Helper()
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestRequiredAlerts(t *testing.T) {
	have := map[string]bool{}
	for _, r := range mustRules(t) {
		if !r.Record {
			have[r.Name] = true
		}
	}
	for _, name := range []string{
		"B2seeExporterDown",
		"B2seeAPIDown",
		"B2seeUpstreamErrors",
		"B2seeRateLimited",
		"B2seeBatchFailures",
		"B2seeBatchesTimedOut",
		"B2seeStaleData",
		"B2seeStateSaveFailing",
	} {
		if !have[name] {
			t.Errorf("alert %s missing", name)
		}
	}
}

var recordingName = regexp.MustCompile(`^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$`)

func TestRuleNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range mustRules(t) {
		if seen[r.Name] {
			t.Errorf("%s defined twice", r.Name)
		}
		seen[r.Name] = true
		if r.Record && !recordingName.MatchString(r.Name) {
			t.Errorf("recording rule %s does not follow level:metric:operations", r.Name)
		}
	}
}

// TestContract checks that the rules select only series the exporter
// promises to expose.
func TestContract(t *testing.T) {
	for _, r := range mustRules(t) {
		names := promqlnames.Names(r.Expr)
		for _, n := range names {
			if !promqlnames.Allowed(n) {
				t.Errorf("%s uses %s, which is not in the metric contract", r.Name, n)
			}
		}
	}
}

func TestAnnotations(t *testing.T) {
	sections := runbookSections(t)
	for _, r := range mustRules(t) {
		if r.Record {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			switch s := r.Labels["severity"]; s {
			case "critical", "warning", "info":
			default:
				t.Errorf("severity %q, want critical, warning or info", s)
			}
			for _, key := range []string{"summary", "description"} {
				a := r.Annotations[key]
				if strings.TrimSpace(a) == "" {
					t.Errorf("annotation %s missing", key)
				} else if !strings.Contains(a, "$labels.") {
					t.Errorf("annotation %s %q does not name the affected target or account", key, a)
				}
			}
			anchor := slug(r.Name)
			if got, want := r.Annotations["runbook_url"], runbookURL+"#"+anchor; got != want {
				t.Errorf("runbook_url = %q, want %q", got, want)
			}
			if !sections[anchor] {
				t.Errorf("%s has no section %q", runbookFile, "## "+r.Name)
			}
		})
	}
}

// TestRunbookSections finds sections left behind by renamed or removed
// alerts.
func TestRunbookSections(t *testing.T) {
	alerts := map[string]bool{}
	for _, r := range mustRules(t) {
		if !r.Record {
			alerts[slug(r.Name)] = true
		}
	}
	for anchor := range runbookSections(t) {
		if !alerts[anchor] {
			t.Errorf("%s section #%s belongs to no alert", runbookFile, anchor)
		}
	}
}

// runbookSections returns the anchors of the runbook's second-level
// headings.
func runbookSections(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "## "); ok {
			sections[slug(h)] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sections
}

// slug is the anchor GitHub gives a Markdown heading.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"B2seeAPIDown", "b2seeapidown"},
		{"Exporter down (5m)", "exporter-down-5m"},
		{" state_save ", "state_save"},
	}
	for _, tt := range tests {
		if got := slug(tt.in); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type unitTests struct {
	Tests []struct {
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
		AlertRuleTest []struct {
			Alertname string        `yaml:"alertname"`
			ExpAlerts []interface{} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestCoverage requires a unit test for every rule: each alert must be
// seen both firing and not firing, each recording rule must be queried.
func TestCoverage(t *testing.T) {
	data, err := os.ReadFile(testsFile)
	if err != nil {
		t.Fatal(err)
	}
	var u unitTests
	if err := yaml.Unmarshal(data, &u); err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	var exprs []string
	for _, tc := range u.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
		for _, p := range tc.PromQLExprTest {
			exprs = append(exprs, p.Expr)
		}
	}
	for _, r := range mustRules(t) {
		if r.Record {
			if !queried(exprs, r.Name) {
				t.Errorf("recording rule %s: no promql_expr_test", r.Name)
			}
			continue
		}
		if !firing[r.Name] {
			t.Errorf("alert %s: no test where it fires", r.Name)
		}
		if !quiet[r.Name] {
			t.Errorf("alert %s: no test where it stays quiet", r.Name)
		}
	}
}

// queried reports whether one of exprs selects name, as a whole identifier.
func queried(exprs []string, name string) bool {
	re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(name) + `($|[^a-zA-Z0-9_:])`)
	for _, e := range exprs {
		if re.MatchString(e) {
			return true
		}
	}
	return false
}
