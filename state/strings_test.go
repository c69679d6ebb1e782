package state

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestStringsStayBounded: an upstream that gives its batches ever new
// action states, folded into one label by the caller, leaves the tracker
// with about as many strings as its batches have states now, not every
// state it ever gave; the counters are the same as without the pruning,
// and survive a save and a load.
func TestStringsStayBounded(t *testing.T) {
	opts := Options{Dir: t.TempDir(), Account: "a", Window: 365 * 24 * time.Hour}
	tr := Open(opts)
	const batches, reads = 200, 40
	at := t0
	for read := range reads {
		readNewStates(t, tr, batches, read, at)
		at = at.Add(2 * pruneInterval)
	}
	tr.mu.Lock()
	n := len(tr.strs)
	tr.mu.Unlock()
	if n > batches+minStringsPruned+2 {
		t.Errorf("the tracker holds %d strings for %d batches, after %d reads that gave each a new state", n, batches, reads)
	}
	want := flat(tr)
	if got := want["actions svc/alice other"]; got != batches*(reads-1) {
		t.Errorf("entries into other: %v, want %d", got, batches*(reads-1))
	}

	// The batches keep their states: the same states again are no entry.
	readNewStates(t, tr, batches, reads-1, at)
	if got := flat(tr); got["actions svc/alice other"] != want["actions svc/alice other"] {
		t.Errorf("the states pruning kept are taken for new ones: entries %v, want %v", got["actions svc/alice other"], want["actions svc/alice other"])
	}

	if err := tr.Save(at); err != nil {
		t.Fatal(err)
	}
	if got, want := flat(Open(opts)), flat(tr); !reflect.DeepEqual(got, want) {
		t.Errorf("after a save and a load: %v, want %v", got, want)
	}
}

// readNewStates is read number read of batches batches, each in a state of
// its own for that read, all labelled other.
func readNewStates(t *testing.T, tr *Tracker, batches, read int, at time.Time) {
	t.Helper()
	sc := tr.Begin()
	for id := range int64(batches) {
		o := obs(id, int64(read), fmt.Sprintf("state %d.%d", read, id), 1)
		sc.Add(&o)
	}
	sc.MapLabels(func(f Label, v string) string {
		if f == LabelActionState {
			return "other"
		}
		return v
	})
	if err := sc.Commit(at); err != nil {
		t.Fatal(err)
	}
}
