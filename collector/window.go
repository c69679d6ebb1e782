package collector

import (
	"math"
	"strconv"
	"time"

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

// window aggregates the records of one answer of the Batch Data API. Its
// size grows with the number of distinct product types, senders and states,
// never with the number of batches, except for the set of batch IDs used to
// count each batch once when no counters' staging tells the duplicates
// (see Account.read). The set is dropped once the answer is read.
type window struct {
	series  map[seriesKey]*seriesStats
	hists   map[string]*histogram
	seen    *batchSet
	records int // records in the answer, duplicates included
	senders bool
	labels  [numCapped]labelStat // the values seen of each label, and folded
	pre     *prefold             // the last read's choice of kept values; nil for none

	lastKey   seriesKey
	lastStats *seriesStats
}

func newWindow(senders bool) *window {
	return &window{
		series:  map[seriesKey]*seriesStats{},
		hists:   map[string]*histogram{},
		senders: senders,
	}
}

// add counts one record. It reports false for a batch already counted.
func (w *window) add(b *b2see.Record) bool {
	if b.HasID {
		if w.seen == nil {
			w.seen = &batchSet{}
		}
		if !w.seen.add(b.ID) {
			w.addDuplicate()
			return false
		}
	}
	k := w.keyOf(b)
	w.addNew(b, &k)
	return true
}

// recordKey is where a record counts: its series, and its action state.
type recordKey struct {
	series seriesKey
	// refs are the entries of the record's product type, sender and
	// action state in the read's tallies (see prefold.ref).
	refs [3]int32
	// state is the action state made fit to be a label value, "" for
	// none, as the counters remember it: overflowValue when it came past
	// the read's tally, so that the counters' staging holds no more
	// distinct states than the tally.
	state string
}

// keyOf returns the key of the series b counts under, its product type and
// sender made fit to be label values (no sender when the window has no
// sender label), each overflowValue when the read already folds it (see
// prefold), and where they are counted. It counts nothing, but may fold a
// label in the middle of the read (see guard) before it looks at b.
func (w *window) keyOf(b *b2see.Record) recordKey {
	if w.pre != nil && w.pre.pending {
		w.guard()
	}
	k := recordKey{refs: [3]int32{noTally, noTally, noTally}}
	pt := labelValue(b.ProductType)
	k.refs[0] = w.pre.ref(capProductType, pt)
	k.series.productType = w.pre.fold(capProductType, pt, k.refs[0])
	if w.senders {
		sender := labelValue(b.SendingUserName)
		k.refs[1] = w.pre.ref(capSender, sender)
		k.series.sender = w.pre.fold(capSender, sender, k.refs[1])
	}
	if k.state = optionalValue(b.CustomerActionState); k.state != "" {
		if k.refs[2] = w.pre.ref(capState, k.state); k.refs[2] == pastTally {
			k.state = overflowValue
		}
	}
	return k
}

// addDuplicate counts a record of a batch already counted.
func (w *window) addDuplicate() { w.records++ }

// addNew counts a record whose batch the caller knows is not counted yet,
// without the set of IDs add keeps; k is what keyOf returned.
func (w *window) addNew(b *b2see.Record, k *recordKey) {
	w.records++
	w.pre.count(capProductType, k.refs[0])
	w.pre.count(capSender, k.refs[1])
	key := k.series
	s := w.lastStats
	if s == nil || key != w.lastKey {
		s = w.series[key]
		if s == nil {
			s = &seriesStats{}
			w.series[key] = s
			w.pre.noteSeries(len(w.series))
		}
		w.lastKey, w.lastStats = key, s
	}
	s.batches++
	if !b.DateSent.IsZero() {
		s.sent++
	}
	if b.LandingPageWatchCount > 0 {
		s.watched++
		s.watches = addCount(s.watches, b.LandingPageWatchCount)
	}
	s.plays = addCount(s.plays, b.VideoPlayCount)
	s.clicks[0] = addCount(s.clicks[0], b.ImageLinkClicks)
	s.clicks[1] = addCount(s.clicks[1], b.FacebookClicks)
	s.clicks[2] = addCount(s.clicks[2], b.GoogleClicks)
	if k.state != "" {
		w.pre.count(capState, k.refs[2])
		state := w.pre.fold(capState, k.state, k.refs[2])
		if s.actions == nil {
			s.actions = map[string]*countValue{}
		}
		cv := s.actions[state]
		if cv == nil {
			cv = &countValue{}
			s.actions[state] = cv
			w.pre.noteEntry(capState)
		}
		cv.count++
		cv.value = addValue(cv.value, b.CustomerActionPrice)
	}
	if outcome := optionalValue(b.CustomerActionPaymentOutcome); outcome != "" {
		outcome = w.pre.value(capOutcome, outcome)
		if s.outcomes == nil {
			s.outcomes = map[string]int64{}
		}
		s.outcomes[outcome] = w.countEntry(capOutcome, s.outcomes[outcome])
	}
	if b.HasRating {
		if s.ratings == nil {
			s.ratings = map[string]int64{}
		}
		rating := w.pre.value(capRating, ratingLabel(b.CustomerRating))
		s.ratings[rating] = w.countEntry(capRating, s.ratings[rating])
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
}

// countEntry is n+1, the count of a value of label l in a series, noting
// a new entry when n is 0.
func (w *window) countEntry(l cappedLabel, n int64) int64 {
	if n == 0 {
		w.pre.noteEntry(l)
	}
	return n + 1
}

func (w *window) observeFirstWatch(productType string, secs float64) {
	h := w.hists[productType]
	if h == nil {
		h = newHistogram(timeToFirstWatchBuckets)
		w.hists[productType] = h
	}
	h.observe(secs)
}

// addCount adds a batch's count to a window sum. A negative count adds
// nothing, and the sum stops at the largest int64: counts near the top of
// int64 would otherwise wrap round and make the gauge negative.
func addCount(total, n int64) int64 {
	if n <= 0 {
		return total
	}
	if n > math.MaxInt64-total {
		return math.MaxInt64
	}
	return total + n
}

// addValue adds a price to a window sum, which stops at the largest float
// either way rather than become infinite, as the counters' sums do. The
// decoder refuses prices that are not finite; should one come anyway, it
// adds nothing.
func addValue(total, p float64) float64 {
	if math.IsInf(p, 0) || math.IsNaN(p) {
		return total
	}
	return min(max(total+p, -math.MaxFloat64), math.MaxFloat64)
}

// Ratings beyond maxRating either way share the label outOfRangeRating.
// The upstream documents no scale; 1000 leaves room for any plausible one
// while keeping labels short.
const (
	maxRating        = 1000
	outOfRangeRating = "out_of_range"
)

// ratingLabel gives a rating its label: rounded to two decimal places and
// written without trailing zeros, so that 5, 5.0 and 5.0000001 share
// rating="5", and -0 is "0". A rating beyond ±maxRating, whose digits would
// make a label hundreds of characters long, is outOfRangeRating.
func ratingLabel(r float64) string {
	if !(math.Abs(r) <= maxRating) { // NaN too
		return outOfRangeRating
	}
	r = math.Round(r*100) / 100
	if r == 0 {
		r = 0 // -0, and tiny negatives rounded to it
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// collect emits the window's gauges and histograms for account.
func (w *window) collect(ch chan<- prometheus.Metric, account string) {
	e := emitter(ch)
	for k, s := range w.series {
		sender := k.sender // "" when the sender label is off: Prometheus drops empty labels
		e.gauge(batchesDesc, float64(s.batches), account, k.productType, sender)
		e.gauge(batchesSentDesc, float64(s.sent), account, k.productType, sender)
		e.gauge(batchesWatchedDesc, float64(s.watched), account, k.productType, sender)
		e.gauge(landingPageWatchesDesc, float64(s.watches), account, k.productType, sender)
		e.gauge(videoPlaysDesc, float64(s.plays), account, k.productType, sender)
		for i, n := range s.clicks {
			e.gauge(linkClicksDesc, float64(n), account, k.productType, sender, linkNames[i])
		}
		for state, cv := range s.actions {
			e.gauge(customerActionsDesc, float64(cv.count), account, k.productType, sender, state)
			e.gauge(customerActionValueDesc, cv.value, account, k.productType, sender, state)
		}
		for outcome, n := range s.outcomes {
			e.gauge(paymentOutcomesDesc, float64(n), account, k.productType, sender, outcome)
		}
		for rating, n := range s.ratings {
			e.gauge(ratingsDesc, float64(n), account, k.productType, sender, rating)
		}
	}
	for productType, h := range w.hists {
		ch <- h.metric(timeToFirstWatchDesc, time.Time{}, account, productType)
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
