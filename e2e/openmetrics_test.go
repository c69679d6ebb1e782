package e2e

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/b2see-exporter/b2see_exporter/internal/promqlnames"
)

// Accept headers of the exposition formats, as Prometheus sends them.
const (
	acceptOpenMetrics = "application/openmetrics-text;version=1.0.0"
	acceptProtobuf    = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
)

// createdLine is a _created sample of OpenMetrics text.
var createdLine = regexp.MustCompile(`(?m)^[a-zA-Z_:][a-zA-Z0-9_:]*_created[{ ].*$`)

// scrapeAs fetches path from the exporter with accept as the Accept header
// ("" sends none) and returns the answer's format and body.
func (e *exporter) scrapeAs(t *testing.T, path, accept string) (expfmt.Format, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+e.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s answered %d: %s", path, resp.StatusCode, b)
	}
	return expfmt.Format(resp.Header.Get("Content-Type")), string(b)
}

// decodeAll decodes every family of an exposition in format, in order. A
// family that comes twice is an error: OpenMetrics forbids it.
func decodeAll(t *testing.T, body string, format expfmt.Format) []*dto.MetricFamily {
	t.Helper()
	dec := expfmt.NewDecoder(strings.NewReader(body), format)
	var out []*dto.MetricFamily
	seen := map[string]bool{}
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding the %s exposition: %v", format, err)
		}
		if seen[mf.GetName()] {
			t.Errorf("family %s comes twice in the %s exposition", mf.GetName(), format)
		}
		seen[mf.GetName()] = true
		out = append(out, mf)
	}
}

// withoutKnownClashes drops from an OpenMetrics exposition the counters of
// promqlnames.KnownClashes, which repeat the family of the gauge they
// clash with, so that a strict parser reads the rest.
func withoutKnownClashes(t *testing.T, body string) string {
	t.Helper()
	lines := strings.SplitAfter(body, "\n")
	out := make([]string, 0, len(lines))
	dropped := 0
	for _, l := range lines {
		drop := false
		for _, p := range promqlnames.KnownClashes {
			family, ok := strings.CutSuffix(p[1], "_total")
			if !ok || family != p[0] {
				t.Fatalf("known clash %v is not a gauge beside its counter", p)
			}
			switch {
			case l == "# TYPE "+family+" counter\n":
				if n := len(out); n > 0 && strings.HasPrefix(out[n-1], "# HELP "+family+" ") {
					out = out[:n-1]
				}
				drop = true
			case strings.HasPrefix(l, family+"_total ") || strings.HasPrefix(l, family+"_total{") ||
				strings.HasPrefix(l, family+"_created"):
				drop = true
			}
		}
		if drop {
			dropped++
			continue
		}
		out = append(out, l)
	}
	if dropped == 0 && strings.Contains(body, "# TYPE "+promqlnames.KnownClashes[0][0]+" gauge\n") {
		t.Fatal("none of the known clashes in the exposition: has client_golang fixed them? Empty promqlnames.KnownClashes")
	}
	return strings.Join(out, "")
}

// families returns the name and type of each of mfs.
func families(mfs []*dto.MetricFamily) []promqlnames.Family {
	out := make([]promqlnames.Family, len(mfs))
	for i, mf := range mfs {
		out[i] = promqlnames.Family{Name: mf.GetName(), Type: mf.GetType()}
	}
	return out
}

// seriesCount is the number of series of each family.
func seriesCount(mfs []*dto.MetricFamily) map[string]int {
	out := map[string]int{}
	for _, mf := range mfs {
		out[mf.GetName()+" "+mf.GetType().String()] = len(mf.GetMetric())
	}
	return out
}

// TestOpenMetricsFamiliesUnique requires that no two families of the
// demo's real exposition, the exporter's own and the standard collectors'
// included, share a name in OpenMetrics 1.0.
func TestOpenMetricsFamiliesUnique(t *testing.T) {
	e := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	format, body := e.scrapeAs(t, "/metrics", "")
	mfs := decodeAll(t, body, format)
	if len(mfs) < 40 {
		t.Fatalf("only %d families in the demo's exposition", len(mfs))
	}
	for _, c := range promqlnames.OpenMetricsClashes(families(mfs)) {
		t.Error(c)
	}
}

// TestExpositionFormats checks the formats /metrics and /probe serve: the
// text format when the scraper asks for nothing, OpenMetrics 1.0 when it
// asks for it, with the same families and series either way.
func TestExpositionFormats(t *testing.T) {
	e := startExporter(t, nil, "--demo", "--storage.path="+t.TempDir())
	for _, path := range []string{"/metrics", "/probe?account=demo"} {
		t.Run(path, func(t *testing.T) {
			format, body := e.scrapeAs(t, path, "")
			if format.FormatType() != expfmt.TypeTextPlain || !strings.Contains(string(format), "version=0.0.4") {
				t.Fatalf("without Accept: %q, want the text format 0.0.4", format)
			}
			text := decodeAll(t, body, format)

			format, body = e.scrapeAs(t, path, acceptOpenMetrics)
			if format.FormatType() != expfmt.TypeOpenMetrics || !strings.Contains(string(format), "version=1.0.0") {
				t.Fatalf("asking for OpenMetrics 1.0.0: %q", format)
			}
			if !strings.HasSuffix(body, "# EOF\n") {
				t.Error("the OpenMetrics exposition does not end with # EOF")
			}
			if l := createdLine.FindString(body); l != "" {
				t.Errorf("the OpenMetrics exposition has _created lines, which Prometheus stores as series of their own: %s", l)
			}
			om := decodeAll(t, withoutKnownClashes(t, body), format)

			want, got := seriesCount(text), seriesCount(om)
			for _, p := range promqlnames.KnownClashes {
				delete(want, p[1]+" "+dto.MetricType_COUNTER.String())
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s: %d series in OpenMetrics, %d in text", k, got[k], n)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s is in OpenMetrics only", k)
				}
			}

			format, body = e.scrapeAs(t, path, acceptProtobuf)
			if format.FormatType() != expfmt.TypeProtoDelim {
				t.Fatalf("asking for protobuf: %q", format)
			}
			checkCreated(t, decodeAll(t, body, format))
		})
	}
}

// checkCreated requires a created timestamp, in the past, on every series
// of the exporter's counters and of its upstream request histogram.
func checkCreated(t *testing.T, mfs []*dto.MetricFamily) {
	t.Helper()
	checked := 0
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "b2see_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ct interface{ AsTime() time.Time }
			switch {
			case mf.GetType() == dto.MetricType_COUNTER:
				if c := m.GetCounter().GetCreatedTimestamp(); c != nil {
					ct = c
				}
			case name == "b2see_upstream_request_duration_seconds":
				if c := m.GetHistogram().GetCreatedTimestamp(); c != nil {
					ct = c
				}
			default:
				continue
			}
			checked++
			if ct == nil {
				t.Errorf("%s: no created timestamp in the protobuf exposition", name)
			} else if at := ct.AsTime(); at.IsZero() || at.After(time.Now()) {
				t.Errorf("%s: created %v", name, at)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d series of counters checked", checked)
	}
}
