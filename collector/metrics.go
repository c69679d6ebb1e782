package collector

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "b2see"

// Label names.
const (
	labelAccount     = "account"
	labelProductType = "product_type"
	labelSender      = "sender"
)

var seriesLabels = []string{labelAccount, labelProductType, labelSender}

// constMetric is prometheus.MustNewConstMetric without the panic: its
// labels come from the upstream or from disk, where validation should keep
// out anything unfit for the exposition (text not UTF-8), but a scrape must
// never crash on what slipped through. An unfit metric is an invalid one:
// the registry leaves it out and reports why, and the handler, with
// promhttp.ContinueOnError, logs that and serves every other metric.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// constHistogram is constMetric's histogram.
func constHistogram(d *prometheus.Desc, count uint64, sum float64, buckets map[float64]uint64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstHistogram(d, count, sum, buckets, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func newDesc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	all := append(append([]string(nil), labels...), extra...)
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, all, nil)
}

// counter returns a counter metric, with its created timestamp when known
// (not zero): the time since which it has counted, which lets Prometheus
// tell a counter's start from a reset.
func counter(d *prometheus.Desc, v float64, created time.Time, labels ...string) prometheus.Metric {
	if created.IsZero() {
		return constMetric(d, prometheus.CounterValue, v, labels...)
	}
	m, err := prometheus.NewConstMetricWithCreatedTimestamp(d, prometheus.CounterValue, v, created, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// constHistogramCreated is constHistogram with the time since which the
// histogram has counted, when known (not zero).
func constHistogramCreated(d *prometheus.Desc, count uint64, sum float64, buckets map[float64]uint64, created time.Time, labels ...string) prometheus.Metric {
	if created.IsZero() {
		return constHistogram(d, count, sum, buckets, labels...)
	}
	m, err := prometheus.NewConstHistogramWithCreatedTimestamp(d, count, sum, buckets, created, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// histogram is a histogram kept by hand, so that it can be emitted as a
// const metric with the labels of its series.
type histogram struct {
	bounds []float64 // the buckets' upper bounds, ascending
	counts []uint64  // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	if i := sort.SearchFloat64s(h.bounds, v); i < len(h.counts) {
		h.counts[i]++
	}
}

// metric is the histogram as a const metric, with the time since which it
// has counted when known (not zero).
func (h *histogram) metric(d *prometheus.Desc, created time.Time, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, ub := range h.bounds {
		cum += h.counts[i]
		buckets[ub] = cum
	}
	return constHistogramCreated(d, h.count, h.sum, buckets, created, labels...)
}

// emitter sends const metrics to a scrape's channel.
type emitter chan<- prometheus.Metric

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e <- constMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e emitter) counter(d *prometheus.Desc, v float64, created time.Time, labels ...string) {
	e <- counter(d, v, created, labels...)
}

var (
	upDesc = newDesc("up",
		"1 if the last read of the account's Batch Data API succeeded, 0 if it failed.",
		[]string{labelAccount})
	scrapeDurationDesc = newDesc("scrape_duration_seconds",
		"How long reading and aggregating the account's batch records took.",
		[]string{labelAccount})
	lastSuccessDesc = newDesc("last_success_timestamp_seconds",
		"Unix time of the last successful read of the account's batch records.",
		[]string{labelAccount})
	dataAgeDesc = newDesc("data_age_seconds",
		"Age of the batch data served for the account: 0 when read on this scrape, more when served from the last good read.",
		[]string{labelAccount})
	scrapeErrorsDesc = newDesc("scrape_errors_total",
		"Scrapes of the account that failed, by reason.",
		[]string{labelAccount}, "reason")
	upstreamRequestsDesc = newDesc("upstream_requests_total",
		"Requests made to the B2see APIs, by endpoint and outcome.",
		[]string{labelAccount}, "endpoint", "outcome")
	upstreamDurationDesc = newDesc("upstream_request_duration_seconds",
		"Duration of requests to the B2see APIs, body included.",
		[]string{labelAccount}, "endpoint")

	batchesDesc = newDesc("window_batches",
		"Batches in the history window.", seriesLabels)
	batchesSentDesc = newDesc("window_batches_sent",
		"Batches in the history window that were sent.", seriesLabels)
	batchesWatchedDesc = newDesc("window_batches_watched",
		"Batches in the history window whose landing page was watched at least once.", seriesLabels)
	landingPageWatchesDesc = newDesc("window_landing_page_watches",
		"Landing page watches of the batches in the history window.", seriesLabels)
	videoPlaysDesc = newDesc("window_video_plays",
		"Video plays of the batches in the history window.", seriesLabels)
	linkClicksDesc = newDesc("window_link_clicks",
		"Link clicks on the landing pages of the batches in the history window, by link.", seriesLabels, "link")
	customerActionsDesc = newDesc("window_customer_actions",
		"Batches in the history window by the state of the customer's action.", seriesLabels, "state")
	customerActionValueDesc = newDesc("window_customer_action_value",
		"Sum of the customer action prices of the batches in the history window, by state, in the account's currency.", seriesLabels, "state")
	paymentOutcomesDesc = newDesc("window_customer_payment_outcomes",
		"Batches in the history window by the outcome of the customer's payment.", seriesLabels, "outcome")
	ratingsDesc = newDesc("window_customer_ratings",
		"Batches in the history window by the customer's rating.", seriesLabels, "rating")
	timeToFirstWatchDesc = newDesc("window_time_to_first_watch_seconds",
		"Time from sending a batch to the first watch of its landing page, over the batches in the history window.",
		[]string{labelAccount, labelProductType})

	batchStatusDesc = newDesc("batch_status",
		"Batches in the history window by the status the batches API last reported: the code's configured name, or the code itself with phase unknown.",
		[]string{labelAccount}, "status", "phase")
	batchesTimedOutDesc = newDesc("batches_timed_out",
		"Batches in the history window still pending or running more than their timeout after they were created.",
		[]string{labelAccount})
	batchFailuresDesc = newDesc("batch_failures_total",
		"Batches seen entering a failed phase, each counted once.",
		[]string{labelAccount})
	batchTimeoutsDesc = newDesc("batch_timeouts_total",
		"Batches seen passing their timeout while pending or running, each counted once.",
		[]string{labelAccount})
	batchStatusPendingLookupsDesc = newDesc("batch_status_pending_lookups",
		"Batches whose status the last round of lookups did not get, owed to the next scrape.",
		[]string{labelAccount})
)

// Link label values of b2see_window_link_clicks.
var linkNames = [3]string{"image", "facebook", "google"}

// timeToFirstWatchBuckets span a minute to a month: customers open a video
// within minutes or days.
var timeToFirstWatchBuckets = []float64{
	60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
	86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
}

var allDescs = append([]*prometheus.Desc{
	upDesc, scrapeDurationDesc, lastSuccessDesc, dataAgeDesc, scrapeErrorsDesc,
	upstreamRequestsDesc, upstreamDurationDesc,
	batchesDesc, batchesSentDesc, batchesWatchedDesc, landingPageWatchesDesc, videoPlaysDesc,
	linkClicksDesc, customerActionsDesc, customerActionValueDesc, paymentOutcomesDesc, ratingsDesc,
	timeToFirstWatchDesc, labelValuesDesc, labelValuesFoldedDesc,
	batchStatusDesc, batchesTimedOutDesc, batchFailuresDesc, batchTimeoutsDesc, batchStatusPendingLookupsDesc,
}, counterDescs...)
