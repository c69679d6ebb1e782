package promqlnames

import (
	"fmt"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Family is a metric family as the Prometheus text format and client_golang
// name it: a counter with its _total.
type Family struct {
	Name string
	Type dto.MetricType
}

// KnownClashes are pairs of families that share an OpenMetrics name and
// that the exporter serves anyway because they are not its own: the Go
// collector of client_golang exposes both go_memstats_alloc_bytes and
// go_memstats_alloc_bytes_total (client_golang issue 829).
var KnownClashes = [][2]string{
	{"go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total"},
}

// reservedSuffixes are the endings OpenMetrics gives to the samples of a
// family. A tool that maps samples back to families strips them, so a
// family whose own name ends in one claims the stripped name as well.
var reservedSuffixes = []string{"_total", "_created", "_info", "_bucket", "_count", "_sum", "_gcount", "_gsum"}

// OpenMetricsName is the name of f's family in OpenMetrics 1.0: a counter's
// name without its _total.
func OpenMetricsName(f Family) string {
	if f.Type == dto.MetricType_COUNTER {
		return strings.TrimSuffix(f.Name, "_total")
	}
	return f.Name
}

// claims are the names f takes in an OpenMetrics exposition: its family
// name, the names of its samples (_created included, which OpenMetrics
// allows on counters, histograms and summaries) and the family a
// suffix-stripping reader would file it under.
func claims(f Family) []string {
	name := OpenMetricsName(f)
	out := []string{name}
	var suffixes []string
	switch f.Type {
	case dto.MetricType_COUNTER:
		suffixes = []string{"_total", "_created"}
	case dto.MetricType_HISTOGRAM:
		suffixes = []string{"_bucket", "_count", "_sum", "_created"}
	case dto.MetricType_SUMMARY:
		suffixes = []string{"_count", "_sum", "_created"}
	case dto.MetricType_GAUGE_HISTOGRAM:
		suffixes = []string{"_bucket", "_gcount", "_gsum"}
	}
	for _, s := range suffixes {
		out = append(out, name+s)
	}
	for _, s := range reservedSuffixes {
		if base, ok := strings.CutSuffix(name, s); ok && base != "" {
			out = append(out, base)
		}
	}
	return out
}

// OpenMetricsClashes describes every pair of fams that would share a name
// in OpenMetrics 1.0, where a family's name and its samples' names must
// belong to it alone: a gauge X beside a counter X_total, a gauge
// X_count beside a histogram X, a gauge X_created beside a counter X, and
// so on. Pairs in KnownClashes are left out. A family listed twice under
// one name is a clash too.
func OpenMetricsClashes(fams []Family) []string {
	owner := map[string]int{} // claimed name -> index in fams
	var out []string
	reported := map[[2]int]bool{}
	for i, f := range fams {
		for _, c := range claims(f) {
			j, taken := owner[c]
			if !taken {
				owner[c] = i
				continue
			}
			if j == i || reported[[2]int{j, i}] || known(fams[j].Name, f.Name) {
				continue
			}
			reported[[2]int{j, i}] = true
			out = append(out, fmt.Sprintf("%s (%s) and %s (%s) both claim the OpenMetrics name %s",
				fams[j].Name, typeName(fams[j].Type), f.Name, typeName(f.Type), c))
		}
	}
	return out
}

func known(a, b string) bool {
	return slices.ContainsFunc(KnownClashes, func(p [2]string) bool {
		return p == [2]string{a, b} || p == [2]string{b, a}
	})
}

func typeName(t dto.MetricType) string { return strings.ToLower(t.String()) }
