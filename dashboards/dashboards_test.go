package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
	"github.com/b2see-exporter/b2see_exporter/internal/promqlnames"
)

const dsRef = "${datasource}"

type object = map[string]any

func load(t *testing.T) map[string]object {
	t.Helper()
	files := Files()
	if len(files) < 2 {
		t.Fatalf("found %d dashboards, want the engagement and operations boards", len(files))
	}
	out := map[string]object{}
	for _, name := range files {
		data, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		var d object
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = d
	}
	return out
}

func list(v any) []object {
	items, _ := v.([]any)
	var out []object
	for _, it := range items {
		if o, ok := it.(object); ok {
			out = append(out, o)
		}
	}
	return out
}

// allPanels returns every panel, rows included, with the panels of
// collapsed rows.
func allPanels(d object) []object {
	var out []object
	for _, p := range list(d["panels"]) {
		out = append(out, p)
		out = append(out, list(p["panels"])...)
	}
	return out
}

func isRow(p object) bool { return p["type"] == "row" }

func str(v any) string { s, _ := v.(string); return s }

func TestDashboard(t *testing.T) {
	for name, d := range load(t) {
		t.Run(name, func(t *testing.T) {
			if id, ok := d["id"]; !ok || id != nil {
				t.Errorf("id = %v, want null so that import and provisioning assign one", id)
			}
			// The uid is what links and provisioning refer to: tie it to
			// the file name so it cannot change unnoticed.
			if got, want := str(d["uid"]), strings.TrimSuffix(name, ".json"); got != want {
				t.Errorf("uid = %q, want %q", got, want)
			}
			if v, _ := d["schemaVersion"].(float64); v < 36 {
				t.Errorf("schemaVersion = %v, want 36 or later", d["schemaVersion"])
			}
			if str(d["title"]) == "" {
				t.Error("no title")
			}
		})
	}
}

func TestVariables(t *testing.T) {
	for name, d := range load(t) {
		t.Run(name, func(t *testing.T) {
			vars := map[string]object{}
			for _, v := range list(object(d["templating"].(object))["list"]) {
				vars[str(v["name"])] = v
			}
			ds := vars["datasource"]
			if ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
				t.Errorf("datasource variable = %v, want type datasource, query prometheus", ds)
			}
			tests := []struct {
				name    string
				filters []string
				multi   bool
			}{
				{"job", nil, true},
				{"instance", []string{`job=~"$job"`}, true},
				{"account", []string{`job=~"$job"`, `instance=~"$instance"`}, true},
			}
			for _, tt := range tests {
				v := vars[tt.name]
				if v == nil {
					t.Errorf("variable %s missing", tt.name)
					continue
				}
				if v["type"] != "query" {
					t.Errorf("variable %s: type %v, want query", tt.name, v["type"])
				}
				if dsOf(v) != dsRef {
					t.Errorf("variable %s: datasource %v, want %s", tt.name, v["datasource"], dsRef)
				}
				q := variableQuery(v)
				if !strings.HasPrefix(q, "label_values(b2see_up") || !strings.HasSuffix(q, ", "+tt.name+")") {
					t.Errorf("variable %s: query %q, want label_values(b2see_up..., %s)", tt.name, q, tt.name)
				}
				for _, f := range tt.filters {
					if !strings.Contains(q, f) {
						t.Errorf("variable %s: query %q does not filter by %s", tt.name, q, f)
					}
				}
				if tt.multi && (v["multi"] != true || v["includeAll"] != true) {
					t.Errorf("variable %s: want multi-value with All", tt.name)
				}
				if v["includeAll"] == true && v["allValue"] != ".+" {
					t.Errorf("variable %s: allValue %v, want .+ so All stays a short regex", tt.name, v["allValue"])
				}
			}
		})
	}
}

func variableQuery(v object) string {
	if q, ok := v["query"].(object); ok {
		return str(q["query"])
	}
	return str(v["query"])
}

func dsOf(o object) string {
	ds, ok := o["datasource"].(object)
	if !ok || ds["type"] != "prometheus" {
		return ""
	}
	return str(ds["uid"])
}

