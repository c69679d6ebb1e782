package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// The rules of Grafana's dashboard linter, written here because the linter
// pulls in Grafana's own code, which is AGPL. Each rule has the linter's
// name and reads the few fields of a dashboard it needs.

// lintDashboard is what the rules read of a dashboard.
type lintDashboard struct {
	Templating struct {
		List []lintVariable `json:"list"`
	} `json:"templating"`
	Panels []lintPanel `json:"panels"`
}

type lintVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *datasourceRef  `json:"datasource"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": ...}
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

type lintPanel struct {
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []lintPanel `json:"panels"` // a collapsed row's
}

// datasourceRef is a panel's or variable's data source: a {type, uid}
// reference, or, in old dashboards, a name.
type datasourceRef struct {
	Type, UID, Name string
}

func (r *datasourceRef) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.Name); err == nil {
		return nil
	}
	var ref struct{ Type, UID string }
	if err := json.Unmarshal(b, &ref); err != nil {
		return err
	}
	r.Type, r.UID = ref.Type, ref.UID
	return nil
}

// templated says whether a data source is the dashboard's datasource
// variable.
func (r *datasourceRef) templated() bool {
	return r != nil && r.Name == "" && (r.UID == "${datasource}" || r.UID == "$datasource")
}

// rateInterval stands for $__rate_interval in the parsed expressions, so
// that a rule can tell it from any other range.
const rateInterval = 4242424 * time.Millisecond

// lintVars are the values the rules give the variables before parsing: the
// selectors' variables stay as they are written, so that a rule can find
// them in the matchers.
var lintVars = map[string]string{
	"job":             "$job",
	"instance":        "$instance",
	"account":         "$account",
	"__rate_interval": fmt.Sprintf("%dms", rateInterval.Milliseconds()),
}

var promql = parser.NewParser(parser.Options{})

// A rule returns one line per problem it finds.
type rule struct {
	name  string
	check func(d *lintDashboard) []string
}

var rules = []rule{
	{"template-datasource-rule", templateDatasource},
	{"template-job-rule", func(d *lintDashboard) []string { return templateSelector(d, "job") }},
	{"template-instance-rule", func(d *lintDashboard) []string { return templateSelector(d, "instance") }},
	{"template-label-promql-rule", templateLabelPromQL},
	{"panel-datasource-rule", eachPanel(panelDatasource)},
	{"panel-title-description-rule", eachPanel(panelTitleDescription)},
	{"panel-units-rule", eachPanel(panelUnits)},
	{"panel-no-targets-rule", eachPanel(panelNoTargets)},
	{"target-promql-rule", eachExpr(func(parser.Expr) []string { return nil })},
	{"target-rate-interval-rule", eachExpr(targetRateInterval)},
	{"target-job-rule", eachExpr(func(e parser.Expr) []string { return targetSelects(e, "job") })},
	{"target-instance-rule", eachExpr(func(e parser.Expr) []string { return targetSelects(e, "instance") })},
	{"target-counter-agg-rule", eachExpr(targetCounterAgg)},
}

// lint runs every rule over d and returns "rule: problem" lines.
func lint(d *lintDashboard) []string {
	var out []string
	for _, r := range rules {
		for _, p := range r.check(d) {
			out = append(out, r.name+": "+p)
		}
	}
	return out
}

func templateDatasource(d *lintDashboard) []string {
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			return nil
		}
	}
	return []string{`no variable "datasource" of type datasource for Prometheus`}
}

// templateSelector checks the job or instance variable: a query on the
// templated data source, multi-valued, with All meaning ".+".
func templateSelector(d *lintDashboard, name string) []string {
	for _, v := range d.Templating.List {
		if v.Name != name {
			continue
		}
		var out []string
		if v.Type != "query" || !v.Datasource.templated() {
			out = append(out, fmt.Sprintf("variable %s: want a query on the datasource variable", name))
		}
		if !v.Multi || !v.IncludeAll {
			out = append(out, fmt.Sprintf("variable %s: want multi-select with All", name))
		}
		if v.AllValue != ".+" {
			out = append(out, fmt.Sprintf("variable %s: allValue %q, want \".+\"", name, v.AllValue))
		}
		return out
	}
	return []string{fmt.Sprintf("no %s variable", name)}
}

var labelValuesRE = regexp.MustCompile(`^label_values\((?:(.+),\s*)?[A-Za-z_][A-Za-z0-9_]*\)$`)

// templateLabelPromQL checks that each query variable is a label_values()
// whose selector parses.
func templateLabelPromQL(d *lintDashboard) []string {
	var out []string
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := variableQueryText(v.Query)
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			out = append(out, fmt.Sprintf("variable %s: query %q is not label_values(selector, label)", v.Name, q))
			continue
		}
		if m[1] == "" {
			continue
		}
		if _, err := promql.ParseExpr(Expand(m[1], lintVars)); err != nil {
			out = append(out, fmt.Sprintf("variable %s: %v", v.Name, err))
		}
	}
	return out
}

func variableQueryText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var q struct{ Query string }
	json.Unmarshal(raw, &q)
	return q.Query
}

// eachPanel applies a check to every panel that is not a row, those of
// collapsed rows included.
func eachPanel(check func(p *lintPanel) []string) func(*lintDashboard) []string {
	return func(d *lintDashboard) []string {
		var out []string
		var walk func([]lintPanel)
		walk = func(ps []lintPanel) {
			for i := range ps {
				if ps[i].Type != "row" {
					for _, problem := range check(&ps[i]) {
						out = append(out, fmt.Sprintf("panel %q: %s", ps[i].Title, problem))
					}
				}
				walk(ps[i].Panels)
			}
		}
		walk(d.Panels)
		return out
	}
}

func panelDatasource(p *lintPanel) []string {
	var out []string
	if !p.Datasource.templated() {
		out = append(out, fmt.Sprintf("data source %+v, want the datasource variable", p.Datasource))
	}
	for _, t := range p.Targets {
		if t.Datasource != nil && !t.Datasource.templated() {
			out = append(out, fmt.Sprintf("target %s: data source %+v, want the datasource variable", t.RefID, t.Datasource))
		}
	}
	return out
}

func panelTitleDescription(p *lintPanel) []string {
	if strings.TrimSpace(p.Title) == "" || strings.TrimSpace(p.Description) == "" {
		return []string{"want a title and a description"}
	}
	return nil
}

func panelUnits(p *lintPanel) []string {
	if p.FieldConfig.Defaults.Unit == "" {
		return []string{"no unit in fieldConfig.defaults"}
	}
	return nil
}

func panelNoTargets(p *lintPanel) []string {
	if len(p.Targets) == 0 {
		return []string{"no targets"}
	}
	return nil
}

// eachExpr parses every target's expression with the variables expanded,
// reports those that do not parse, and applies check to the others.
func eachExpr(check func(parser.Expr) []string) func(*lintDashboard) []string {
	return eachPanel(func(p *lintPanel) []string {
		var out []string
		for _, t := range p.Targets {
			e, err := promql.ParseExpr(Expand(t.Expr, lintVars))
			if err != nil {
				out = append(out, fmt.Sprintf("target %s does not parse: %v", t.RefID, err))
				continue
			}
			for _, problem := range check(e) {
				out = append(out, fmt.Sprintf("target %s: %s", t.RefID, problem))
			}
		}
		return out
	})
}

// targetRateInterval wants rate and irate over $__rate_interval, which
// Grafana keeps at least four scrape intervals long.
func targetRateInterval(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		call, ok := n.(*parser.Call)
		if !ok || (call.Func.Name != "rate" && call.Func.Name != "irate") {
			return nil
		}
		if m, ok := call.Args[0].(*parser.MatrixSelector); !ok || m.Range != rateInterval || m.RangeExpr != nil {
			out = append(out, fmt.Sprintf("%s, want %s(...[$__rate_interval])", call, call.Func.Name))
		}
		return nil
	})
	return out
}

// targetSelects wants every selector to match label with the dashboard's
// variable of that name.
func targetSelects(e parser.Expr, label string) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
			return m.Name == label && m.Type == labels.MatchRegexp && m.Value == "$"+label
		}) {
			out = append(out, fmt.Sprintf("%s lacks %s=~\"$%s\"", vs, label, label))
		}
		return nil
	})
	return out
}

// targetCounterAgg wants every counter (a _total series) inside rate,
// irate or increase: a counter's raw value means nothing across restarts.
func targetCounterAgg(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || !strings.HasSuffix(vs.Name, "_total") {
			return nil
		}
		inRate := len(path) >= 2
		if inRate {
			_, isMatrix := path[len(path)-1].(*parser.MatrixSelector)
			call, isCall := path[len(path)-2].(*parser.Call)
			inRate = isMatrix && isCall && slices.Contains([]string{"rate", "irate", "increase"}, call.Func.Name)
		}
		if !inRate {
			out = append(out, fmt.Sprintf("counter %s outside rate(), irate() or increase()", vs.Name))
		}
		return nil
	})
	return out
}

func decodeLint(t *testing.T, data []byte) *lintDashboard {
	t.Helper()
	var d lintDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// TestLint runs the linter's rules over the shipped dashboards.
func TestLint(t *testing.T) {
	for _, name := range Files() {
		data, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range lint(decodeLint(t, data)) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

// goodDashboard passes every rule; each case of TestLintRules breaks it in
// one way.
const goodDashboard = `{
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(b2see_up, job)"}, "multi": true, "includeAll": true, "allValue": ".+"},
    {"name": "instance", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": "label_values(b2see_up{job=~\"$job\"}, instance)", "multi": true, "includeAll": true, "allValue": ".+"}
  ]},
  "panels": [
    {"type": "row", "title": "Row", "panels": [
      {"type": "timeseries", "title": "Errors", "description": "Failed scrapes per second.",
       "datasource": {"type": "prometheus", "uid": "${datasource}"},
       "fieldConfig": {"defaults": {"unit": "reqps"}},
       "targets": [{"refId": "A", "datasource": {"type": "prometheus", "uid": "$datasource"},
         "expr": "sum by (reason) (rate(b2see_scrape_errors_total{job=~\"$job\", instance=~\"${instance}\"}[$__rate_interval])) / on() group_left() max(b2see_up{job=~\"$job\", instance=~\"$instance\"})"}]}
    ]},
    {"type": "stat", "title": "Failures", "description": "Batches failed in the range.",
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "fieldConfig": {"defaults": {"unit": "short"}},
     "targets": [{"refId": "A", "expr": "sum(increase(b2see_batch_failures_total{job=~\"$job\", instance=~\"$instance\"}[$__range]))"}]}
  ]
}`

// TestLintRules shows that each rule finds what it is for: every case
// breaks the good dashboard in one way and must be reported by its rule.
func TestLintRules(t *testing.T) {
	if problems := lint(decodeLint(t, []byte(goodDashboard))); len(problems) != 0 {
		t.Fatalf("the good dashboard has problems: %q", problems)
	}
	nested := func(d *lintDashboard) *lintPanel { return &d.Panels[0].Panels[0] }
	top := func(d *lintDashboard) *lintPanel { return &d.Panels[1] }
	setExpr := func(expr string) func(*lintDashboard) {
		return func(d *lintDashboard) { top(d).Targets[0].Expr = expr }
	}
	const sel = `{job=~"$job", instance=~"$instance"}`
	tests := []struct {
		rule, name string
		breakIt    func(*lintDashboard)
	}{
		{"template-datasource-rule", "no datasource variable", func(d *lintDashboard) { d.Templating.List = d.Templating.List[1:] }},
		{"template-datasource-rule", "datasource variable of another kind", func(d *lintDashboard) { d.Templating.List[0].Query = json.RawMessage(`"loki"`) }},
		{"template-job-rule", "no job variable", func(d *lintDashboard) { d.Templating.List[1].Name = "jobs" }},
		{"template-job-rule", "job single-select", func(d *lintDashboard) { d.Templating.List[1].Multi = false }},
		{"template-job-rule", "job All is .*", func(d *lintDashboard) { d.Templating.List[1].AllValue = ".*" }},
		{"template-job-rule", "job on a fixed data source", func(d *lintDashboard) {
			d.Templating.List[1].Datasource = &datasourceRef{Type: "prometheus", UID: "abc"}
		}},
		{"template-instance-rule", "instance without All", func(d *lintDashboard) { d.Templating.List[2].IncludeAll = false }},
		{"template-instance-rule", "instance All unset", func(d *lintDashboard) { d.Templating.List[2].AllValue = "" }},
		{"template-label-promql-rule", "selector does not parse", func(d *lintDashboard) {
			d.Templating.List[2].Query = json.RawMessage(`"label_values(b2see_up{job=~\"$job\", instance)"`)
		}},
		{"template-label-promql-rule", "not label_values", func(d *lintDashboard) { d.Templating.List[2].Query = json.RawMessage(`"query_result(up)"`) }},
		{"panel-datasource-rule", "panel on a named data source", func(d *lintDashboard) { top(d).Datasource = &datasourceRef{Name: "Prometheus"} }},
		{"panel-datasource-rule", "panel in a row on no data source", func(d *lintDashboard) { nested(d).Datasource = nil }},
		{"panel-datasource-rule", "target on a fixed uid", func(d *lintDashboard) {
			nested(d).Targets[0].Datasource = &datasourceRef{Type: "prometheus", UID: "P1"}
		}},
		{"panel-title-description-rule", "no title", func(d *lintDashboard) { top(d).Title = "" }},
		{"panel-title-description-rule", "blank description in a row", func(d *lintDashboard) { nested(d).Description = "  " }},
		{"panel-units-rule", "no unit", func(d *lintDashboard) { top(d).FieldConfig.Defaults.Unit = "" }},
		{"panel-no-targets-rule", "no targets", func(d *lintDashboard) { top(d).Targets = nil }},
		{"target-promql-rule", "does not parse", setExpr(`sum(b2see_up` + sel)},
		{"target-promql-rule", "unknown variable", setExpr(`b2see_up` + sel + ` > $threshold`)},
		{"target-rate-interval-rule", "rate over a fixed range", setExpr(`rate(b2see_scrape_errors_total` + sel + `[5m])`)},
		{"target-rate-interval-rule", "irate over $__range", setExpr(`irate(b2see_scrape_errors_total` + sel + `[$__range])`)},
		{"target-rate-interval-rule", "rate over a subquery", setExpr(`rate(b2see_scrape_errors_total` + sel + `[$__rate_interval:])`)},
		{"target-job-rule", "no job matcher", setExpr(`b2see_up{instance=~"$instance"}`)},
		{"target-job-rule", "job matched exactly", setExpr(`b2see_up{job="$job", instance=~"$instance"}`)},
		{"target-job-rule", "one side of a binary expression", setExpr(`b2see_up` + sel + ` / b2see_data_age_seconds{instance=~"$instance"}`)},
		{"target-instance-rule", "no instance matcher", setExpr(`b2see_up{job=~"$job"}`)},
		{"target-instance-rule", "instance matched with a fixed value", setExpr(`b2see_up{job=~"$job", instance=~"host:10133"}`)},
		{"target-counter-agg-rule", "raw counter", setExpr(`sum(b2see_scrape_errors_total` + sel + `)`)},
		{"target-counter-agg-rule", "counter in delta", setExpr(`delta(b2see_scrape_errors_total` + sel + `[$__rate_interval])`)},
		{"target-counter-agg-rule", "counter in a subquery", setExpr(`max_over_time(b2see_scrape_errors_total` + sel + `[$__range:])`)},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.name, func(t *testing.T) {
			d := decodeLint(t, []byte(goodDashboard))
			tt.breakIt(d)
			problems := lint(d)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, tt.rule+": ") }) {
				t.Errorf("%s did not report it; problems: %q", tt.rule, problems)
			}
			covered[tt.rule] = true
		})
	}
	for _, r := range rules {
		if !covered[r.name] {
			t.Errorf("no case shows that %s finds anything", r.name)
		}
	}
}

// decodeStrict decodes a dashboard strictly and validates it with Grafana's
// types. UnmarshalJSONStrict returns its list of errors even when the list
// is empty, so only a list with errors in it is one.
func decodeStrict(data []byte) error {
	// The files are classic dashboards (schemaVersion 39), which this type,
	// not dashboardv2's resource format, describes.
	//lint:ignore SA1019 the shipped JSON is the classic format
	var d grafana.Dashboard
	err := d.UnmarshalJSONStrict(data)
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		err = nil
	}
	if err != nil {
		return err
	}
	return d.Validate()
}

// TestGrafanaSchema decodes each dashboard strictly with Grafana's own
// dashboard types (grafana-foundation-sdk): an unknown or misspelt field, a
// wrong type, or a field Grafana's schema requires that is missing fails.
func TestGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins() // panel options and queries by their type
	for _, name := range Files() {
		data, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The strict decoding finds what a loose one lets through.
	data, err := Source(Files()[0])
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	raw["panels"].([]any)[1].(map[string]any)["descripton"] = "misspelt"
	broken, _ := json.Marshal(raw)
	if err := decodeStrict(broken); err == nil || !strings.Contains(err.Error(), "descripton") {
		t.Errorf("strict decoding of a misspelt panel field: err = %v, want it named", err)
	}
}
