package e2e

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/b2see-exporter/b2see_exporter/alerts"
	"github.com/b2see-exporter/b2see_exporter/dashboards"
	"github.com/b2see-exporter/b2see_exporter/internal/promqlnames"
)

// seriesNames returns the series names of an exposition as PromQL sees
// them: a histogram as its _bucket, _sum and _count series, a summary as
// itself with _sum and _count.
func seriesNames(t *testing.T, body string) map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	out := map[string]bool{}
	for name, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}

// TestContractAgainstOutput checks the promised names, and every name the
// dashboards and rules select, against what the demo really exposes.
func TestContractAgainstOutput(t *testing.T) {
	users := map[string][]string{} // name -> what selects or promises it
	add := func(user string, names ...string) {
		for _, n := range names {
			if !slices.Contains(promqlnames.Synthetic, n) {
				users[n] = append(users[n], user)
			}
		}
	}
	add("promqlnames.Contract", promqlnames.Contract...)
	queries, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		add("dashboard "+q.Dashboard+" panel "+q.Panel+" ("+q.RefID+")", promqlnames.Names(q.Expr)...)
	}
	rules, err := alerts.Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		add("rule "+r.Name, promqlnames.Names(r.Expr)...)
	}

	e := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	code, body := e.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics answered %d\nlogs:\n%s", code, e.logs)
	}
	exposed := seriesNames(t, body)

	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !exposed[n] {
			t.Errorf("%s is not in the exporter's output; used by %s", n, strings.Join(users[n], "; "))
		}
	}
}

// renameRow is a row of the renamed-metrics table: `old` | `new`.
var renameRow = regexp.MustCompile("(?m)^\\s*\\| `([a-z0-9_:]+)`[^|]* \\| `([a-z0-9_:]+)` \\|$")

// renameTable returns the rows of the first renamed-metrics table in the
// Markdown file at path, after the line that starts with heading.
func renameTable(t *testing.T, path, heading string) [][2]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), heading)
	if !ok {
		t.Fatalf("%s: no %q", path, heading)
	}
	var rows [][2]string
	for _, line := range strings.SplitAfter(rest, "\n") {
		m := renameRow.FindStringSubmatch(strings.TrimRight(line, "\n"))
		switch {
		case m != nil:
			rows = append(rows, [2]string{m[1], m[2]})
		case len(rows) > 0 && !strings.Contains(line, "|"):
			return rows // the end of the table
		}
	}
	return rows
}

// TestRenameTables checks that the README and the CHANGELOG give the same
// table of renamed metrics, that it lists every window gauge, and that no
// old name is left in the output, the dashboards or the rules.
func TestRenameTables(t *testing.T) {
	readme := renameTable(t, "../README.md", "### Renamed metrics")
	changelog := renameTable(t, "../CHANGELOG.md", "- **Renamed metrics.**")
	if !slices.Equal(readme, changelog) {
		t.Errorf("README and CHANGELOG tables differ:\n%v\n%v", readme, changelog)
	}

	rules, err := alerts.Rules()
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	used := map[string]bool{}
	for _, r := range rules {
		recorded[r.Name] = r.Record
		for _, n := range promqlnames.Names(r.Expr) {
			used[n] = true
		}
	}
	queries, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		for _, n := range promqlnames.Names(q.Expr) {
			used[n] = true
		}
	}
	e := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	_, body := e.get(t, "/metrics")
	exposed := map[string]bool{}
	for n := range seriesNames(t, body) {
		exposed[strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count")] = true
	}

	renamed := map[string]bool{}
	for _, r := range readme {
		oldName, newName := r[0], r[1]
		if strings.Contains(oldName, ":") {
			if !recorded[newName] || recorded[oldName] {
				t.Errorf("recording rule %s → %s: the rules file has the new one %v, the old %v", oldName, newName, recorded[newName], recorded[oldName])
			}
			continue
		}
		renamed[newName] = true
		if !exposed[newName] || exposed[oldName] {
			t.Errorf("%s → %s: the exporter serves the new one %v, the old %v", oldName, newName, exposed[newName], exposed[oldName])
		}
		if used[oldName] || slices.Contains(promqlnames.Contract, oldName) {
			t.Errorf("%s is still used by a dashboard, a rule or the contract", oldName)
		}
	}
	for _, n := range promqlnames.Contract {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(n, "b2see_window_") && !renamed[base] {
			t.Errorf("the rename table lacks the window gauge %s", base)
		}
	}
}
