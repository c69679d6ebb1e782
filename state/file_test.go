package state

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// filled returns a tracker under dir with a little of everything counted.
func filled(t *testing.T, dir string) (*Tracker, time.Time) {
	t.Helper()
	tr := Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})
	b := obs(2, 7, "", 0)
	b.Sender = "bob"
	at := run(t, tr, t0,
		step{records: []Observation{obs(1, 5, "offered", 10)}},
		step{records: []Observation{obs(1, 9, "accepted", 20), b}},
		step{records: []Observation{obs(1, 3, "accepted", 20), b}},
	)
	return tr, at
}

func TestRestartContinues(t *testing.T) {
	dir := t.TempDir()
	tr, at := filled(t, dir)
	before := flat(tr)

	re := Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})
	if got := flat(re); !reflect.DeepEqual(got, before) {
		t.Fatalf("after a restart\n got %v\nwant %v", got, before)
	}
	// Same counts: no jump. Then growth beyond the saved high-water mark.
	b := obs(2, 7, "", 0)
	b.Sender = "bob"
	at = run(t, re, at, step{records: []Observation{obs(1, 3, "accepted", 20), b}})
	if got := flat(re); !reflect.DeepEqual(got, before) {
		t.Fatalf("a scrape of unchanged counts after a restart changed\n %v\nto %v", before, got)
	}
	run(t, re, at, step{records: []Observation{obs(1, 10, "accepted", 20), b}})
	if got, want := flat(re)["watches svc/alice"], before["watches svc/alice"]+1; got != want {
		t.Errorf("watches = %v after growing past the high-water mark by 1, want %v", got, want)
	}
	if st := re.Status(); !st.LastSave.Equal(at) || !st.LastSaveOK {
		t.Errorf("status = %+v, want the last save at %v", st, at)
	}
}

func TestRestartAfterEmptyStart(t *testing.T) {
	// A starting point with no batches still makes the next start count the
	// batches it finds as created.
	dir := t.TempDir()
	run(t, Open(Options{Dir: dir, Account: "acme"}), t0, step{records: []Observation{}})
	re := Open(Options{Dir: dir, Account: "acme"})
	run(t, re, t0.Add(time.Hour), step{records: []Observation{obs(1, 2, "", 0)}})
	if got := flat(re)["created svc/alice"]; got != 1 {
		t.Errorf("created = %v, want 1", got)
	}
}

func TestSaveOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	tr, at := filled(t, dir)
	path := Path(dir, "acme")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	b := obs(2, 7, "", 0)
	b.Sender = "bob"
	at = run(t, tr, at, step{records: []Observation{obs(1, 3, "accepted", 20), b}})
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a scrape that changed nothing wrote the file")
	}
	run(t, tr, at, step{records: []Observation{obs(1, 3, "paid", 20), b}})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a scrape that changed something did not write the file: %v", err)
	}
}

// TestUnusableFile cuts the file short at every length and flips every
// byte: each time the file must be refused, moved aside whole, and the
// tracker start fresh.
func TestUnusableFile(t *testing.T) {
	src := t.TempDir()
	filled(t, src)
	good, err := os.ReadFile(Path(src, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		name string
		data []byte
	}
	for n := range len(good) {
		cases = append(cases, struct {
			name string
			data []byte
		}{"cut", good[:n]})
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		cases = append(cases, struct {
			name string
			data []byte
		}{"flipped", bad})
	}
	cases = append(cases, struct {
		name string
		data []byte
	}{"extended", append(bytes.Clone(good), 0)})

	for i, c := range cases {
		dir := t.TempDir()
		path := Path(dir, "acme")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		tr := Open(Options{Dir: dir, Account: "acme", Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if got := flat(tr); len(got) != 0 || tr.Status().Batches != 0 {
			t.Fatalf("case %d (%s, %d bytes): loaded %v, want a fresh start", i, c.name, len(c.data), got)
		}
		aside, _ := filepath.Glob(path + ".corrupt-*")
		if len(aside) != 1 {
			t.Fatalf("case %d (%s): moved aside to %v, want one file", i, c.name, aside)
		}
		if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, c.data) {
			t.Fatalf("case %d (%s): the file moved aside differs from the bad one", i, c.name)
		}
		if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "moved aside") {
			t.Fatalf("case %d (%s): log %q does not say so", i, c.name, log.String())
		}
		// Fresh, not mixed: the next scrape is a starting point.
		run(t, tr, t0, step{records: []Observation{obs(1, 9, "paid", 5)}})
		if got := flat(tr); len(got) != 0 {
			t.Fatalf("case %d (%s): after the first scrape %v, want nothing counted", i, c.name, got)
		}
	}
}

func TestFileOfAnotherAccount(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir)
	// As if two accounts' names hashed alike.
	if err := os.Rename(Path(dir, "acme"), Path(dir, "other")); err != nil {
		t.Fatal(err)
	}
	tr := Open(Options{Dir: dir, Account: "other"})
	if n := tr.Status().Batches; n != 0 {
		t.Errorf("loaded %d batches of another account", n)
	}
}

