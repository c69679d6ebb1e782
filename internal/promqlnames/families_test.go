package promqlnames

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestOpenMetricsClashes(t *testing.T) {
	const (
		counter   = dto.MetricType_COUNTER
		gauge     = dto.MetricType_GAUGE
		histogram = dto.MetricType_HISTOGRAM
		summary   = dto.MetricType_SUMMARY
	)
	tests := []struct {
		name string
		fams []Family
		want []string // the names clashing, one per clash
	}{
		{"gauge beside its counter", []Family{{"b2see_video_plays", gauge}, {"b2see_video_plays_total", counter}}, []string{"b2see_video_plays"}},
		{"counter first", []Family{{"b2see_video_plays_total", counter}, {"b2see_video_plays", gauge}}, []string{"b2see_video_plays"}},
		{"window gauge beside the counter", []Family{{"b2see_window_video_plays", gauge}, {"b2see_video_plays_total", counter}}, nil},
		{"counter without _total", []Family{{"a", counter}, {"a_total", gauge}}, []string{"a_total"}},
		{"gauge named like a created line", []Family{{"a_total", counter}, {"a_created", gauge}}, []string{"a_created"}},
		{"gauge named like a histogram's count", []Family{{"h_seconds", histogram}, {"h_seconds_count", gauge}}, []string{"h_seconds_count"}},
		{"gauge named like a histogram's bucket", []Family{{"h_seconds_bucket", gauge}, {"h_seconds", histogram}}, []string{"h_seconds"}},
		{"gauge named like a summary's sum", []Family{{"s", summary}, {"s_sum", gauge}}, []string{"s_sum"}},
		{"info gauge beside its base", []Family{{"build_info", gauge}, {"build", gauge}}, []string{"build"}},
		{"histogram's created line", []Family{{"h", histogram}, {"h_created", gauge}}, []string{"h_created"}},
		{"the same family twice", []Family{{"a", gauge}, {"a", gauge}}, []string{"a"}},
		{"client_golang's own pair is known", []Family{{"go_memstats_alloc_bytes", gauge}, {"go_memstats_alloc_bytes_total", counter}}, nil},
		{"unrelated names", []Family{{"b2see_up", gauge}, {"b2see_scrape_errors_total", counter}, {"b2see_upstream_request_duration_seconds", histogram}, {"go_gc_duration_seconds", summary}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OpenMetricsClashes(tt.fams)
			if len(got) != len(tt.want) {
				t.Fatalf("clashes %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasSuffix(got[i], "name "+w) {
					t.Errorf("clash %q, want one on %s", got[i], w)
				}
			}
		})
	}
}
