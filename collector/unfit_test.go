package collector

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// TestUnfitLabelValueIsLeftOutNotPanicked: a label value that is not
// UTF-8, which the upstream's decoder never yields, must not crash the
// scrape: the metrics it would label are left out and reported, and the
// page is served with all the others.
func TestUnfitLabelValueIsLeftOutNotPanicked(t *testing.T) {
	batches := testBatches()
	bad := batches[0]
	bad.ID, bad.ProductType = 99, "bad\xff\xfe"
	src := &memSource{batches: append(batches, bad)}
	acc := newTestAccount(src, func(o *AccountOptions) { o.Counters = state.Open(state.Options{Account: "north"}) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectorFor(acc))
	logger, log := testlog.Logger()
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
	})
	// Twice: the first read is the counters' starting point, the second
	// counts.
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("status %d:\n%s", rec.Code, body)
		}
		for _, want := range []string{
			`b2see_up{account="north"} 1`,
			`b2see_batches{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 2`,
			`b2see_batches_created_total{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 0`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %s:\n%s", want, body)
			}
		}
		if strings.Contains(body, "bad\xff") {
			t.Error("the page holds the label value that is not UTF-8")
		}
	}
	if !strings.Contains(log.String(), "not valid UTF-8") {
		t.Errorf("the unfit metrics are not reported:\n%s", log.String())
	}
}

// statusFile frames body as a batch status memory, with its checksum: a
// file only a bug, a hand or another program could write.
func statusFile(body ...int64) []byte {
	b := []byte(statusMagicString)
	for i, v := range body {
		switch {
		case i < 2 || i == 3: // the counters, the number of batches
			b = binary.AppendUvarint(b, uint64(v))
		case i > 3 && (i-4)%5 == 4:
			b = append(b, byte(v)) // flags
		default:
			b = binary.AppendVarint(b, v)
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// TestStatusMemoryRefusesWhatEncodeNeverWrites: a memory with a good
// checksum but content no save writes is refused whole.
func TestStatusMemoryRefusesWhatEncodeNeverWrites(t *testing.T) {
	now := t0.Unix()
	// failures, timeouts, since, number of batches, then per batch its ID,
	// code, timeout, when last seen and flags.
	good := []int64{1, 2, now, 2, 10, 3, 60, now, flagKnown | flagFailedCounted, 11, 0, 5, now, flagKnown}
	if _, err := decodeStatusMemory(statusFile(good...)); err != nil {
		t.Fatalf("the control does not decode: %v", err)
	}
	with := func(i int, v int64) []int64 {
		b := append([]int64(nil), good...)
		b[i] = v
		return b
	}
	for name, body := range map[string][]int64{
		"start time out of range": with(2, state.MaxTime+1),
		"code past an int32":      with(5, 1<<31),
		"timeout past an int32":   with(6, -1<<31-1),
		"last seen out of range":  with(7, state.MinTime-1),
		"unknown flags":           with(8, 0x80),
		"no flags":                with(8, 0),
		"batch twice":             with(9, 10),
	} {
		if m, err := decodeStatusMemory(statusFile(body...)); err == nil {
			t.Errorf("%s: decoded %d batches without error", name, len(m.batches))
		}
	}
}

// TestStatusMemoryPastTheLimit: a memory of more batches than a state
// file may hold is neither saved nor loaded.
func TestStatusMemoryPastTheLimit(t *testing.T) {
	m := newStatusMemory()
	for id := range int64(state.MaxBatches + 1) {
		m.put(batchEntry{id: id, seen: t0.Unix(), flags: flagKnown})
	}
	if _, err := m.encode(); err == nil {
		t.Error("a memory past the limit was saved")
	}
	body := []int64{0, 0, t0.Unix(), state.MaxBatches + 1}
	for id := range int64(state.MaxBatches + 1) {
		body = append(body, id, 0, 0, t0.Unix(), flagKnown)
	}
	if _, err := decodeStatusMemory(statusFile(body...)); err == nil || err.Error() != "too many batches" {
		t.Errorf("loading a memory past the limit: %v, want too many batches", err)
	}
}

// TestStatusOversizedMemoryIsNotRead: a file far larger than a memory can
// be is moved aside from its size, without reading it.
func TestStatusOversizedMemoryIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "north.status")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: no room taken
		t.Fatal(err)
	}
	f.Close()
	logger, log := testlog.Logger()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	tr := newStatusTracker(StatusOptions{Client: newMemLookup(), StateFile: path}, logger, func() time.Time { return t0 }, func(error, time.Duration) {})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing the file allocated %d bytes, want under 16 MiB", alloc)
	}
	if took > 2*time.Second {
		t.Errorf("refusing the file took %v", took)
	}
	if !tr.fresh || tr.noSave != nil {
		t.Errorf("fresh %v, saves refused: %v", tr.fresh, tr.noSave)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("moved aside to %v, want one file", aside)
	}
	if !strings.Contains(log.String(), "moved aside") || !strings.Contains(log.String(), "file too large: 1073741824 bytes") {
		t.Errorf("the log does not say why:\n%s", log.String())
	}
}

// statusCollector exports a status tracker's metrics.
type statusCollector struct{ t *statusTracker }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c statusCollector) Collect(ch chan<- prometheus.Metric) { c.t.collect(ch, "north", t0) }

// FuzzLoadStatusMemory: loading never panics, and whatever loads can be
// exported without error and saves to a file that loads the same.
func FuzzLoadStatusMemory(f *testing.F) {
	m := newStatusMemory()
	m.failures, m.timeouts, m.since = 3, 1, t0.Unix()
	m.put(batchEntry{id: 7, code: 3, timeout: 60, seen: t0.Unix(), flags: flagKnown | flagFailedCounted})
	m.put(batchEntry{id: 8, code: 9, timeout: -1, seen: t0.Unix(), flags: flagKnown | flagBaseline})
	seed, err := m.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed[len(statusMagic) : len(seed)-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append([]byte(statusMagicString), body...)
		data = binary.BigEndian.AppendUint32(data, crc32.ChecksumIEEE(data))
		mem, err := decodeStatusMemory(data)
		if err != nil {
			return
		}
		tr := newStatusTracker(StatusOptions{Client: newMemLookup(), Statuses: exampleStatuses}, slog.New(slog.DiscardHandler), func() time.Time { return t0 }, func(error, time.Duration) {})
		tr.mem, tr.gen = mem, 1
		for i := range tr.mem.batches {
			e := &tr.mem.batches[i]
			e.phase, e.gen, e.created = phaseIndex(tr.mapping(e.code).Phase), 1, e.seen
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(statusCollector{tr})
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("what loaded cannot be exported: %v", err)
		}
		saved, err := mem.encode()
		if err != nil {
			t.Fatalf("what loaded cannot be saved: %v", err)
		}
		again, err := decodeStatusMemory(saved)
		if err != nil {
			t.Fatalf("what loaded saves to a file that does not load: %v", err)
		}
		if resaved, _ := again.encode(); !bytes.Equal(resaved, saved) {
			t.Fatal("what loaded saves to a file that loads otherwise")
		}
	})
}
