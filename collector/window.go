package collector

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2see-exporter/b2see_exporter/b2see"
)

// unknownValue stands for a missing product type or sender: an empty label
// value would make the label vanish in Prometheus.
const unknownValue = "unknown"

// seriesKey identifies the series of one product type and sender.
type seriesKey struct {
	productType, sender string
}

type countValue struct {
	count int64
	value float64
}

// seriesStats are the window gauges of one seriesKey.
type seriesStats struct {
	batches, sent, watched int64
	watches, plays         int64
	clicks                 [3]int64
	actions                map[string]*countValue
	outcomes               map[string]int64
	ratings                map[string]int64
}

// firstWatchHist is a histogram of the time to first watch of one product
// type, in the buckets of timeToFirstWatchBuckets.
type firstWatchHist struct {
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

// window aggregates the records of one answer of the Batch Data API. Its
// size grows with the number of distinct product types, senders and states,
// never with the number of batches, except for the set of batch IDs used to
// count each batch once.
type window struct {
	series  map[seriesKey]*seriesStats
	hists   map[string]*firstWatchHist
	seen    map[int64]struct{}
	records int // records in the answer, duplicates included
	senders bool

	lastKey   seriesKey
	lastStats *seriesStats
}

func newWindow(senders bool) *window {
	return &window{
		series:  map[seriesKey]*seriesStats{},
		hists:   map[string]*firstWatchHist{},
		seen:    map[int64]struct{}{},
		senders: senders,
	}
}

// labelValue makes an upstream string fit to be a label value.
func labelValue(s string) string {
	if s == "" {
		return unknownValue
	}
	return s
}

// add counts one record. It reports false for a batch already counted.
func (w *window) add(b *b2see.Batch) bool {
	w.records++
	if b.HasID {
		if _, dup := w.seen[b.ID]; dup {
			return false
		}
		w.seen[b.ID] = struct{}{}
	}
	key := seriesKey{productType: labelValue(b.ProductType)}
	if w.senders {
		key.sender = labelValue(b.SendingUserName)
	}
	s := w.lastStats
	if s == nil || key != w.lastKey {
		s = w.series[key]
		if s == nil {
			s = &seriesStats{}
			w.series[key] = s
		}
		w.lastKey, w.lastStats = key, s
	}
	s.batches++
	if !b.DateSent.IsZero() {
		s.sent++
	}
	if b.LandingPageWatchCount > 0 {
		s.watched++
		s.watches += b.LandingPageWatchCount
	}
	s.plays += nonNegative(b.VideoPlayCount)
	s.clicks[0] += nonNegative(b.ImageLinkClicks)
	s.clicks[1] += nonNegative(b.FacebookClicks)
	s.clicks[2] += nonNegative(b.GoogleClicks)
	if b.CustomerActionState != "" {
		if s.actions == nil {
			s.actions = map[string]*countValue{}
		}
		cv := s.actions[b.CustomerActionState]
		if cv == nil {
			cv = &countValue{}
			s.actions[b.CustomerActionState] = cv
		}
		cv.count++
		cv.value += b.CustomerActionPrice
	}
	if b.CustomerActionPaymentOutcome != "" {
		if s.outcomes == nil {
			s.outcomes = map[string]int64{}
		}
		s.outcomes[b.CustomerActionPaymentOutcome]++
	}
	if b.HasRating {
		if s.ratings == nil {
			s.ratings = map[string]int64{}
		}
		s.ratings[ratingLabel(b.CustomerRating)]++
	}
	if !b.LandingPageFirstWatched.IsZero() {
		start := b.DateSent
		if start.IsZero() {
			start = b.DateCreated
		}
		if !start.IsZero() {
			w.observeFirstWatch(key.productType, max(b.LandingPageFirstWatched.Sub(start).Seconds(), 0))
		}
	}
	return true
}

func (w *window) observeFirstWatch(productType string, secs float64) {
	h := w.hists[productType]
	if h == nil {
		h = &firstWatchHist{counts: make([]uint64, len(timeToFirstWatchBuckets))}
		w.hists[productType] = h
	}
	h.count++
	h.sum += secs
	if i := sort.SearchFloat64s(timeToFirstWatchBuckets, secs); i < len(timeToFirstWatchBuckets) {
		h.counts[i]++
	}
}

func nonNegative(n int64) int64 { return max(n, 0) }

// ratingLabel formats a rating without a trailing ".0", so that 5 and 5.0
// share the series rating="5".
func ratingLabel(r float64) string {
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// collect emits the window's gauges and histograms for account.
func (w *window) collect(ch chan<- prometheus.Metric, account string) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- constMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for k, s := range w.series {
		sender := k.sender // "" when the sender label is off: Prometheus drops empty labels
		gauge(batchesDesc, float64(s.batches), account, k.productType, sender)
		gauge(batchesSentDesc, float64(s.sent), account, k.productType, sender)
		gauge(batchesWatchedDesc, float64(s.watched), account, k.productType, sender)
		gauge(landingPageWatchesDesc, float64(s.watches), account, k.productType, sender)
		gauge(videoPlaysDesc, float64(s.plays), account, k.productType, sender)
		for i, n := range s.clicks {
			gauge(linkClicksDesc, float64(n), account, k.productType, sender, linkNames[i])
		}
		for state, cv := range s.actions {
			gauge(customerActionsDesc, float64(cv.count), account, k.productType, sender, state)
			gauge(customerActionValueDesc, cv.value, account, k.productType, sender, state)
		}
		for outcome, n := range s.outcomes {
			gauge(paymentOutcomesDesc, float64(n), account, k.productType, sender, outcome)
		}
		for rating, n := range s.ratings {
			gauge(ratingsDesc, float64(n), account, k.productType, sender, rating)
		}
	}
	for productType, h := range w.hists {
		buckets := make(map[float64]uint64, len(timeToFirstWatchBuckets))
		var cum uint64
		for i, ub := range timeToFirstWatchBuckets {
			cum += h.counts[i]
			buckets[ub] = cum
		}
		ch <- constHistogram(timeToFirstWatchDesc, h.count, h.sum, buckets, account, productType)
	}
}

// batchCount is the number of distinct batches in the window.
func (w *window) batchCount() int64 {
	var n int64
	for _, s := range w.series {
		n += s.batches
	}
	return n
}