func TestSaveFailure(t *testing.T) {
	// A directory under a regular file cannot be written, even by root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	tr := Open(Options{Dir: filepath.Join(file, "state"), Account: "acme", Logger: slog.New(slog.NewTextHandler(&log, nil))})
	sc := tr.Begin()
	o := obs(1, 1, "", 0)
	sc.Add(&o)
	if err := sc.Commit(t0); err == nil {
		t.Fatal("commit reported no save error")
	}
	o.Counts[Watches] = 4
	sc = tr.Begin()
	sc.Add(&o)
	sc.Commit(t0.Add(time.Minute))
	st := tr.Status()
	if st.LastSaveOK || st.SaveFailures != 2 || !st.LastSave.IsZero() {
		t.Errorf("status = %+v, want two failures and no save", st)
	}
	if got := flat(tr)["watches svc/alice"]; got != 3 {
		t.Errorf("watches = %v, want 3: counting goes on in memory", got)
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != 1 {
		t.Errorf("logged %d errors for one repeated failure, want 1:\n%s", n, log.String())
	}
}

func TestPath(t *testing.T) {
	dir := "states"
	names := []string{"acme", "Acme Motors", "Acme/Motors", "Acme_Motors", "../../etc/passwd", ".hidden", "", strings.Repeat("x", 300)}
	seen := map[string]string{}
	for _, n := range names {
		p := Path(dir, n)
		if filepath.Dir(p) != dir {
			t.Errorf("Path(%q) = %q: not directly under %q", n, p, dir)
		}
		base := filepath.Base(p)
		if strings.HasPrefix(base, ".") || len(base) > 100 || strings.ContainsAny(base, "/\\ ") {
			t.Errorf("Path(%q) = %q: not a safe file name", n, p)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("accounts %q and %q share the file %q", n, other, p)
		}
		seen[p] = n
	}
}

func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	path := Path(dir, "acme")
	if err := os.Mkdir(path, 0o755); err != nil { // reading it fails
		t.Fatal(err)
	}
	tr := Open(Options{Dir: dir, Account: "acme"})
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("moved aside to %v, want one", aside)
	}
	sc := tr.Begin()
	sc.Add(&Observation{ID: 1})
	if err := sc.Commit(t0); err != nil {
		t.Fatalf("saving after moving the unreadable file aside: %v", err)
	}
}

// TestStartTimeSurvivesRestart: the starting point's time, the counters'
// created timestamp, is saved and loaded; a rescope keeps it.
func TestStartTimeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tr := Open(Options{Dir: dir, Account: "acme", Scope: "a"})
	if st := tr.Status(); !st.Started.IsZero() {
		t.Fatalf("started %v before the starting point", st.Started)
	}
	run(t, tr, t0, step{records: []Observation{obs(1, 2, "", 0)}}, step{records: []Observation{obs(1, 3, "", 0)}})
	if got := tr.Status().Started; !got.Equal(t0) {
		t.Fatalf("started %v, want the starting point %v", got, t0)
	}
	re := Open(Options{Dir: dir, Account: "acme", Scope: "b"})
	run(t, re, t0.Add(time.Hour), step{records: []Observation{obs(1, 4, "", 0)}})
	if got := re.Status().Started; !got.Equal(t0) {
		t.Errorf("after a restart and a new scope, started %v, want %v", got, t0)
	}
}

// TestLoadsFileWithoutStartTime loads a file written before the start time
// was saved: counting goes on, with the start unknown.
func TestLoadsFileWithoutStartTime(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "before-start-time.state"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir, "acme"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	tr := Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	want, _ := filled(t, t.TempDir())
	if got := flat(tr); !reflect.DeepEqual(got, flat(want)) {
		t.Fatalf("loaded %v, want %v\nlogs: %s", got, flat(want), logs.String())
	}
	if st := tr.Status(); !st.Started.IsZero() || st.LastSave.IsZero() {
		t.Errorf("status %+v: want the save time and no start time", st)
	}
	// Saved again, the file still has no start time to give.
	run(t, tr, t0.Add(time.Hour), step{records: []Observation{obs(1, 11, "accepted", 20)}})
	re := Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour})
	if st := re.Status(); !st.Started.IsZero() || flat(re)["watches svc/alice"] != flat(tr)["watches svc/alice"] {
		t.Errorf("after a save and a restart: status %+v, counters %v", st, flat(re))
	}
}

// TestLoadsFileOfVersion2 loads a file as the build before the shared
// envelope wrote it: the counters go on where they were.
func TestLoadsFileOfVersion2(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "v2.state"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir, "acme"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	tr := Open(Options{Dir: dir, Account: "acme", Window: 30 * 24 * time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	want, at := filled(t, t.TempDir())
	if got := flat(tr); len(got) == 0 || !reflect.DeepEqual(got, flat(want)) {
		t.Fatalf("loaded %v, want %v\nlogs: %s", got, flat(want), logs.String())
	}
	if st := tr.Status(); !st.Started.Equal(t0) || !st.LastSave.Equal(at.Add(-time.Minute)) {
		t.Errorf("status %+v: want started at %v, saved at %v", st, t0, at.Add(-time.Minute))
	}
}
