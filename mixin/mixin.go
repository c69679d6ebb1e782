// Package mixin renders the monitoring mixin (mixin.libsonnet and the files
// it imports, all plain jsonnet) into the files the project ships: the
// Prometheus rules file and the Grafana dashboards. The shipped files are
// the render with the default _config; `make mixin` writes them again.
package mixin

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-jsonnet"
	"go.yaml.in/yaml/v2"
)

//go:embed mixin.libsonnet config.libsonnet alerts rules dashboards
var sources embed.FS

// RulesFile and DashboardsDir say where the render goes, from the
// repository's top.
const (
	RulesFile     = "alerts/b2see.rules.yml"
	DashboardsDir = "dashboards"
)

const rulesHeader = `# Recording and alerting rules for b2see_exporter, rendered from the
# monitoring mixin (mixin/) by "make mixin": change the mixin, not this file.
#
# Every expression selects the exporter's job with the mixin's b2seeSelector,
# job=~".*b2see.*" here: name the scrape job so that it contains "b2see", or
# render the mixin with a selector of your own. Each alert links to its
# section in RUNBOOK.md beside this file.
`

// Render evaluates the mixin with override laid over it (jsonnet to add to
// the mixin's object, such as "{_config+:: {b2seeSelector: 'job=\"x\"'}}";
// empty for none) and returns each file by its path from the repository's
// top.
func Render(override string) (map[string][]byte, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(&embedImporter{})
	snippet := "(import 'mixin.libsonnet')"
	if override != "" {
		snippet += " + " + override
	}
	out, err := vm.EvaluateAnonymousSnippet("render.jsonnet", `local m = `+snippet+`;
{
  groups: m.prometheusRules.groups + m.prometheusAlerts.groups,
  dashboards: m.grafanaDashboards,
}`)
	if err != nil {
		return nil, fmt.Errorf("rendering the mixin: %w", err)
	}
	var doc struct {
		Groups     []json.RawMessage          `json:"groups"`
		Dashboards map[string]json.RawMessage `json:"dashboards"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	rules, err := rulesYAML(doc.Groups)
	if err != nil {
		return nil, err
	}
	files[RulesFile] = rules
	for name, raw := range doc.Dashboards {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return nil, err
		}
		buf.WriteByte('\n')
		files[path.Join(DashboardsDir, name)] = buf.Bytes()
	}
	return files, nil
}

// ruleKeys is the order of a rule's fields in the rules file, as people
// write them.
var ruleKeys = []string{"record", "alert", "expr", "for", "labels", "annotations"}

// rulesYAML writes the rule groups as Prometheus' rules file.
func rulesYAML(groups []json.RawMessage) ([]byte, error) {
	type rule map[string]any
	type group struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	}
	var out yaml.MapSlice
	var list []yaml.MapSlice
	for _, raw := range groups {
		var g group
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, err
		}
		var rules []yaml.MapSlice
		for _, r := range g.Rules {
			var m yaml.MapSlice
			for _, k := range ruleKeys {
				v, ok := r[k]
				if !ok {
					continue
				}
				if s, ok := v.(string); ok {
					v = strings.TrimRight(s, "\n")
				}
				if mv, ok := v.(map[string]any); ok {
					v = sortedMap(mv)
				}
				m = append(m, yaml.MapItem{Key: k, Value: v})
				delete(r, k)
			}
			if len(r) > 0 {
				return nil, fmt.Errorf("group %s: a rule has fields a rules file does not: %v", g.Name, r)
			}
			rules = append(rules, m)
		}
		list = append(list, yaml.MapSlice{{Key: "name", Value: g.Name}, {Key: "rules", Value: rules}})
	}
	out = append(out, yaml.MapItem{Key: "groups", Value: list})
	body, err := yaml.Marshal(out)
	if err != nil {
		return nil, err
	}
	return append([]byte(rulesHeader), body...), nil
}

func sortedMap(m map[string]any) yaml.MapSlice {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(yaml.MapSlice, 0, len(keys))
	for _, k := range keys {
		out = append(out, yaml.MapItem{Key: k, Value: m[k]})
	}
	return out
}

// embedImporter resolves the mixin's imports, relative to the importing
// file, within the embedded sources: a render reads nothing from disk.
type embedImporter struct {
	mu    sync.Mutex
	cache map[string]jsonnet.Contents
}

func (i *embedImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	p := path.Clean(path.Join(path.Dir(importedFrom), importedPath))
	i.mu.Lock()
	defer i.mu.Unlock()
	if c, ok := i.cache[p]; ok {
		return c, p, nil
	}
	b, err := fs.ReadFile(sources, p)
	if err != nil {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q from %q: %w", importedPath, importedFrom, err)
	}
	if i.cache == nil {
		i.cache = map[string]jsonnet.Contents{}
	}
	c := jsonnet.MakeContents(string(b))
	i.cache[p] = c
	return c, p, nil
}
