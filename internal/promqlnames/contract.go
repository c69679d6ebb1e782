package promqlnames

import "slices"

// Contract lists every series name the exporter promises to expose, as it
// appears in the exposition (histograms by their _bucket, _sum and _count
// series). Dashboards and rules may select only these, the names in
// Synthetic, and the process_ and go_ names listed here, which come from the
// standard collectors the exporter registers. A test against the exporter's
// real output checks this list, so it is written once, here.
var Contract = []string{
	// Per account: the health of the last upstream read.
	"b2see_up",
	"b2see_scrape_duration_seconds",
	"b2see_last_success_timestamp_seconds",
	"b2see_data_age_seconds",
	"b2see_scrape_errors_total",

	// Window gauges: records in the last days_of_history days.
	"b2see_window_batches",
	"b2see_window_batches_sent",
	"b2see_window_batches_watched",
	"b2see_window_landing_page_watches",
	"b2see_window_video_plays",
	"b2see_window_link_clicks",
	"b2see_window_customer_actions",
	"b2see_window_customer_action_value",
	"b2see_window_customer_payment_outcomes",
	"b2see_window_customer_ratings",

	"b2see_window_time_to_first_watch_seconds_bucket",
	"b2see_window_time_to_first_watch_seconds_sum",
	"b2see_window_time_to_first_watch_seconds_count",

	// True counters.
	"b2see_batches_created_total",
	"b2see_landing_page_watches_total",
	"b2see_video_plays_total",
	"b2see_link_clicks_total",
	"b2see_customer_actions_total",
	"b2see_customer_action_value_total",

	// Label values per upstream-valued label, and those summed into "other".
	"b2see_label_values",
	"b2see_label_values_folded",

	// State persistence.
	"b2see_state_last_save_timestamp_seconds",
	"b2see_state_last_save_successful",
	"b2see_state_save_failures_total",

	// Batch status (batches API).
	"b2see_batch_status",
	"b2see_batches_timed_out",
	"b2see_batch_failures_total",
	"b2see_batch_timeouts_total",
	"b2see_batch_status_pending_lookups",

	// Upstream requests.
	"b2see_upstream_requests_total",
	"b2see_upstream_request_duration_seconds_bucket",
	"b2see_upstream_request_duration_seconds_sum",
	"b2see_upstream_request_duration_seconds_count",

	// Configuration and build.
	"b2see_config_last_reload_successful",
	"b2see_config_last_reload_success_timestamp_seconds",
	"b2see_exporter_build_info",

	// Standard process and Go runtime collectors.
	"process_cpu_seconds_total",
	"process_resident_memory_bytes",
	"process_start_time_seconds",
	"process_open_fds",
	"process_max_fds",
	"go_goroutines",
	"go_memstats_heap_inuse_bytes",
}

// Synthetic lists the series Prometheus itself writes for every target; the
// exporter does not expose them.
var Synthetic = []string{"up"}

// Allowed reports whether name is in Contract or Synthetic.
func Allowed(name string) bool {
	return slices.Contains(Contract, name) || slices.Contains(Synthetic, name)
}
