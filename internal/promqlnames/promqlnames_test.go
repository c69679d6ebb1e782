package promqlnames

import (
	"reflect"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"bare selector", "b2see_up", []string{"b2see_up"}},
		{"up", `up{job="b2see"} == 0`, []string{"up"}},
		{"label names in matchers are not metrics", `b2see_up{account="go_main", up="1"}`, []string{"b2see_up"}},
		{"label values are strings", `b2see_up{account=~"b2see_window_batches|up"}`, []string{"b2see_up"}},
		{"functions are not metrics", `rate(b2see_video_plays_total[5m])`, []string{"b2see_video_plays_total"}},
		{"grouping labels before the body", `sum by (account, b2see_x) (rate(b2see_video_plays_total[5m]))`, []string{"b2see_video_plays_total"}},
		{"grouping labels after the body", `sum(b2see_window_batches_sent) without (go_sender, up)`, []string{"b2see_window_batches_sent"}},
		{
			"vector matching keywords",
			`b2see_window_batches_watched / on (account, up) group_left (b2see_y) b2see_window_batches_sent`,
			[]string{"b2see_window_batches_sent", "b2see_window_batches_watched"},
		},
		{"group_left without labels", `b2see_up * on (account) group_left b2see_exporter_build_info`, []string{"b2see_exporter_build_info", "b2see_up"}},
		{
			"histogram series kept exact",
			`histogram_quantile(0.9, sum by (le) (rate(b2see_window_time_to_first_watch_seconds_bucket[5m])))`,
			[]string{"b2see_window_time_to_first_watch_seconds_bucket"},
		},
		{
			"sum and count",
			`rate(b2see_upstream_request_duration_seconds_sum[5m]) / rate(b2see_upstream_request_duration_seconds_count[5m])`,
			[]string{"b2see_upstream_request_duration_seconds_count", "b2see_upstream_request_duration_seconds_sum"},
		},
		{"recording rules are left out", `account:b2see_video_plays:increase1d > 0 and b2see_up`, []string{"b2see_up"}},
		{"unrelated metrics are left out", `node_load1 + b2see_up`, []string{"b2see_up"}},
		{"duplicates once, sorted", `b2see_up + b2see_window_batches + b2see_up`, []string{"b2see_up", "b2see_window_batches"}},
		{
			"grafana variables",
			`sum(increase(b2see_video_plays_total{job=~"$job", instance=~"${instance}", account=~"$account"}[$__rate_interval]))`,
			[]string{"b2see_video_plays_total"},
		},
		{"grafana variable named like a metric", `b2see_up[$go_interval] offset $up`, []string{"b2see_up"}},
		{"durations are not identifiers", `rate(b2see_video_plays_total[1h30m] offset 5m)`, []string{"b2see_video_plays_total"}},
		{"__name__ matcher", `{__name__="b2see_window_batches", account="a"}`, []string{"b2see_window_batches"}},
		{"__name__ regex is not a name", `{__name__=~"b2see_window_batches"}`, nil},
		{"strings in functions", `label_replace(b2see_up, "go_x", "$1", "up", "(.*)")`, []string{"b2see_up"}},
		{"escaped quote in string", `b2see_up{account="a\"b2see_x"} or go_goroutines`, []string{"b2see_up", "go_goroutines"}},
		{"backquoted string", "b2see_up{account=~`process_x`}", []string{"b2see_up"}},
		{"comment", "b2see_up # process_open_fds\n+ go_goroutines", []string{"b2see_up", "go_goroutines"}},
		{"function name space before paren", `time () - b2see_last_success_timestamp_seconds`, []string{"b2see_last_success_timestamp_seconds"}},
		{"topk with number", `topk(5, sum by (sender) (b2see_window_batches_sent))`, []string{"b2see_window_batches_sent"}},
		{"upper-case keyword", `sum(b2see_up) BY (up)`, []string{"b2see_up"}},
		{"no metric", `vector(1)`, nil},
		{"empty", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Names(tt.expr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Names(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestContract(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Contract {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
		if got := Names(n); len(got) != 1 || got[0] != n {
			t.Errorf("Names(%q) = %q: contract entry is not a plain metric name", n, got)
		}
	}
	// A histogram is exposed as three series; listing only some of them
	// would let a dashboard pass with a name the exporter never writes.
	for _, n := range Contract {
		base, ok := strings.CutSuffix(n, "_bucket")
		if !ok {
			continue
		}
		for _, suffix := range []string{"_sum", "_count"} {
			if !seen[base+suffix] {
				t.Errorf("histogram %s: %s missing", base, base+suffix)
			}
		}
	}
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"b2see_up", true},
		{"up", true},
		{"b2see_window_time_to_first_watch_seconds_bucket", true},
		{"b2see_window_time_to_first_watch_seconds", false},
		{"b2see_window_video_plays", true},
		{"b2see_window_video_plays_count", false},
		{"b2see_nonexistent", false},
	}
	for _, tt := range tests {
		if got := Allowed(tt.name); got != tt.want {
			t.Errorf("Allowed(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
