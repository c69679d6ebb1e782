// Package exposition flattens Prometheus metric families into one entry
// per series, so that tests can look a series up by name and labels and
// compare scrapes.
package exposition

import (
	"fmt"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Series are one scrape's metrics, keyed as Key writes them.
type Series map[string]*dto.Metric

// Key names a series as the text format does, labels sorted:
// name{a="x",b="y"}, or name{} without labels.
func Key(name string, m *dto.Metric) string {
	labels := make([]string, 0, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// Flatten keys every series of mfs.
func Flatten(mfs []*dto.MetricFamily) Series {
	out := Series{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[Key(mf.GetName(), m)] = m
		}
	}
	return out
}

// Parse reads an exposition in the text format.
func Parse(text string) (Series, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing the exposition: %w", err)
	}
	out := Series{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[Key(name, m)] = m
		}
	}
	return out, nil
}

// Value is a gauge's, counter's or untyped metric's value, a histogram's
// sample count, or 0 for a missing series.
func Value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return 0
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// Values maps each series to its Value.
func (s Series) Values() map[string]float64 {
	out := make(map[string]float64, len(s))
	for k, m := range s {
		out[k] = Value(m)
	}
	return out
}

// Value is the Value of the series key.
func (s Series) Value(key string) float64 { return Value(s[key]) }

// Sum adds the Values of the series of the metric name.
func (s Series) Sum(name string) float64 {
	var v float64
	for k, m := range s {
		if Name(k) == name {
			v += Value(m)
		}
	}
	return v
}

// Name is the metric name of a key.
func Name(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		return key[:i]
	}
	return key
}
