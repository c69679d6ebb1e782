// Package alerts ships the Prometheus recording and alerting rules for the
// exporter, their promtool unit tests and the runbook the alerts link to.
// The rules file is embedded so that tests elsewhere can check the metric
// names it uses against what the exporter really exposes.
package alerts

import (
	_ "embed"
	"fmt"

	"go.yaml.in/yaml/v2"
)

// RulesFile is the name of the embedded rules file, as installed beside its
// unit tests and RUNBOOK.md.
const RulesFile = "b2see.rules.yml"

//go:embed b2see.rules.yml
var rulesYAML []byte

// Rule is one recording or alerting rule of the rules file.
type Rule struct {
	Group string
	// Name is the recorded series for a recording rule, the alert name
	// otherwise.
	Name   string
	Record bool
	Expr   string
	// For is how long an alert's condition must hold, empty when at once.
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Source returns the embedded rules file.
func Source() []byte { return append([]byte(nil), rulesYAML...) }

// Rules parses the embedded rules file, in file order.
func Rules() ([]Rule, error) {
	var f ruleFile
	if err := yaml.UnmarshalStrict(rulesYAML, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", RulesFile, err)
	}
	var rules []Rule
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			if (r.Record == "") == (r.Alert == "") {
				return nil, fmt.Errorf("%s: group %q rule %d: exactly one of record and alert must be set", RulesFile, g.Name, i)
			}
			name := r.Alert
			if r.Record != "" {
				name = r.Record
			}
			rules = append(rules, Rule{
				Group:       g.Name,
				Name:        name,
				Record:      r.Record != "",
				Expr:        r.Expr,
				For:         r.For,
				Labels:      r.Labels,
				Annotations: r.Annotations,
			})
		}
	}
	return rules, nil
}
