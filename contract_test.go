package main

import (
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
