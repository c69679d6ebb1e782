package collector_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/b2see-exporter/b2see_exporter/collector"
	"github.com/b2see-exporter/b2see_exporter/internal/promqlnames"
)

// descName takes the name out of a descriptor's String, the only place
// client_golang shows it.
var descName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// TestDescriptorsOpenMetricsSafe requires that no two families the
// collector declares share a name in OpenMetrics 1.0. Each descriptor's
// type comes from a scrape of an account with every feature on, which
// must therefore emit them all.
func TestDescriptorsOpenMetricsSafe(t *testing.T) {
	e := newFaultEnv(t)
	e.good(t)
	c := collector.New(context.Background(), []*collector.Account{e.acc}, 1)

	descs := make(chan *prometheus.Desc)
	go func() { c.Describe(descs); close(descs) }()
	var declared []string
	for d := range descs {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		declared = append(declared, m[1])
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]dto.MetricType{}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
	}
	var fams []promqlnames.Family
	for _, name := range declared {
		typ, ok := types[name]
		if !ok {
			t.Errorf("%s is declared but the scrape emitted none: the test cannot tell its type", name)
			continue
		}
		fams = append(fams, promqlnames.Family{Name: name, Type: typ})
	}
	if len(fams) < 30 {
		t.Fatalf("only %d families declared and emitted", len(fams))
	}
	for _, c := range promqlnames.OpenMetricsClashes(fams) {
		t.Error(c)
	}
}
