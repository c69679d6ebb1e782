package state

import (
	"testing"
	"time"
)

// TestStatusMemorySavedAndRestored: what the memory saves comes back as it
// was, but for what only a running tracker needs.
func TestStatusMemorySavedAndRestored(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Unix()
	m := NewStatusMemory()
	want := map[int64]StatusEntry{
		1:       {Code: 3, Timeout: 60, Seen: t0, Flags: StatusKnown | StatusFailedCounted},
		-5:      {Code: -1, Timeout: 0, Seen: t0 + 1, Flags: StatusKnown | StatusTimedOutCounted},
		1 << 40: {Code: 1, Timeout: 129600, Seen: t0 + 2, Flags: StatusKnown},
		// A time past what a row holds as it is.
		2: {Code: 1 << 30, Timeout: -7, Seen: MaxTime, Flags: StatusBaseline},
	}
	for id, e := range want {
		i, _ := m.Add(id, -1)
		m.Set(i, e)
		m.List(i, 0, e.Seen)
	}
	i, _ := m.Add(9, -1) // nothing known: not kept
	m.Set(i, StatusEntry{Code: 2})
	m.List(i, 5, t0)
	m.MarkAsked(i)
	saved := m.Saved(7, 300, t0)
	data, err := EncodeStatuses(&saved)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := DecodeStatuses(data)
	if err != nil {
		t.Fatal(err)
	}
	got := NewStatusMemory()
	got.Load(&loaded)
	if loaded.Failures != 7 || loaded.Timeouts != 300 || loaded.Since != t0 || got.Len() != len(want) {
		t.Fatalf("restored %+v, %d batches", loaded, got.Len())
	}
	for id, e := range want {
		i, ok := got.Find(id, -1)
		if !ok {
			t.Errorf("batch %d lost", id)
			continue
		}
		if g := got.Entry(i); g != e {
			t.Errorf("batch %d: %+v, want %+v", id, g, e)
		}
	}
}

// TestStatusMemorySharesTheCounters: with counters, the status memory
// keeps its batches in their table, one row per batch, and each memory
// forgets its batches without the other losing them.
func TestStatusMemorySharesTheCounters(t *testing.T) {
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	tr := Open(Options{Account: "acme", Window: 24 * time.Hour, Grace: time.Hour})
	m := tr.StatusMemory()
	sc := tr.Begin()
	for id := int64(1); id <= 3; id++ {
		sc.Add(&Observation{ID: id, ProductType: "p", Created: now.Add(-48 * time.Hour), Counts: Counts{Plays: id}})
	}
	sc.Commit(now)
	tr.mu.Lock()
	for _, id := range []int64{2, 3, 4} {
		i, _ := m.Add(id, -1)
		m.Set(i, StatusEntry{Code: 1, Flags: StatusKnown})
		m.List(i, now.Unix(), now.Unix())
	}
	if rows := m.Rows(); rows != 4 {
		t.Fatalf("%d rows for 4 batches", rows)
	}
	tr.mu.Unlock()

	// Past the grace period the counters forget their batches; the status
	// memory keeps 2 and 3 until it forgets them itself.
	later := now.Add(26 * time.Hour)
	tr.Begin().Commit(later)
	tr.mu.Lock()
	if n, rows := tr.tab.counted, m.Rows(); n != 0 || rows != 3 {
		t.Errorf("after pruning the counters: %d counted, %d rows; want 0 and 3", n, rows)
	}
	for _, id := range []int64{2, 3, 4} {
		if i, ok := m.Find(id, -1); !ok || m.Entry(i).Code != 1 {
			t.Errorf("batch %d lost its status when the counters forgot it", id)
		}
	}
	i, _ := m.Find(3, -1)
	m.Forget(i)
	m.Compact()
	if rows := m.Rows(); rows != 2 || m.Len() != 2 {
		t.Errorf("after forgetting a status: %d rows, %d statuses; want 2", rows, m.Len())
	}
	tr.mu.Unlock()
}
