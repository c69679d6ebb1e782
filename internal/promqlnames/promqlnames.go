// Package promqlnames lists the metric names a PromQL expression selects, so
// that tests can check the dashboards and alerting rules against the metrics
// the exporter really exposes. It is a small tokenizer, not a PromQL parser:
// it must stay free of the Prometheus server as a dependency, and it only
// needs to tell metric selectors apart from functions, label names, strings,
// keywords and Grafana variables.
package promqlnames

import (
	"sort"
	"strings"
)

// Names returns the metric names expr selects, sorted and without
// duplicates. Only names this project's checks care about are returned: those
// starting with "b2see_", "process_" or "go_", and "up". Recording-rule
// outputs (names with a colon) are left out because they are checked against
// the rules, not against the exporter. Grafana variables ($job, ${account},
// [$__rate_interval]) may appear in expr and are ignored.
func Names(expr string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if !relevant(name) || seen[name] {
			return
		}
		seen[name] = true
		out = append(out, name)
	}

	s := scanner{src: expr}
	braces := 0      // depth inside {...} label matchers
	skipParens := -1 // paren depth at which a grouping label list ends
	parens := 0
	for {
		tok := s.next()
		switch tok.kind {
		case tokEOF:
			sort.Strings(out)
			return out
		case tokPunct:
			switch tok.text {
			case "{":
				braces++
			case "}":
				if braces > 0 {
					braces--
				}
			case "(":
				parens++
			case ")":
				if parens == skipParens {
					skipParens = -1
				}
				parens--
			}
		case tokIdent:
			if braces > 0 {
				// {__name__="b2see_up"} selects a metric by its label.
				if tok.text == "__name__" {
					if op := s.peek(); op.kind == tokPunct && op.text == "=" {
						s.next()
						if v := s.peek(); v.kind == tokString {
							s.next()
							add(v.text)
						}
					}
				}
				continue
			}
			if skipParens >= 0 {
				continue // a label name in by (...), on (...), etc.
			}
			if groupingKeywords[strings.ToLower(tok.text)] {
				if p := s.peek(); p.kind == tokPunct && p.text == "(" {
					s.next()
					parens++
					skipParens = parens
				}
				continue
			}
			if p := s.peek(); p.kind == tokPunct && p.text == "(" {
				continue // a function or aggregation operator
			}
			add(tok.text)
		}
	}
}

func relevant(name string) bool {
	if strings.Contains(name, ":") {
		return false
	}
	return name == "up" ||
		strings.HasPrefix(name, "b2see_") ||
		strings.HasPrefix(name, "process_") ||
		strings.HasPrefix(name, "go_")
}

// groupingKeywords are followed by a parenthesised list of label names.
var groupingKeywords = map[string]bool{
	"by":          true,
	"without":     true,
	"on":          true,
	"ignoring":    true,
	"group_left":  true,
	"group_right": true,
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokPunct
	tokOther // numbers, durations, Grafana variables
)

type token struct {
	kind tokKind
	text string
}

type scanner struct {
	src    string
	pos    int
	peeked *token
}

func (s *scanner) peek() token {
	if s.peeked == nil {
		t := s.scan()
		s.peeked = &t
	}
	return *s.peeked
}

func (s *scanner) next() token {
	if s.peeked != nil {
		t := *s.peeked
		s.peeked = nil
		return t
	}
	return s.scan()
}

func (s *scanner) scan() token {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.pos++
		case c == '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		case c == '"' || c == '\'' || c == '`':
			return token{kind: tokString, text: s.scanString(c)}
		case c == '$':
			s.scanVariable()
			return token{kind: tokOther}
		case isIdentStart(c):
			start := s.pos
			for s.pos < len(s.src) && isIdentChar(s.src[s.pos]) {
				s.pos++
			}
			return token{kind: tokIdent, text: s.src[start:s.pos]}
		case isDigit(c) || c == '.':
			// Numbers and durations (5m, 1h30m, 1e3, 0x1f) never name
			// metrics; consume letters too so "5m" is not read as "m".
			for s.pos < len(s.src) && (isIdentChar(s.src[s.pos]) || s.src[s.pos] == '.') {
				s.pos++
			}
			return token{kind: tokOther}
		case c == '=' || c == '!':
			// Keep "=" apart from "=~", "!=", "==" so a __name__ matcher
			// is recognised only for exact equality.
			start := s.pos
			s.pos++
			if s.pos < len(s.src) && (s.src[s.pos] == '=' || s.src[s.pos] == '~') {
				s.pos++
			}
			return token{kind: tokPunct, text: s.src[start:s.pos]}
		default:
			s.pos++
			return token{kind: tokPunct, text: string(c)}
		}
	}
	return token{kind: tokEOF}
}

// scanString consumes a quoted string and returns its content. Escapes are
// skipped, not decoded: metric names never need them.
func (s *scanner) scanString(quote byte) string {
	s.pos++
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		s.pos++
		switch {
		case c == quote:
			return b.String()
		case c == '\\' && quote != '`' && s.pos < len(s.src):
			b.WriteByte(s.src[s.pos])
			s.pos++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// scanVariable consumes a Grafana variable: $name, ${name} or ${name:format}.
func (s *scanner) scanVariable() {
	s.pos++
	if s.pos < len(s.src) && s.src[s.pos] == '{' {
		for s.pos < len(s.src) && s.src[s.pos] != '}' {
			s.pos++
		}
		s.pos++
		return
	}
	for s.pos < len(s.src) && isIdentChar(s.src[s.pos]) && s.src[s.pos] != ':' {
		s.pos++
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