// TestDatasources requires every panel and target to use the datasource
// variable, and finds any hard-coded datasource anywhere in the JSON.
func TestDatasources(t *testing.T) {
	for name, d := range load(t) {
		t.Run(name, func(t *testing.T) {
			for _, p := range allPanels(d) {
				if isRow(p) {
					continue
				}
				if got := dsOf(p); got != dsRef {
					t.Errorf("panel %q: datasource %v, want prometheus %s", p["title"], p["datasource"], dsRef)
				}
				for _, tg := range list(p["targets"]) {
					if got := dsOf(tg); got != dsRef {
						t.Errorf("panel %q target %v: datasource %v, want prometheus %s", p["title"], tg["refId"], tg["datasource"], dsRef)
					}
				}
			}
			walk(d, "", func(path string, key string, v any) {
				if key != "datasource" {
					return
				}
				switch ds := v.(type) {
				case string:
					t.Errorf("%s: datasource named %q, want a {type, uid} reference to %s", path, ds, dsRef)
				case object:
					// The built-in annotation query is Grafana's own.
					if ds["type"] == "grafana" && ds["uid"] == "-- Grafana --" {
						return
					}
					if ds["uid"] != dsRef {
						t.Errorf("%s: datasource uid %v, want %s", path, ds["uid"], dsRef)
					}
				}
			})
		})
	}
}

