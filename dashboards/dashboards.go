// Package dashboards ships the Grafana dashboards for the exporter as JSON
// files that import and provision as they are. It gives tests the PromQL of
// every panel, and a way to turn Grafana's variables into values, so that the
// queries can be checked against the metrics the exporter really exposes.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
)

//go:embed *.json
var files embed.FS

// Files returns the dashboards' file names, sorted.
func Files() []string {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	sort.Strings(names)
	return names
}

// Source returns the JSON of the dashboard file name.
func Source(name string) ([]byte, error) { return files.ReadFile(name) }

// Query is the PromQL of one panel target.
type Query struct {
	Dashboard string // file name
	Panel     string // panel title
	RefID     string
	Expr      string
}

type dashboard struct {
	Panels []panel `json:"panels"`
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row holds its panels
}

// Queries returns the expression of every panel target of every dashboard,
// in file and panel order.
func Queries() ([]Query, error) {
	var out []Query
	for _, name := range Files() {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					out = append(out, Query{Dashboard: name, Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
	}
	return out, nil
}

// defaults are the values Expand gives Grafana's variables that vars does
// not set: short built-in intervals, and ".+", the value of All, for the
// dashboards' own job, instance and account variables, which the queries
// match with =~.
var defaults = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
	"job":             ".+",
	"instance":        ".+",
	"account":         ".+",
	"datasource":      "prometheus",
}

var variableRE = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[^}]*)?\}|([A-Za-z0-9_]+))`)

// Expand replaces the Grafana variables in expr ($name, ${name} and
// ${name:format}) with their values from vars. Variables vars does not set
// take defaults that make the expression runnable: $__rate_interval and
// $__interval become 1m, $__range 1h (and $__range_s, $__range_ms alike),
// $job, $instance and $account ".+" (what All selects), and $datasource
// "prometheus". Any other variable is left as it is, so that a check can
// notice it.
func Expand(expr string, vars map[string]string) string {
	return variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := defaults[name]; ok {
			return v
		}
		return m
	})
}
