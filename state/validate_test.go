package state

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// craft writes, as acme's state file under dir, what a filled tracker holds
// once change has been made to it, with a good length and checksum: a file
// only a bug, a hand or another program could write.
func craft(t *testing.T, dir string, change func(tr *Tracker)) []byte {
	t.Helper()
	tr, at := filled(t, dir)
	tr.mu.Lock()
	change(tr)
	data, _ := tr.marshal(at)
	tr.mu.Unlock()
	if err := os.WriteFile(Path(dir, "acme"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// openRefused opens acme's state under dir and fails unless its file was
// refused: moved aside whole, logged with want, and the tracker fresh.
func openRefused(t *testing.T, dir string, data []byte, want string) {
	t.Helper()
	var log bytes.Buffer
	tr := Open(Options{Dir: dir, Account: "acme", Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if n, got := tr.Status().Batches, flat(tr); n != 0 || len(got) != 0 {
		t.Fatalf("loaded %d batches and %d totals, want a fresh start", n, len(got))
	}
	aside, _ := filepath.Glob(Path(dir, "acme") + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("moved aside to %v, want one file", aside)
	}
	if data != nil {
		if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, data) {
			t.Fatal("the file moved aside differs from the refused one")
		}
	}
	if l := log.String(); strings.Count(l, "level=ERROR") != 1 || !strings.Contains(l, "moved aside") || !strings.Contains(l, want) {
		t.Fatalf("log %q does not say once that the file was moved aside because of %q", l, want)
	}
}

// TestLoadRefusesWhatCannotBeExported crafts files whose checksum is good
// but whose content no save writes: each must be refused as a whole, never
// reach a scrape. The first is the one that made every start crash.
func TestLoadRefusesWhatCannotBeExported(t *testing.T) {
	series := func(tr *Tracker) *series { return &tr.series[0] }
	tests := []struct {
		name   string
		change func(tr *Tracker)
		want   string
	}{
		{"product type not UTF-8", func(tr *Tracker) { series(tr).key.productType = "bad\xff\xfe" }, "not UTF-8"},
		{"sender not UTF-8", func(tr *Tracker) { series(tr).key.sender = "\xc3" }, "not UTF-8"},
		{"action state not UTF-8", func(tr *Tracker) { tr.strs[series(tr).actions[0].state] = "paid\x80" }, "not UTF-8"},
		{"label too long", func(tr *Tracker) { series(tr).key.productType = strings.Repeat("x", MaxStringLen+1) }, "too long"},
		{"action state twice in a series", func(tr *Tracker) { s := series(tr); s.actions = append(s.actions, s.actions[0]) }, "duplicate state"},
		{"action of no state", func(tr *Tracker) { series(tr).actions[0].state = 0 }, "state: none"},
		{"creation time out of range", func(tr *Tracker) { tr.tab.setCreated(0, MaxTime+1) }, "created: out of range"},
		{"last seen out of range", func(tr *Tracker) { tr.tab.setLastSeen(0, MinTime-1) }, "last seen: out of range"},
		{"action value negative", func(tr *Tracker) { series(tr).actions[0].value = -1 }, "action value"},
		{"batch twice", func(tr *Tracker) { tr.tab.ids[1] = tr.tab.ids[0] }, "duplicate ID"},
		{"last value above the high-water mark", func(tr *Tracker) {
			hw := tr.tab.hw(0)
			last := hw
			last[Watches]++
			tr.tab.setCounts(0, hw, last)
		}, "bad count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := craft(t, dir, tt.change)
			openRefused(t, dir, data, tt.want)
		})
	}
	t.Run("save time out of range", func(t *testing.T) {
		dir := t.TempDir()
		tr, _ := filled(t, dir)
		tr.mu.Lock()
		data, _ := tr.marshal(time.Unix(MaxTime+1, 0))
		tr.mu.Unlock()
		os.WriteFile(Path(dir, "acme"), data, 0o644)
		openRefused(t, dir, data, "save time: out of range")
	})
	t.Run("control: crafted unchanged, it loads", func(t *testing.T) {
		dir := t.TempDir()
		craft(t, dir, func(*Tracker) {})
		if tr := Open(Options{Dir: dir, Account: "acme"}); tr.Status().Batches != 2 {
			t.Fatalf("the unchanged file loaded %d batches, want 2", tr.Status().Batches)
		}
	})
}

// TestLoadRefusesMoreThanTheLimits crafts files past the limits, which no
// save writes, and checks that a save past them fails and keeps the
// previous file.
func TestLoadRefusesMoreThanTheLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("a million batches")
	}
	dir := t.TempDir()
	tr, at := filled(t, dir)
	good, err := os.ReadFile(Path(dir, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	id := tr.tab.ids[0]
	for i := tr.tab.counted; i <= MaxBatches; i++ {
		id++
		j := tr.tab.add(id)
		tr.tab.rows[j] = tr.tab.rows[0]
		tr.tab.counted++
	}
	tr.dirty = true
	tr.mu.Unlock()
	if err := tr.Save(at); err == nil || !strings.Contains(err.Error(), "not saved") {
		t.Fatalf("saving %d batches: %v, want a refusal", MaxBatches+1, err)
	}
	if kept, _ := os.ReadFile(Path(dir, "acme")); !bytes.Equal(kept, good) {
		t.Fatal("a refused save changed the file")
	}
	if st := tr.Status(); st.LastSaveOK || st.SaveFailures != 1 {
		t.Errorf("status %+v, want the refused save counted", st)
	}
	tr.mu.Lock()
	data, _ := tr.marshal(at)
	tr.mu.Unlock()
	os.WriteFile(Path(dir, "acme"), data, 0o644)
	openRefused(t, dir, data, "batches: too many")
}

// TestOversizedFileIsNotRead: a file far larger than any state file can
// be is refused from its size, without reading it.
func TestOversizedFileIsNotRead(t *testing.T) {
	dir := t.TempDir()
	path := Path(dir, "acme")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: it takes no room on the disk.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	openRefused(t, dir, nil, "file too large: 1073741824 bytes")
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing the file allocated %d bytes, want under 16 MiB", alloc)
	}
	if took > 2*time.Second {
		t.Errorf("refusing the file took %v", took)
	}
	if _, err := ReadFile(path, 10); err == nil {
		t.Error("the oversized file was not moved aside")
	}
}

func TestReadFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("0123456789"), 0o644)
	if b, err := ReadFile(path, 10); err != nil || string(b) != "0123456789" {
		t.Errorf("a file of the limit's size: %q, %v", b, err)
	}
	if _, err := ReadFile(path, 9); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a file over the limit: %v, want ErrTooLarge", err)
	}
}

