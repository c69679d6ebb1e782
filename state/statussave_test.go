package state

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStatusMemoryEncodesAsSaved: a file encoded from the memory holds
// what Saved returns, and re-encodes to the very bytes EncodeStatuses
// makes of it.
func TestStatusMemoryEncodesAsSaved(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Unix()
	m := NewStatusMemory()
	for _, id := range []int64{7, 3, -5, 1 << 40, 2, 9, math.MinInt64, math.MaxInt64} {
		i, _ := m.Add(id, -1)
		flags := uint8(StatusKnown)
		if id == 9 {
			flags = 0 // nothing worth keeping
		}
		m.Set(i, StatusEntry{Code: int32(id % 5), Timeout: 60, Flags: flags})
		m.List(i, 0, t0+id%3)
	}
	saved := m.Saved(4, 2, t0)
	data, err := m.Encode(4, 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeStatuses(data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := EncodeStatuses(&saved)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeStatuses(&got)
	if !slices.Equal(again, want) || !reflect.DeepEqual(got, saved) {
		t.Errorf("encoded from the memory: %+v, want %+v", got, saved)
	}
	if cap(data) != len(data) {
		t.Errorf("a file of %d bytes in a buffer of %d: not made to size", len(data), cap(data))
	}
}

// statusFileOf is a status file of the batches ids, in that order.
func statusFileOf(ids ...int64) []byte {
	buf := beginStatuses(0, 0, 1, len(ids), 0)
	for _, id := range ids {
		buf = appendStatus(buf, SavedStatus{ID: id, Seen: 1, Code: 2, Flags: StatusKnown})
	}
	return statusFile.seal(buf)
}

// TestStatusFileWithABatchTwice: a file that lists a batch twice is
// damaged, wherever the two are; one in no order but with each batch
// once loads.
func TestStatusFileWithABatchTwice(t *testing.T) {
	for _, ids := range [][]int64{{1, 1}, {1, 2, 3, 2}, {5, 1, 9, 5, 2}, {3, 2, 1, 3}} {
		if _, err := DecodeStatuses(statusFileOf(ids...)); err == nil || !strings.Contains(err.Error(), "duplicate batch") {
			t.Errorf("%v: %v, want a duplicate batch", ids, err)
		}
	}
	for _, ids := range [][]int64{{}, {1}, {1, 2, 3}, {5, 1, 9, 2}, {3, 2, 1}} {
		s, err := DecodeStatuses(statusFileOf(ids...))
		if err != nil || len(s.Batches) != len(ids) {
			t.Errorf("%v: %d batches, %v", ids, len(s.Batches), err)
		}
	}
}

// TestStatusMemoryLoadsIntoTheCountersTable: loading the status memory of
// the batches the counters hold adds no room to their table.
func TestStatusMemoryLoadsIntoTheCountersTable(t *testing.T) {
	tr := Open(Options{Account: "acme", Window: 24 * time.Hour, Grace: time.Hour})
	m := tr.StatusMemory()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := Statuses{Since: 1}
	for id := range int64(10_000) {
		m.Add(id+1, -1)
		s.Batches = append(s.Batches, SavedStatus{ID: id + 1, Seen: 1, Code: 2, Flags: StatusKnown})
	}
	for i := range m.tab.rows {
		m.Forget(i)
		m.tab.rows[i].marks |= rowCounted // the counters' rows, as after their load
	}
	rows, slots := cap(m.tab.rows), len(m.tab.index.slots)
	m.Load(&s)
	if m.Len() != len(s.Batches) || cap(m.tab.rows) != rows || len(m.tab.index.slots) != slots {
		t.Errorf("%d batches; room for %d rows and %d index slots, was %d and %d", m.Len(), cap(m.tab.rows), len(m.tab.index.slots), rows, slots)
	}
}
