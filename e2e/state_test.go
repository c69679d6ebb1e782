package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// TestCraftedStateFileIsMovedAside: a state file with a good checksum and
// a product type that is not UTF-8 made the first scrape panic, and the
// file loaded again at each start: a crash loop. It must be moved aside,
// and the exporter serve.
func TestCraftedStateFileIsMovedAside(t *testing.T) {
	fake := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(20, 1, time.Now(), 5)})
	defer fake.Close()
	storage := t.TempDir()
	account := b2seetest.DefaultCustomerID
	// The tracker saves a product type of the same length; it is replaced
	// and the checksum (CRC-32C of all before it) made good again.
	tr := state.Open(state.Options{Dir: storage, Account: account})
	sc := tr.Begin()
	sc.Add(&state.Observation{ID: 1, ProductType: "badXY"})
	if err := sc.Commit(time.Now()); err != nil {
		t.Fatal(err)
	}
	path := state.Path(storage, account)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("badXY"))
	if i < 0 {
		t.Fatal("the product type is not in the file")
	}
	copy(data[i:], "bad\xff\xfe")
	end := len(data) - 4
	binary.LittleEndian.PutUint32(data[end:], crc32.Checksum(data[:end], crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	e := startExporter(t, []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey},
		"--b2see.url="+fake.URL, "--b2see.customer-id="+account, "--storage.path="+storage)
	for range 2 {
		code, body := e.get(t, "/metrics")
		if code != 200 {
			t.Fatalf("status %d:\n%s", code, body)
		}
		if m := parseMetrics(t, body); m.Value(`b2see_up{account="`+account+`"}`) != 1 {
			t.Fatalf("not up:\n%s", e.logs)
		}
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("moved aside to %v, want one file", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, data) {
		t.Error("the file moved aside is not the crafted one")
	}
	if logs := e.logs.String(); strings.Count(logs, "moved aside") != 1 || !strings.Contains(logs, "not UTF-8") {
		t.Errorf("the logs do not say once why the file was moved aside:\n%s", logs)
	}
}

// TestStateSurvivesKill9 kills the exporter with SIGKILL seven times while
// it scrapes 100,000 batches and saves their state: every restart must
// load the state (nothing moved aside as corrupt), and no counter served
// may go down.
func TestStateSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("scrapes 100,000 batches many times")
	}
	fake := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(100_000, 7, time.Now(), 30), Gzip: true})
	defer fake.Close()
	storage := t.TempDir()
	account := b2seetest.DefaultCustomerID
	env := []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey}
	args := []string{"--b2see.url=" + fake.URL, "--b2see.customer-id=" + account, "--storage.path=" + storage}
	path := state.Path(storage, account)

	var highest float64 // of b2see_video_plays_total, as served
	scrape := func(e *exporter) {
		t.Helper()
		code, body := e.get(t, "/metrics")
		m := parseMetrics(t, body)
		if code != 200 || m.Value(`b2see_up{account="`+account+`"}`) != 1 {
			t.Fatalf("status %d, not up:\n%s", code, e.logs)
		}
		plays := m.Sum("b2see_video_plays_total")
		if plays < highest {
			t.Fatalf("b2see_video_plays_total went down from %v to %v", highest, plays)
		}
		highest = plays
	}
	checkLoaded := func(e *exporter, round int) {
		t.Helper()
		if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
			t.Fatalf("after kill %d the state was moved aside as %v:\n%s", round, aside, e.logs)
		}
		if round > 0 && !strings.Contains(e.logs.String(), "loaded the counter state") {
			t.Fatalf("after kill %d the state was not loaded:\n%s", round, e.logs)
		}
		// What a killed save left is cleared at start.
		if left, _ := filepath.Glob(path + ".tmp-*"); len(left) != 0 {
			t.Fatalf("after kill %d, temporary files are left: %v", round, left)
		}
	}
	var duringSave int
	for round := range 7 {
		e := startExporter(t, env, args...)
		checkLoaded(e, round)
		scrape(e)
		fake.UpdateRecords(func(rs []b2seetest.Record) []b2seetest.Record {
			return b2seetest.Evolve(rs, uint64(round), time.Now())
		})
		// A scrape that changes the counters, so that it saves them: kill
		// the exporter in the midst of it, while the temporary file of the
		// save is there when that can be seen, else once it has answered.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.addr+"/metrics", nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		if waitForTempFile(path, done) {
			duringSave++
		}
		if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-e.exited
		cancel()
		<-done
	}
	t.Logf("%d of 7 kills during a save, the others just after one", duringSave)
	e := startExporter(t, env, args...)
	checkLoaded(e, 7)
	scrape(e)
	if highest == 0 {
		t.Error("the counters never grew: the test proves nothing")
	}
}

// waitForTempFile reports whether a temporary file of a save of path
// appeared before done was closed, polling for it.
func waitForTempFile(path string, done <-chan struct{}) bool {
	pattern := path + ".tmp-*"
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return true
		}
		select {
		case <-done:
			return false
		case <-tick.C:
		}
	}
}
