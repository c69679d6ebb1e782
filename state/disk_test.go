package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// TestSaveOnFullDiskKeepsThePreviousFile fills a small file system: a
// save that fails for want of room must leave the last good file whole,
// loadable, and nothing else behind; counting goes on in memory and the
// next save once there is room writes it all.
func TestSaveOnFullDiskKeepsThePreviousFile(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (%v): it takes root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })

	records := make([]Observation, 2000)
	for i := range records {
		records[i] = obs(int64(i+1), 1, "", 0)
	}
	tr := Open(Options{Dir: dir, Account: "acme"})
	at := run(t, tr, t0, step{records: []Observation{}}, step{records: records})
	path := Path(dir, "acme")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	saved := flat(tr)

	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for i := 0; ; i++ {
		if _, err := fill.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
		if i > 1<<10 {
			t.Fatal("the file system never filled")
		}
	}
	for i := range records {
		records[i].Counts[Watches] = 5
	}
	sc := tr.Begin()
	for i := range records {
		sc.Add(&records[i])
	}
	if err := sc.Commit(at); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("saving on a full disk: %v, want ENOSPC", err)
	}
	if kept, _ := os.ReadFile(path); !bytes.Equal(kept, good) {
		t.Fatal("a save that failed for want of room changed the file")
	}
	if left, _ := filepath.Glob(path + ".tmp-*"); len(left) != 0 {
		t.Errorf("a failed save left %v", left)
	}
	if got := flat(Open(Options{Dir: dir, Account: "acme"})); !reflect.DeepEqual(got, saved) {
		t.Errorf("the file kept loads %v, want %v", got, saved)
	}
	if st := tr.Status(); st.LastSaveOK || st.SaveFailures != 1 {
		t.Errorf("status %+v, want the failure counted", st)
	}

	fill.Close()
	os.Remove(fill.Name())
	if err := tr.Save(at.Add(time.Minute)); err != nil {
		t.Fatalf("saving once there is room: %v", err)
	}
	if got, want := flat(Open(Options{Dir: dir, Account: "acme"})), flat(tr); !reflect.DeepEqual(got, want) || reflect.DeepEqual(got, saved) {
		t.Errorf("after the disk has room again the file loads %v, want %v", got, want)
	}
}

// TestOpenRemovesWhatAKilledSaveLeft: the temporary files of a save cut
// short by a crash are removed at the next start, the other files kept.
func TestOpenRemovesWhatAKilledSaveLeft(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir)
	path := Path(dir, "acme")
	left := path + ".tmp-123456"
	other := Path(dir, "other") + ".tmp-123456"
	for _, f := range []string{left, other} {
		if err := os.WriteFile(f, []byte("half a save"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if tr := Open(Options{Dir: dir, Account: "acme"}); tr.Status().Batches == 0 {
		t.Fatal("the state did not load")
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file of a killed save is left: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another account's file was touched: %v", err)
	}
}
