package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// The counters grow by what each batch's counts grew between successful
// scrapes, as package state keeps them: the first scrape with no saved
// state is where they start from, a count going down upstream never makes
// them go down, and a failed scrape changes nothing. They survive restarts
// through the state file and keep their values while the upstream fails.
var (
	batchesCreatedDesc = newDesc("batches_created_total",
		"Batches first seen since counting started (batches present when it started are not counted).", seriesLabels)
	landingPageWatchesTotalDesc = newDesc("landing_page_watches_total",
		"Growth of the batches' landing page watch counts between successful scrapes; a count going down upstream is not subtracted and its re-growth not counted twice.", seriesLabels)
	videoPlaysTotalDesc = newDesc("video_plays_total",
		"Growth of the batches' video play counts between successful scrapes; a count going down upstream is not subtracted and its re-growth not counted twice.", seriesLabels)
	linkClicksTotalDesc = newDesc("link_clicks_total",
		"Growth of the batches' link click counts between successful scrapes, by link; a count going down upstream is not subtracted and its re-growth not counted twice.", seriesLabels, "link")
	customerActionsTotalDesc = newDesc("customer_actions_total",
		"Batches entering a customer action state, by state; a batch going back and forth counts each entry.", seriesLabels, "state")
	customerActionValueTotalDesc = newDesc("customer_action_value_total",
		"Sum of the prices of the batches entering a customer action state, taken at entry, by state, in the account's currency; negative prices count as 0.", seriesLabels, "state")
	countCorrectionsDesc = newDesc("count_corrections_total",
		"Times an upstream count of a batch went down between successful scrapes.", []string{labelAccount})
	stateLastSaveDesc = newDesc("state_last_save_timestamp_seconds",
		"Unix time of the last successful save of the account's counter state.", []string{labelAccount})
	stateLastSaveSuccessfulDesc = newDesc("state_last_save_successful",
		"1 if the last save of the account's counter state succeeded (or none was tried yet), 0 if it failed.", []string{labelAccount})
	stateSaveFailuresDesc = newDesc("state_save_failures_total",
		"Failed saves of the account's counter state since the exporter started.", []string{labelAccount})
)

var counterDescs = []*prometheus.Desc{
	batchesCreatedDesc, landingPageWatchesTotalDesc, videoPlaysTotalDesc, linkClicksTotalDesc,
	customerActionsTotalDesc, customerActionValueTotalDesc, countCorrectionsDesc,
	stateLastSaveDesc, stateLastSaveSuccessfulDesc, stateSaveFailuresDesc,
}

// observation is what the counters take of a record, where k says, the
// series labels the window gave it. Its action state is the upstream's
// (cleaned, not folded): whether a batch entered a state is told from it;
// only a state past the read's tally (see maxTallyValues) is
// overflowValue.
func observation(o *state.Observation, b *b2see.Record, k *recordKey) {
	*o = state.Observation{
		ID:          b.ID,
		ProductType: k.series.productType,
		Sender:      k.series.sender,
		Created:     b.DateCreated,
		Counts: state.Counts{
			state.Watches:        b.LandingPageWatchCount,
			state.Plays:          b.VideoPlayCount,
			state.ImageClicks:    b.ImageLinkClicks,
			state.FacebookClicks: b.FacebookClicks,
			state.GoogleClicks:   b.GoogleClicks,
		},
		ActionState: k.state,
		ActionPrice: b.CustomerActionPrice,
	}
}

// linkCounts are the state.Counts of b2see_link_clicks_total, in the order
// of linkNames.
var linkCounts = [len(linkNames)]int{state.ImageClicks, state.FacebookClicks, state.GoogleClicks}

// collectCounters emits the counters of tr for account, those of the batch
// records from totals (none when they are withheld). Those have counted
// since counting started, when that is known; save failures since the
// tracker was opened.
func collectCounters(ch chan<- prometheus.Metric, tr *state.Tracker, totals []state.SeriesTotals, account string) {
	st := tr.Status()
	e := emitter(ch)
	count := func(d *prometheus.Desc, v float64, labels ...string) {
		e.counter(d, v, st.Started, labels...)
	}
	for _, s := range totals {
		count(batchesCreatedDesc, float64(s.Created), account, s.ProductType, s.Sender)
		count(landingPageWatchesTotalDesc, float64(s.Counts[state.Watches]), account, s.ProductType, s.Sender)
		count(videoPlaysTotalDesc, float64(s.Counts[state.Plays]), account, s.ProductType, s.Sender)
		for i, c := range linkCounts {
			count(linkClicksTotalDesc, float64(s.Counts[c]), account, s.ProductType, s.Sender, linkNames[i])
		}
		for _, a := range s.Actions {
			count(customerActionsTotalDesc, float64(a.Count), account, s.ProductType, s.Sender, a.State)
			count(customerActionValueTotalDesc, a.Value, account, s.ProductType, s.Sender, a.State)
		}
	}
	count(countCorrectionsDesc, float64(st.Corrections), account)
	if !st.Persistent {
		return
	}
	if !st.LastSave.IsZero() {
		e.gauge(stateLastSaveDesc, float64(st.LastSave.UnixNano())/1e9, account)
	}
	ok := 0.0
	if st.LastSaveOK {
		ok = 1
	}
	e.gauge(stateLastSaveSuccessfulDesc, ok, account)
	e.counter(stateSaveFailuresDesc, float64(st.SaveFailures), st.Opened, account)
}