// TestWhatIsCountedCanBeSaved: records that do not fit a state file are
// made to fit before they are counted, so that the file saved loads again.
func TestWhatIsCountedCanBeSaved(t *testing.T) {
	dir := t.TempDir()
	tr := Open(Options{Dir: dir, Account: "acme"})
	long := strings.Repeat("é", MaxStringLen) // twice the limit in bytes
	records := []Observation{
		{ID: 1, ProductType: "bad\xff\xfe", Sender: long, ActionState: "paid\xc3", ActionPrice: 1},
		{ID: 2, ProductType: "p", Created: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	at := run(t, tr, t0, step{records: []Observation{}}, step{records: records})
	for _, s := range tr.Totals() {
		for _, v := range []string{s.ProductType, s.Sender} {
			if !utf8.ValidString(v) || len(v) > MaxStringLen {
				t.Errorf("a label of %d bytes, valid UTF-8: %v", len(v), utf8.ValidString(v))
			}
		}
		for _, a := range s.Actions {
			if !utf8.ValidString(a.State) {
				t.Errorf("state %q is not UTF-8", a.State)
			}
		}
	}
	if err := tr.Save(at); err != nil {
		t.Fatal(err)
	}
	re := Open(Options{Dir: dir, Account: "acme"})
	if n := re.Status().Batches; n != 2 {
		t.Fatalf("the saved state loaded %d batches, want 2", n)
	}
	if got, want := flat(re), flat(tr); !reflect.DeepEqual(got, want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
	if re.tab.created(1) != 0 {
		t.Errorf("a creation time out of range was kept: %d", re.tab.created(1))
	}
}
