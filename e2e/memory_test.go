package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/b2see"
	"github.com/b2see-exporter/b2see_exporter/b2see/b2seetest"
)

// The memory harness runs the exporter as a user would, one account with
// counters, against the fake upstream serving n distinct batches over
// loopback, and reads the process's peak resident memory (VmHWM) after
// three scrapes: the first with no saved state, then two in the steady
// state. Run the million-batch cases with
//
//	B2SEE_TEST_MILLION=1 go test ./e2e -run 'Memory' -v
//
// and the 100,000-batch cases, which every run asserts, with
//
//	go test ./e2e -run 'Memory' -v

// vmHWM returns the peak resident memory of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc to read the peak memory from: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// resetHWM makes VmHWM of process pid start again from its current
// resident memory, so that the steady state is measured on its own.
func resetHWM(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak memory: %v", err)
	}
}

// memoryRun is one run of the harness.
type memoryRun struct {
	firstPeak     int64         // VmHWM after the first scrape, bytes
	peak          int64         // VmHWM over the two steady-state scrapes, bytes
	first, steady time.Duration // the first scrape, the last
	start         time.Duration // from starting a second process on the saved state until it serves
}

// scrapeWithin scrapes e with a scrape timeout of timeout and fails the
// test unless the account is up.
func (e *exporter) scrapeWithin(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+"/metrics", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.Itoa(int(timeout/time.Second)))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if m := parseMetrics(t, string(body)); m.Value(`b2see_up{account="`+b2seetest.DefaultCustomerID+`"}`) != 1 {
		t.Fatalf("not up:\n%s", e.logs)
	}
	return took
}

// runMemory runs the harness over n batches, with batch status tracking
// when status is set.
func runMemory(t *testing.T, n int, status bool, env ...string) memoryRun {
	t.Helper()
	fake := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(n, 1, time.Now(), 29)})
	defer fake.Close()
	warmUp(t, fake.URL)
	storage := t.TempDir()
	args := []string{"--b2see.url=" + fake.URL, "--b2see.customer-id=" + b2seetest.DefaultCustomerID,
		"--b2see.days-of-history=30", "--storage.path=" + storage}
	// The status lookups take what the scrape leaves of its timeout: a
	// short one keeps the run short, whatever n.
	timeout := 3*time.Second + time.Duration(n/50_000)*time.Second
	if status {
		args = append(args, "--b2see.batch-status", "--b2see.batches-url="+fake.BatchesURL)
	}
	env = append(env, "B2SEE_API_KEY="+b2seetest.DemoAPIKey)
	e := startExporter(t, env, args...)
	var run memoryRun
	run.first = e.scrapeWithin(t, timeout)
	run.firstPeak = vmHWM(t, e.cmd.Process.Pid)
	resetHWM(t, e.cmd.Process.Pid)
	for range 2 {
		run.steady = e.scrapeWithin(t, timeout)
	}
	run.peak = vmHWM(t, e.cmd.Process.Pid)
	e.stop()

	// Start-up on the saved state: until the exporter serves.
	start := time.Now()
	again := startExporter(t, env, args...)
	run.start = time.Since(start)
	again.stop()
	return run
}

const mb = 1 << 20

// TestMemoryOfAHundredThousandBatches asserts the target of 100,000
// batches: a steady-state peak of at most 60 MB (about 26 MB with
// counters, 44 with batch status too, when written).
func TestMemoryOfAHundredThousandBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the exporter over 100,000 batches")
	}
	checkMemory(t, 100_000, 60*mb, 60*mb)
}

// TestMemoryOfAMillionBatches asserts the targets of 1,000,000 batches: a
// steady-state peak of at most 200 MB with counters (about 90 MB when
// written) and with batch status too (about 100 MB), batch status adding
// at most 20% (about 12% when written), and a start on the saved state in
// at most a second, with counters (about 0.3–0.5 s when
// written) and with batch status too (about 0.4–0.6 s).
func TestMemoryOfAMillionBatches(t *testing.T) {
	if os.Getenv("B2SEE_TEST_MILLION") == "" {
		t.Skip("set B2SEE_TEST_MILLION=1 to run the exporter over a million batches")
	}
	counters, status := checkMemory(t, 1_000_000, 200*mb, 200*mb)
	for _, r := range []struct {
		what string
		run  memoryRun
	}{{"counters", counters}, {"counters and batch status", status}} {
		if r.run.start > time.Second {
			t.Errorf("the exporter served %v after starting on the state of a million batches with %s, want at most 1 s", r.run.start, r.what)
		}
	}
}

// statusShare is the most batch status may add to the steady-state peak
// of the counters alone.
const statusShare = 1.20

