package collector

import "github.com/b2see-exporter/b2see_exporter/state"

// reasonTooManySeries is the b2see_scrape_errors_total reason of a scrape
// that withheld the account's engagement series, more than its MaxSeries.
const reasonTooManySeries = "too_many_series"

// engagement returns the totals of the account's counters, and whether
// its engagement series (win's gauges and the counters of the batch
// records) are withheld for being more than MaxSeries. Withholding is
// counted, and logged when it starts and when it ends.
func (a *Account) engagement(win *window) ([]state.SeriesTotals, bool) {
	a.mu.Lock()
	counters, limit := a.opts.Counters, a.opts.MaxSeries
	a.mu.Unlock()
	var totals []state.SeriesTotals
	if counters != nil {
		totals = counters.Totals()
	}
	n := counterSeries(totals)
	if win != nil {
		n += win.seriesCount()
	}
	over := limit > 0 && n > limit

	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case over:
		a.scrapeErrs[reasonTooManySeries]++
		if !a.withholding {
			a.logger.Warn("the account's engagement series are withheld: more than the limit", "series", n, "limit", limit)
		}
	case a.withholding:
		a.logger.Info("the account's engagement series are served again: within the limit", "series", n, "limit", limit)
	}
	a.withholding = over
	if over {
		return nil, true
	}
	return totals, false
}

// counterSeries is the number of series collectCounters emits for totals.
func counterSeries(totals []state.SeriesTotals) int {
	n := 0
	for _, s := range totals {
		n += 3 + len(linkCounts) + 2*len(s.Actions)
	}
	return n
}
