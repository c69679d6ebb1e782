package collector

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/b2see-exporter/b2see_exporter/internal/fixture"
	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
	"github.com/b2see-exporter/b2see_exporter/state"
)

// TestUnfitLabelValueIsLeftOutNotPanicked: a label value that is not
// UTF-8 must not crash the scrape. One from the upstream is made fit
// (its bad bytes replaced) and served; should one reach a metric anyway,
// the metric is an invalid one that the registry leaves out and reports,
// and the page is served with all the others.
func TestUnfitLabelValueIsLeftOutNotPanicked(t *testing.T) {
	batches := testBatches()
	bad := batches[0]
	bad.ID, bad.ProductType = 99, "bad\xff\xfe"
	src := &memSource{batches: append(batches, bad)}
	acc := newTestAccount(src, func(o *AccountOptions) { o.Counters = state.Open(state.Options{Account: "north"}) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectorFor(acc), unfitCollector{})
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
			`b2see_window_batches{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 2`,
			`b2see_batches_created_total{account="north",product_type="aftersales_via_portal",sender="Rory Walsh"} 0`,
			"b2see_window_batches{account=\"north\",product_type=\"bad\ufffd\",sender=\"Rory Walsh\"} 1", // a run of bad bytes is one U+FFFD
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %s:\n%s", want, body)
			}
		}
		if strings.Contains(body, "\xff") {
			t.Error("the page holds a label value that is not UTF-8")
		}
	}
	if !strings.Contains(log.String(), "not valid UTF-8") {
		t.Errorf("the unfit metrics are not reported:\n%s", log.String())
	}
}

// unfitCollector emits a metric whose label value is not UTF-8, through
// constMetric, as if one had slipped past labelValue.
type unfitCollector struct{}

func (unfitCollector) Describe(chan<- *prometheus.Desc) {} // unchecked

func (unfitCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- constMetric(batchesDesc, prometheus.GaugeValue, 1, "south", "bad\xff", "x")
}

// TestStatusOversizedMemoryIsNotRead: a file far larger than a memory can
// be is moved aside from its size, without reading it.
func TestStatusOversizedMemoryIsNotRead(t *testing.T) {
	path := fixture.SparseFile(t, "north.status", 1<<30)
	logger, log := testlog.Logger()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	tr := newStatusTracker(StatusOptions{Client: newMemLookup(), StateFile: path}, nil, logger, func() time.Time { return t0 }, func(error, time.Duration) {})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing the file allocated %d bytes, want under 16 MiB", alloc)
	}
	if took > 2*time.Second {
		t.Errorf("refusing the file took %v", took)
	}
	if !tr.fresh || !tr.file.Writable() {
		t.Errorf("fresh %v, saves allowed %v", tr.fresh, tr.file.Writable())
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

// legacyStatusFile frames body as a status file of the format before the
// shared envelope, which still loads: a checksum the fuzzer need not find.
func legacyStatusFile(body []byte) []byte {
	data := append([]byte("B2SEEBS\x02"), body...)
	return binary.BigEndian.AppendUint32(data, crc32.ChecksumIEEE(data))
}

// FuzzLoadStatusMemory: loading never panics, and whatever loads can be
// exported without error and saves to a file that loads the same.
func FuzzLoadStatusMemory(f *testing.F) {
	var seed []byte
	for _, e := range []state.SavedStatus{
		{ID: 7, Code: 3, Timeout: 60, Seen: t0.Unix(), Flags: flagKnown | flagFailedCounted},
		{ID: 8, Code: 9, Timeout: -1, Seen: t0.Unix(), Flags: flagKnown | flagBaseline},
	} {
		seed = binary.AppendVarint(seed, e.ID)
		seed = binary.AppendVarint(seed, int64(e.Code))
		seed = binary.AppendVarint(seed, int64(e.Timeout))
		seed = binary.AppendVarint(seed, e.Seen)
		seed = append(seed, e.Flags)
	}
	seed = append(binary.AppendVarint(binary.AppendUvarint(binary.AppendUvarint(nil, 3), 1), t0.Unix()), append([]byte{2}, seed...)...)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, body []byte) {
		loaded, err := state.DecodeStatuses(legacyStatusFile(body))
		if err != nil {
			return
		}
		tr := newStatusTracker(StatusOptions{Client: newMemLookup(), Statuses: exampleStatuses}, nil, slog.New(slog.DiscardHandler), func() time.Time { return t0 }, func(error, time.Duration) {})
		tr.mu.Lock()
		tr.mem.Load(&loaded)
		tr.failures, tr.timeouts, tr.since, tr.gen = loaded.Failures, loaded.Timeouts, loaded.Since, 1
		tr.setPhases()
		for i := range tr.mem.Rows() {
			e := tr.mem.Entry(i)
			tr.mem.List(i, e.Seen, e.Seen) // listed by the last read, created when last seen
		}
		tr.mu.Unlock()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(statusCollector{tr})
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("what loaded cannot be exported: %v", err)
		}
		tr.mu.Lock()
		kept := tr.mem.Saved(tr.failures, tr.timeouts, tr.since)
		tr.mu.Unlock()
		saved, err := state.EncodeStatuses(&kept)
		if err != nil {
			t.Fatalf("what loaded cannot be saved: %v", err)
		}
		again, err := state.DecodeStatuses(saved)
		if err != nil {
			t.Fatalf("what loaded saves to a file that does not load: %v", err)
		}
		if resaved, _ := state.EncodeStatuses(&again); !bytes.Equal(resaved, saved) {
			t.Fatal("what loaded saves to a file that loads otherwise")
		}
	})
}
