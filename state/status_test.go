package state

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// statusBody renders the numbers of a status file's body: the counters,
// the start time, the number of batches, then per batch its ID, code,
// timeout, when last seen and flags.
func statusBody(nums ...int64) []byte {
	var b []byte
	for i, v := range nums {
		switch {
		case i < 2 || i == 3: // the counters, the number of batches
			b = binary.AppendUvarint(b, uint64(v))
		case i > 3 && (i-4)%5 == 4:
			b = append(b, byte(v)) // flags
		default:
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

// legacyStatusFile frames body as the format before the shared envelope
// did: the magic, the body, a big-endian CRC-32 (IEEE).
func legacyStatusFile(body []byte) []byte {
	data := append([]byte("B2SEEBS\x02"), body...)
	return binary.BigEndian.AppendUint32(data, crc32.ChecksumIEEE(data))
}

// statusEnvelope frames body in the envelope, independently of the code
// that writes it.
func statusEnvelope(body []byte) []byte {
	out := []byte("B2SEEBST")
	out = binary.LittleEndian.AppendUint16(out, 3)
	out = binary.LittleEndian.AppendUint16(out, 0)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(body)))
	out = append(out, body...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crc32.MakeTable(crc32.Castagnoli)))
}

func TestStatusesEncoding(t *testing.T) {
	s := Statuses{Failures: 7, Timeouts: 300, Since: t0.Unix(), Batches: []SavedStatus{
		{ID: 1 << 40, Code: 1, Timeout: 129600, Seen: t0.Unix(), Flags: StatusKnown},
		{ID: 1, Code: 3, Timeout: 60, Seen: t0.Unix(), Flags: StatusKnown | StatusFailedCounted},
		{ID: -5, Code: -1, Timeout: 0, Seen: t0.Unix(), Flags: StatusKnown | StatusTimedOutCounted},
	}}
	data, err := EncodeStatuses(&s)
	if err != nil {
		t.Fatal(err)
	}
	body := statusBody(7, 300, t0.Unix(), 3,
		-5, -1, 0, t0.Unix(), StatusKnown|StatusTimedOutCounted,
		1, 3, 60, t0.Unix(), StatusKnown|StatusFailedCounted,
		1<<40, 1, 129600, t0.Unix(), StatusKnown)
	if want := statusEnvelope(body); !bytes.Equal(data, want) {
		t.Fatalf("encoded\n%x\nwant, in ID order in the envelope,\n%x", data, want)
	}
	got, err := DecodeStatuses(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	legacy, err := DecodeStatuses(legacyStatusFile(body))
	if err != nil || !reflect.DeepEqual(legacy, s) {
		t.Fatalf("the former format decoded %+v, %v; want %+v", legacy, err, s)
	}

	damaged := map[string][]byte{
		"empty":            nil,
		"older format":     append([]byte("B2SEEBS\x01"), legacyStatusFile(body)[8:]...),
		"other version":    append(append([]byte("B2SEEBST\x04"), data[9:len(data)-4]...), data[len(data)-4:]...),
		"truncated":        data[:len(data)-6],
		"flipped bit":      append(append([]byte(nil), data[:22]...), append([]byte{data[22] ^ 1}, data[23:]...)...),
		"trailing bytes":   append(append([]byte(nil), data...), 0),
		"legacy flipped":   append([]byte("B2SEEBS\x02\x08"), legacyStatusFile(body)[9:]...),
		"legacy truncated": legacyStatusFile(body)[:10],
	}
	for name, d := range damaged {
		if _, err := DecodeStatuses(d); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// TestStatusesRefuseWhatEncodeNeverWrites: a memory with a good checksum
// but content no save writes is refused whole.
func TestStatusesRefuseWhatEncodeNeverWrites(t *testing.T) {
	now := t0.Unix()
	good := []int64{1, 2, now, 2, 10, 3, 60, now, StatusKnown | StatusFailedCounted, 11, 0, 5, now, StatusKnown}
	for _, frame := range []func([]byte) []byte{statusEnvelope, legacyStatusFile} {
		if _, err := DecodeStatuses(frame(statusBody(good...))); err != nil {
			t.Fatalf("the control does not decode: %v", err)
		}
		with := func(i int, v int64) []int64 {
			b := append([]int64(nil), good...)
			b[i] = v
			return b
		}
		for name, body := range map[string][]int64{
			"start time out of range": with(2, MaxTime+1),
			"code past an int32":      with(5, 1<<31),
			"timeout past an int32":   with(6, -1<<31-1),
			"last seen out of range":  with(7, MinTime-1),
			"unknown flags":           with(8, 0x80),
			"no flags":                with(8, 0),
			"batch twice":             with(9, 10),
		} {
			if s, err := DecodeStatuses(frame(statusBody(body...))); err == nil {
				t.Errorf("%s: decoded %d batches without error", name, len(s.Batches))
			}
		}
	}
}

// TestStatusesPastTheLimit: a memory of more batches than a state file
// may hold is neither saved nor loaded.
func TestStatusesPastTheLimit(t *testing.T) {
	var s Statuses
	for id := range int64(MaxBatches + 1) {
		s.Batches = append(s.Batches, SavedStatus{ID: id, Seen: t0.Unix(), Flags: StatusKnown})
	}
	if _, err := EncodeStatuses(&s); err == nil {
		t.Error("a memory past the limit was saved")
	}
	nums := []int64{0, 0, t0.Unix(), MaxBatches + 1}
	for id := range int64(MaxBatches + 1) {
		nums = append(nums, id, 0, 0, t0.Unix(), StatusKnown)
	}
	if _, err := DecodeStatuses(statusEnvelope(statusBody(nums...))); err == nil || err.Error() != "too many batches" {
		t.Errorf("loading a memory past the limit: %v, want too many batches", err)
	}
}

// TestLoadsStatusFileOfVersion2 loads a file as the build before the
// shared envelope wrote it, and saves it in the envelope.
func TestLoadsStatusFileOfVersion2(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "v2.status"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "north.status")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f, got, ok := OpenStatusFile(path, slog.New(slog.NewTextHandler(&logs, nil)), t0)
	want := Statuses{Failures: 7, Timeouts: 300, Since: 1740830400, Batches: []SavedStatus{
		{ID: -5, Code: -1, Timeout: 0, Seen: 1740830460, Flags: StatusKnown | StatusTimedOutCounted},
		{ID: 1, Code: 3, Timeout: 60, Seen: 1740830400, Flags: StatusKnown | StatusFailedCounted},
		{ID: 42, Code: 2, Timeout: 30, Seen: 1740830580, Flags: StatusKnown | StatusBaseline | StatusFailedCounted | StatusTimedOutCounted},
		{ID: 43, Seen: 1740830640, Flags: StatusBaseline},
		{ID: 1 << 40, Code: 1, Timeout: 129600, Seen: 1740830520, Flags: StatusKnown},
	}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %v: %+v, want %+v\nlogs: %s", ok, got, want, logs.String())
	}
	if err := f.Save(&got); err != nil {
		t.Fatal(err)
	}
	if _, again, ok := OpenStatusFile(path, slog.New(slog.DiscardHandler), t0); !ok || !reflect.DeepEqual(again, want) {
		t.Errorf("saved and loaded again: %v, %+v", ok, again)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "B2SEEBST") {
		t.Errorf("saved as %q..., not in the envelope", b[:min(len(b), 8)])
	}
	if logs.Len() != 0 {
		t.Errorf("loading logged:\n%s", logs.String())
	}
}
