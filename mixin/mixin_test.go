package mixin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v2"
)

// TestShippedFilesAreTheRender: the rules file and dashboards the project
// ships are exactly what the mixin renders with its defaults.
func TestShippedFilesAreTheRender(t *testing.T) {
	files, err := Render("")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Errorf("the render has %d files, want the rules file and two dashboards", len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from a fresh render of the mixin: run make mixin (and change mixin/, not the file)", name)
		}
	}
}

type rulesFile struct {
	Groups []struct {
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func renderedRules(t *testing.T, override string) rulesFile {
	t.Helper()
	files, err := Render(override)
	if err != nil {
		t.Fatal(err)
	}
	var rf rulesFile
	if err := yaml.Unmarshal(files[RulesFile], &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

// TestSelectorInEveryExpression: a render with a selector of one's own puts
// it on every selector of the exporter's metrics (b2see_*, the recording
// rules' account*:b2see_* series, and up), in every rule and alert.
func TestSelectorInEveryExpression(t *testing.T) {
	rf := renderedRules(t, `{_config+:: {b2seeSelector: 'job="custom"'}}`)
	var n, selectors int
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			name := r.Record + r.Alert
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				vs, ok := node.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				if vs.Name != "up" && !strings.Contains(vs.Name, "b2see_") {
					return nil
				}
				selectors++
				for _, m := range vs.LabelMatchers {
					if m.Name == "job" && m.Type == labels.MatchEqual && m.Value == "custom" {
						return nil
					}
				}
				t.Errorf("%s: %s lacks the selector job=\"custom\"", name, vs)
				return nil
			})
		}
	}
	if n < 20 || selectors < n {
		t.Errorf("%d rules and %d selectors checked: the rules file is not what it should be", n, selectors)
	}
}

// TestThresholdsFromConfig: a threshold of _config reaches its alert.
func TestThresholdsFromConfig(t *testing.T) {
	exprOf := func(rf rulesFile, alert string) string {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert == alert {
					return r.Expr
				}
			}
		}
		t.Fatalf("no alert %s", alert)
		return ""
	}
	def := renderedRules(t, "")
	set := renderedRules(t, `{_config+:: {pendingLookups: 250, upstreamErrorRatio: 0.5}}`)
	for _, tt := range []struct{ alert, def, set string }{
		{"B2seeBatchStatusLookupsPending", "> 100", "> 250"},
		{"B2seeUpstreamErrors", "> 0.2", "> 0.5"},
	} {
		if e := exprOf(def, tt.alert); !strings.HasSuffix(e, tt.def) {
			t.Errorf("%s by default: %q, want it to end with %q", tt.alert, e, tt.def)
		}
		if e := exprOf(set, tt.alert); !strings.HasSuffix(e, tt.set) {
			t.Errorf("%s with the threshold set: %q, want it to end with %q", tt.alert, e, tt.set)
		}
	}
}

// TestDashboardsTakeTheSelector: the dashboards' job variable offers only
// the jobs the selector picks.
func TestDashboardsTakeTheSelector(t *testing.T) {
	files, err := Render(`{_config+:: {b2seeSelector: 'job="custom"'}}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dashboards/b2see-engagement.json", "dashboards/b2see-operations.json"} {
		if !bytes.Contains(files[name], []byte(`"query": "label_values(b2see_up{job=\"custom\"}, job)"`)) {
			t.Errorf("%s: the job variable does not use the selector", name)
		}
	}
}

// TestReadmeNamesEverySetting: the README's mixin section names every field
// of _config, so a setting added to config.libsonnet is documented.
func TestReadmeNamesEverySetting(t *testing.T) {
	vm := jsonnet.MakeVM()
	vm.Importer(&embedImporter{})
	out, err := vm.EvaluateAnonymousSnippet("fields.jsonnet", "std.objectFieldsAll((import 'mixin.libsonnet')._config)")
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) < 10 {
		t.Fatalf("_config has %d fields: %v", len(fields), fields)
	}
	for _, f := range fields {
		if !bytes.Contains(readme, []byte("`"+f+"`")) {
			t.Errorf("the README does not name the mixin setting %s", f)
		}
	}
}
