package state

import (
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// seal frames body as a state file: header, body, checksum. Without it
// nearly every input would stop at the checksum.
func seal(body []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(body)+trailerSize)
	copy(out, "B2SEECTR")
	binary.LittleEndian.PutUint16(out[8:], 2)
	binary.LittleEndian.PutUint64(out[12:], uint64(len(body)))
	out = append(out, body...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

// totalsCollector exports totals as the collector does, with the labels
// it gives them.
type totalsCollector []SeriesTotals

var (
	fuzzSeriesDesc = prometheus.NewDesc("series_total", "", []string{"product_type", "sender"}, nil)
	fuzzActionDesc = prometheus.NewDesc("actions_total", "", []string{"product_type", "sender", "state"}, nil)
)

func (c totalsCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c totalsCollector) Collect(ch chan<- prometheus.Metric) {
	put := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	for _, s := range c {
		put(fuzzSeriesDesc, float64(s.Created), s.ProductType, s.Sender)
		for _, a := range s.Actions {
			put(fuzzActionDesc, a.Value, s.ProductType, s.Sender, a.State)
		}
	}
}

// FuzzLoad: loading a file never panics, and whatever loads can be
// exported without error and saves to a file that loads the same.
func FuzzLoad(f *testing.F) {
	opts := Options{Account: "acme", Window: 30 * 24 * time.Hour}
	tr := newTracker(opts)
	for i, step := range [][]Observation{
		{{ID: 1, ProductType: "svc", Sender: "alice", Created: t0, ActionState: "offered"}},
		{{ID: 1, ProductType: "svc", Sender: "alice", Created: t0, Counts: Counts{3, 1}, ActionState: "paid", ActionPrice: 12.5},
			{ID: 9, ProductType: "mot", Created: t0.Add(time.Hour), Counts: Counts{0, 0, 2}}},
	} {
		sc := tr.Begin()
		for j := range step {
			sc.Add(&step[j])
		}
		sc.Commit(t0.Add(time.Duration(i) * time.Minute))
	}
	tr.mu.Lock()
	good, _ := tr.marshal(t0.Add(time.Hour))
	tr.series[0].key.productType = "bad\xff\xfe"
	bad, _ := tr.marshal(t0.Add(time.Hour))
	tr.mu.Unlock()
	for _, data := range [][]byte{good, bad} {
		f.Add(data[headerSize : len(data)-trailerSize])
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		loaded, err := decodeTracker(opts, seal(body))
		if err != nil {
			return
		}
		totals := loaded.Totals()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(totalsCollector(totals))
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("what loaded cannot be exported: %v", err)
		}
		loaded.mu.Lock()
		data, err := loaded.encode(loaded.lastSave)
		loaded.mu.Unlock()
		if err != nil {
			t.Fatalf("what loaded cannot be saved: %v", err)
		}
		again, err := decodeTracker(opts, data)
		if err != nil {
			t.Fatalf("what loaded saves to a file that does not load: %v", err)
		}
		if !reflect.DeepEqual(again.Totals(), totals) {
			t.Fatal("what loaded saves to a file that loads otherwise")
		}
	})
}