func walk(v any, path string, fn func(path, key string, v any)) {
	switch x := v.(type) {
	case object:
		for k, c := range x {
			fn(path, k, c)
			walk(c, path+"."+k, fn)
		}
	case []any:
		for i, c := range x {
			walk(c, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

func TestPanels(t *testing.T) {
	type rect struct{ x, y, w, h int }
	for name, d := range load(t) {
		t.Run(name, func(t *testing.T) {
			ids := map[float64]string{}
			var placed []rect
			var titles []string
			for _, p := range allPanels(d) {
				title := str(p["title"])
				id, ok := p["id"].(float64)
				if !ok {
					t.Errorf("panel %q: no id", title)
				} else if other, dup := ids[id]; dup {
					t.Errorf("panels %q and %q share id %v", other, title, id)
				} else {
					ids[id] = title
				}
				g, ok := p["gridPos"].(object)
				if !ok {
					t.Errorf("panel %q: no gridPos", title)
					continue
				}
				n := func(k string) int { f, _ := g[k].(float64); return int(f) }
				r := rect{n("x"), n("y"), n("w"), n("h")}
				if r.w <= 0 || r.h <= 0 || r.x < 0 || r.x+r.w > 24 {
					t.Errorf("panel %q: gridPos %v outside the 24-column grid", title, g)
				}
				for i, o := range placed {
					if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
						t.Errorf("panel %q overlaps panel %q", title, titles[i])
					}
				}
				placed = append(placed, r)
				titles = append(titles, title)
				if isRow(p) {
					continue
				}
				if strings.TrimSpace(str(p["description"])) == "" {
					t.Errorf("panel %q: no description", title)
				}
				fc, _ := p["fieldConfig"].(object)
				defaults, _ := fc["defaults"].(object)
				if str(defaults["unit"]) == "" {
					t.Errorf("panel %q: no fieldConfig.defaults.unit", title)
				}
				if len(list(p["targets"])) == 0 {
					t.Errorf("panel %q: no targets", title)
				}
			}
		})
	}
}

var rangeRE = regexp.MustCompile(`\[([^\]]*)\]`)

// TestRanges requires range vectors to follow Grafana's interval variables.
// A [1d] range is allowed where a panel shows values per day, provided the
// panel's description says so.
func TestRanges(t *testing.T) {
	for name, d := range load(t) {
		for _, p := range allPanels(d) {
			for _, tg := range list(p["targets"]) {
				expr := str(tg["expr"])
				for _, m := range rangeRE.FindAllStringSubmatch(expr, -1) {
					switch r := m[1]; r {
					case "$__rate_interval", "${__rate_interval}", "$__range", "${__range}":
					case "1d":
						if !strings.Contains(str(p["description"]), "[1d]") {
							t.Errorf("%s panel %q: [1d] range without saying why in the description", name, p["title"])
						}
					default:
						t.Errorf("%s panel %q: range [%s], want [$__rate_interval] or [$__range]", name, p["title"], r)
					}
				}
			}
		}
	}
}

// exporterLevel are the series without an account label: they describe the
// exporter process or its target, not one B2see account.
var exporterLevel = map[string]bool{
	"up":                                  true,
	"b2see_exporter_build_info":           true,
	"b2see_config_last_reload_successful": true,
	"b2see_config_last_reload_success_timestamp_seconds": true,
	"b2see_state_last_save_timestamp_seconds":            true,
	"b2see_state_last_save_successful":                   true,
	"b2see_state_save_failures_total":                    true,
}

// TestSelectors requires every selector to follow the dashboard's
// variables, so that picking a job, instance or account narrows every panel.
func TestSelectors(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		for _, name := range promqlnames.Names(q.Expr) {
			want := []string{`job=~"$job"`, `instance=~"$instance"`}
			if !exporterLevel[name] && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "go_") {
				want = append(want, `account=~"$account"`)
			}
			for _, sel := range selectors(q.Expr, name) {
				for _, w := range want {
					if !strings.Contains(sel, w) {
						t.Errorf("%s panel %q %s: selector %s%s lacks %s", q.Dashboard, q.Panel, q.RefID, name, sel, w)
					}
				}
			}
		}
	}
}

// selectors returns the label matchers ("{...}", or "" when there are none)
// of each place expr selects name.
func selectors(expr, name string) []string {
	re := regexp.MustCompile(`(?:^|[^A-Za-z0-9_:$])` + regexp.QuoteMeta(name) + `(\{[^}]*\})?(?:[^A-Za-z0-9_:{]|$)`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestSelectorsHelper(t *testing.T) {
	tests := []struct {
		expr, name string
		want       []string
	}{
		{`b2see_up{a="1"} + b2see_upstream_requests_total{b="2"}`, "b2see_up", []string{`{a="1"}`}},
		{`sum(b2see_up) / b2see_up{x="y"}`, "b2see_up", []string{"", `{x="y"}`}},
		{`rate(up[5m])`, "up", []string{""}},
	}
	for _, tt := range tests {
		got := selectors(tt.expr, tt.name)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("selectors(%q, %q) = %q, want %q", tt.expr, tt.name, got, tt.want)
		}
	}
}

// TestContract checks the panels and variables select only series the
// exporter promises to expose.
func TestContract(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range load(t) {
		for _, v := range list(object(d["templating"].(object))["list"]) {
			qs = append(qs, Query{Dashboard: name, Panel: "variable " + str(v["name"]), Expr: variableQuery(v)})
		}
	}
	for _, q := range qs {
		names := promqlnames.Names(q.Expr)
		if len(names) == 0 && !strings.HasPrefix(q.Panel, "variable ") {
			t.Errorf("%s panel %q %s selects no known metric: %s", q.Dashboard, q.Panel, q.RefID, q.Expr)
		}
		for _, n := range names {
			if !promqlnames.Allowed(n) {
				t.Errorf("%s panel %q %s uses %s, which is not in the metric contract", q.Dashboard, q.Panel, q.RefID, n)
			}
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		name string
		expr string
		vars map[string]string
		want string
	}{
		{"defaults", `rate(x{job=~"$job",account=~"${account}"}[$__rate_interval])`, nil, `rate(x{job=~".+",account=~".+"}[1m])`},
		{"given values win", `x{instance=~"$instance"}[$__range]`, map[string]string{"instance": "127.0.0.1:9899", "__range": "6h"}, `x{instance=~"127.0.0.1:9899"}[6h]`},
		{"longest name", `$__range_s + $__range`, nil, `3600 + 1h`},
		{"format suffix", `x{account=~"${account:regex}"}`, map[string]string{"account": "a|b"}, `x{account=~"a|b"}`},
		{"unknown left alone", `x[$unknown] + $__interval`, nil, `x[$unknown] + 1m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expand(tt.expr, tt.vars); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// TestPromQL has promtool parse every expanded query, by checking a rules
// file that records each one.
func TestPromQL(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboards\n    rules:\n")
	for i, q := range qs {
		e := Expand(q.Expr, nil)
		if strings.Contains(e, "$") {
			t.Errorf("%s panel %q %s: unknown variable left in %s", q.Dashboard, q.Panel, q.RefID, e)
		}
		quoted, err := json.Marshal(e) // a JSON string is a YAML string
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "      # %s / %s / %s\n      - record: dashboard:query:%d\n        expr: %s\n", q.Dashboard, q.Panel, q.RefID, i, quoted)
	}
	path := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range progtest.Prometheuses {
		t.Run(p.Name, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), p.Promtool(t), "check", "rules", path).CombinedOutput()
			if err != nil {
				t.Errorf("promtool check rules: %v\n%s", err, out)
			}
		})
	}
}
