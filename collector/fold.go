package collector

// valueCounts are the batches in w per value of each capped label: the
// prefold's tallies for the labels it folded, else from the series.
func (w *window) valueCounts() [numCapped]map[string]int64 {
	var c [numCapped]map[string]int64
	for l := range c {
		if w.pre != nil && w.pre.tallies[l] != nil {
			c[l] = w.pre.tallies[l].counts()
		} else {
			c[l] = w.seriesCounts(cappedLabel(l))
		}
	}
	return c
}

// seriesCounts are the batches in w's series per value of label l.
func (w *window) seriesCounts(l cappedLabel) map[string]int64 {
	c := map[string]int64{}
	for k, s := range w.series {
		switch l {
		case capProductType:
			c[k.productType] += s.batches
		case capSender:
			if w.senders {
				c[k.sender] += s.batches
			}
		case capState:
			for state, cv := range s.actions {
				c[state] += cv.count
			}
		case capOutcome:
			for outcome, n := range s.outcomes {
				c[outcome] += n
			}
		case capRating:
			for rating, n := range s.ratings {
				c[rating] += n
			}
		}
	}
	return c
}

// guard looks at the labels whose watch is due (see prefold) and folds,
// there and then, each that has more values than its cap: it keeps the
// values the last read showed, sums the others' series into "other", and
// counts the label's values from then on in a tally, as for a label the
// last read folded. So no read holds more than a few thousand series,
// whatever its first records were and however many values its label
// brings. The next read chooses from the whole tally. The values are not
// chosen from the batches read so far: those are a sample of the window,
// and the values named on its strength would have counter series of their
// own, frozen once the next read chooses others, as many as the cap; a
// read with no earlier choice (the first after a start) names none.
func (w *window) guard() {
	p := w.pre
	p.pending = false
	folded := false
	if len(w.series) >= p.seriesCheck {
		folded = w.guardLabel(capProductType) || folded
		if w.senders {
			folded = w.guardLabel(capSender) || folded
		}
	}
	for _, l := range []cappedLabel{capState, capOutcome, capRating} {
		if p.entries[l] >= p.checks[l] {
			folded = w.guardLabel(l) || folded
		}
	}
	if folded {
		p.entries = w.entryCounts()
	}
	// Look again when the window has doubled, without folding.
	p.seriesCheck = max(p.seriesCheck, 2*len(w.series))
	for l := range p.checks {
		p.checks[l] = max(p.checks[l], 2*p.entries[l])
	}
}

// guardLabel folds label l if it is capped, not folded yet, and has more
// values than its cap, and reports whether it did.
func (w *window) guardLabel(l cappedLabel) bool {
	p := w.pre
	n := p.caps.of(l)
	if n <= 0 || p.tallies[l] != nil {
		return false
	}
	counts := w.seriesCounts(l)
	if len(counts) <= n {
		return false
	}
	shown := map[string]int64{}
	for v := range p.shown[l] {
		if k, seen := counts[v]; seen {
			shown[v] = k
		}
	}
	kept := map[string]bool{}
	var c valueCap // the cap may have been lowered since the last read
	if c.choose(shown, n); c.kept != nil {
		kept = c.kept
	} else {
		for v := range shown {
			kept[v] = true
		}
	}
	t := newTally(len(counts))
	t.reset(kept)
	for v, k := range counts {
		t.add(t.entry(v), k)
	}
	p.kept[l], p.tallies[l] = kept, t
	nw := w.folded(func(m cappedLabel, v string) string {
		if m != l || kept[v] {
			return v
		}
		return overflowValue
	})
	nw.seen, nw.pre = w.seen, w.pre
	*w = *nw
	return true
}

// entryCounts are the entries of each label in w's series, as
// prefold.noteEntry counts them.
func (w *window) entryCounts() [numCapped]int {
	var c [numCapped]int
	for _, s := range w.series {
		c[capState] += len(s.actions)
		c[capOutcome] += len(s.outcomes)
		c[capRating] += len(s.ratings)
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
