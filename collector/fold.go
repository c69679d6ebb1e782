package collector

// valueCounts are the batches in w per value of each capped label: the
// prefold's tallies for the labels it folded, else from the series.
func (w *window) valueCounts() [numCapped]map[string]int64 {
	var c [numCapped]map[string]int64
	for l := range c {
		c[l] = map[string]int64{}
	}
	for k, s := range w.series {
		c[capProductType][k.productType] += s.batches
		if w.senders {
			c[capSender][k.sender] += s.batches
		}
		for state, cv := range s.actions {
			c[capState][state] += cv.count
		}
		for outcome, n := range s.outcomes {
			c[capOutcome][outcome] += n
		}
		for rating, n := range s.ratings {
			c[capRating][rating] += n
		}
	}
	if w.pre != nil {
		for l, t := range w.pre.tallies {
			if t != nil {
				c[l] = t.counts()
			}
		}
	}
	return c
}

// folded returns a copy of w with each label value mapped by fold, the
// series that meet summed.
func (w *window) folded(fold func(cappedLabel, string) string) *window {
	out := &window{
		series:  make(map[seriesKey]*seriesStats, len(w.series)),
		hists:   make(map[string]*histogram, len(w.hists)),
		records: w.records,
		senders: w.senders,
		labels:  w.labels,
	}
	for k, s := range w.series {
		k = seriesKey{productType: fold(capProductType, k.productType), sender: k.sender}
		if w.senders {
			k.sender = fold(capSender, k.sender)
		}
		t := out.series[k]
		if t == nil {
			t = &seriesStats{}
			out.series[k] = t
		}
		t.merge(s, fold)
	}
	for pt, h := range w.hists {
		pt = fold(capProductType, pt)
		t := out.hists[pt]
		if t == nil {
			t = newHistogram(h.bounds)
			out.hists[pt] = t
		}
		t.merge(h)
	}
	return out
}

// merge adds the gauges of s to t, its states, outcomes and ratings
// mapped by fold.
func (t *seriesStats) merge(s *seriesStats, fold func(cappedLabel, string) string) {
	t.batches = addCount(t.batches, s.batches)
	t.sent = addCount(t.sent, s.sent)
	t.watched = addCount(t.watched, s.watched)
	t.watches = addCount(t.watches, s.watches)
	t.plays = addCount(t.plays, s.plays)
	for i, n := range s.clicks {
		t.clicks[i] = addCount(t.clicks[i], n)
	}
	for state, cv := range s.actions {
		if t.actions == nil {
			t.actions = map[string]*countValue{}
		}
		state = fold(capState, state)
		tv := t.actions[state]
		if tv == nil {
			tv = &countValue{}
			t.actions[state] = tv
		}
		tv.count = addCount(tv.count, cv.count)
		tv.value = addValue(tv.value, cv.value)
	}
	t.outcomes = mergeCounts(t.outcomes, s.outcomes, func(v string) string { return fold(capOutcome, v) })
	t.ratings = mergeCounts(t.ratings, s.ratings, func(v string) string { return fold(capRating, v) })
}

// mergeCounts adds from to into, its keys mapped by fold.
func mergeCounts(into, from map[string]int64, fold func(string) string) map[string]int64 {
	for v, n := range from {
		if into == nil {
			into = map[string]int64{}
		}
		v = fold(v)
		into[v] = addCount(into[v], n)
	}
	return into
}

// merge adds the observations of o, of the same buckets, to h.
func (h *histogram) merge(o *histogram) {
	h.count += o.count
	h.sum += o.sum
	for i, n := range o.counts {
		h.counts[i] += n
	}
}

// seriesCount is the number of series w's collect emits.
func (w *window) seriesCount() int {
	n := 0
	for _, s := range w.series {
		n += 5 + len(s.clicks) + 2*len(s.actions) + len(s.outcomes) + len(s.ratings)
	}
	// A histogram is a series per bucket, +Inf, _sum and _count.
	return n + len(w.hists)*(len(timeToFirstWatchBuckets)+3)
}
