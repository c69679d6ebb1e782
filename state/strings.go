package state

// pruneStrings forgets the action states that no batch and no series
// refers to any more, once they are at least half of the tracker's
// strings and 1,024 or more: an upstream that gives its batches ever new
// states would otherwise grow the strings, in memory and in the state
// file, by every state it ever gave. A series' states stay as long as the
// series. t.mu must be held.
func (t *Tracker) pruneStrings() {
	used := make([]bool, len(t.strs))
	used[0] = true
	tab := t.tab
	for i := range tab.rows {
		used[tab.ref(i, 0)] = true
	}
	for i := range t.series {
		for _, a := range t.series[i].actions {
			used[a.state] = true
		}
	}
	unused := 0
	for _, u := range used {
		if !u {
			unused++
		}
	}
	if unused < minStringsPruned || 2*unused < len(t.strs) {
		return
	}
	remap := make([]int32, len(t.strs))
	kept := t.strs[:0]
	clear(t.strIndex)
	for i, s := range t.strs {
		if !used[i] {
			continue
		}
		remap[i] = int32(len(kept))
		t.strIndex[s] = int32(len(kept))
		kept = append(kept, s)
	}
	clear(t.strs[len(kept):])
	t.strs = kept
	for i := range tab.rows {
		if v := tab.ref(i, 0); remap[v] != v {
			tab.setRef(i, 0, remap[v])
		}
	}
	for i := range t.series {
		for j := range t.series[i].actions {
			a := &t.series[i].actions[j]
			a.state = remap[a.state]
		}
	}
	t.dirty = true
}

// minStringsPruned is the fewest unused strings pruneStrings forgets.
const minStringsPruned = 1024
