package state

import "time"

// pruneSeries forgets the counter series that no remembered batch refers
// to any more, once they have been so for the grace period: those of
// batches all forgotten, and those whose batches all moved to other labels,
// such as a sender folded into "other". Until then such a series keeps its
// totals, frozen. When it is not known since when a series has been
// unreferenced (it was so when the state was loaded), that time starts now.
// t.mu must be held.
func (t *Tracker) pruneSeries(now time.Time) {
	rows := t.tab.rows
	used := make([]bool, len(t.series))
	for i := range rows {
		if rows[i].marks&rowCounted != 0 {
			used[rows[i].series] = true
		}
	}
	if t.unreferenced == nil {
		t.unreferenced = map[seriesKey]int64{}
	}
	grace := t.opts.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	cutoff := now.Add(-grace).Unix()
	remap := make([]int32, len(t.series))
	kept := t.series[:0]
	for i := range t.series {
		s := t.series[i]
		if !used[i] {
			since, ok := t.unreferenced[s.key]
			if !ok {
				since = now.Unix()
				t.unreferenced[s.key] = since
			}
			if since <= cutoff {
				delete(t.unreferenced, s.key)
				delete(t.seriesIndex, s.key)
				remap[i] = -1
				continue
			}
		} else {
			delete(t.unreferenced, s.key)
		}
		remap[i] = int32(len(kept))
		kept = append(kept, s)
	}
	if len(kept) == len(t.series) {
		return
	}
	clear(t.series[len(kept):])
	t.series = kept
	for i := range t.series {
		t.seriesIndex[t.series[i].key] = int32(i)
	}
	for i := range rows {
		if rows[i].marks&rowCounted != 0 {
			rows[i].series = remap[rows[i].series]
		}
	}
	t.dirty = true
}