// checkMemory runs the harness over n batches, with counters and then
// with batch status too, and fails when a steady-state peak passes most,
// or statusMost with batch status, or when batch status adds more than
// statusShare.
func checkMemory(t *testing.T, n int, most, statusMost int64) (counters, status memoryRun) {
	counters = runMemory(t, n, false)
	t.Logf("%d batches, counters: steady-state peak %.1f MB (first scrape %.1f MB), first scrape %v, steady %v (%.2f×), start %v",
		n, float64(counters.peak)/mb, float64(counters.firstPeak)/mb, counters.first, counters.steady, float64(counters.first)/float64(counters.steady), counters.start)
	status = runMemory(t, n, true)
	t.Logf("%d batches, counters and status: steady-state peak %.1f MB (%.2f× without status; first scrape %.1f MB), start %v",
		n, float64(status.peak)/mb, float64(status.peak)/float64(counters.peak), float64(status.firstPeak)/mb, status.start)
	if ratio := float64(status.peak) / float64(counters.peak); ratio > statusShare {
		t.Errorf("with %d batches, batch status makes the steady-state peak %.2f× that of the counters alone, want at most %.2f×", n, ratio, statusShare)
	}
	for _, r := range []struct {
		what string
		run  memoryRun
		most int64
	}{{"counters", counters, most}, {"counters and batch status", status, statusMost}} {
		if r.most > 0 && r.run.peak > r.most {
			t.Errorf("steady-state peak memory %.1f MB with %d batches and %s, want at most %d MB", float64(r.run.peak)/mb, n, r.what, r.most/mb)
		}
	}
	return counters, status
}

// TestMemoryOfAHugeAnswer streams about 2 GiB of distinct valid records,
// each with a sender and a product type of its own,
// past the body cap raised to 4 GiB: the read stops at the millionth
// batch as too_large, with its own reason, and the peak stays at most
// 200 MB.
func TestMemoryOfAHugeAnswer(t *testing.T) {
	if os.Getenv("B2SEE_TEST_MILLION") == "" {
		t.Skip("set B2SEE_TEST_MILLION=1 to stream a 2 GiB answer")
	}
	srv := endlessRecords(t, 2<<30)
	e := startExporter(t, []string{"B2SEE_API_KEY=" + b2seetest.DemoAPIKey},
		"--b2see.url="+srv, "--b2see.customer-id="+b2seetest.DefaultCustomerID,
		"--b2see.days-of-history=30", "--storage.path="+t.TempDir(), "--b2see.max-body-size=4GiB")
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+"/metrics", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := parseMetrics(t, string(body))
	if got := m.Value(`b2see_scrape_errors_total{account="` + b2seetest.DefaultCustomerID + `",reason="too_large"}`); got != 1 {
		t.Errorf("too_large errors %v, want 1; logs:\n%s", got, e.logs)
	}
	if !strings.Contains(e.logs.String(), "distinct batches") {
		t.Errorf("the log does not say the answer listed too many batches:\n%s", e.logs)
	}
	peak := vmHWM(t, e.cmd.Process.Pid)
	t.Logf("peak %.1f MB over an answer of distinct records cut at the millionth", float64(peak)/mb)
	if peak > 200*mb {
		t.Errorf("peak memory %.1f MB over a huge answer, want at most 200 MB", float64(peak)/mb)
	}
}

// warmUp reads the cakes of the fake at url once, so that the fake has
// rendered its answer before the exporter's first scrape is timed, and
// returns the answer.
func warmUp(t *testing.T, url string) []byte {
	t.Helper()
	client, err := b2see.NewClient(b2see.Config{URL: url, CustomerID: b2seetest.DefaultCustomerID, APIKey: b2seetest.DemoAPIKey, DaysOfHistory: 30})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(client.Endpoint() + "?customerId=" + b2seetest.DefaultCustomerID + "&apiKey=" + b2seetest.DemoAPIKey + "&daysOfHistory=30")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// endlessRecords serves, at a cakes URL it returns, a JSON array of about
// size bytes of valid records with distinct batch IDs, each sent by a
// sender of its own with a product type of its own, made as they are
// sent.
func endlessRecords(t *testing.T, size int64) string {
	t.Helper()
	one := b2seetest.NewServer(b2seetest.Config{Records: b2seetest.Generate(1, 1, time.Now(), 1)})
	page := warmUp(t, one.URL)
	one.Close()
	rec := bytes.TrimSuffix(bytes.TrimPrefix(bytes.TrimSpace(page), []byte("[")), []byte("]"))
	// The record cut at its fields that change: the ID, the sender and the
	// product type, in the order they come.
	type cut struct {
		at, end int
		format  string
	}
	var cuts []cut
	for field, format := range map[string]string{
		`"BatchId":\s*\d+`:             `"BatchId":%d`,
		`"SendingUserName":\s*"[^"]*"`: `"SendingUserName":"Sender %d"`,
		`"ProductType":\s*"[^"]*"`:     `"ProductType":"Product type %d"`,
	} {
		loc := regexp.MustCompile(field).FindIndex(rec)
		if loc == nil {
			t.Fatalf("no %s in %.200s", field, rec)
		}
		cuts = append(cuts, cut{loc[0], loc[1], format})
	}
	slices.SortFunc(cuts, func(a, b cut) int { return a.at - b.at })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString("[")
		var sent int64
		for id := int64(1); sent < size; id++ {
			if id > 1 {
				bw.WriteString(",")
				sent++
			}
			from := 0
			for _, c := range cuts {
				bw.Write(rec[from:c.at])
				n, _ := fmt.Fprintf(bw, c.format, id)
				sent += int64(c.at-from) + int64(n)
				from = c.end
			}
			n, err := bw.Write(rec[from:])
			if err != nil {
				return // the exporter stopped reading
			}
			sent += int64(n)
		}
		bw.WriteString("]")
		bw.Flush()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/PublicAPI"
}
