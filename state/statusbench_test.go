package state

import (
	"testing"
	"time"
)

// BenchmarkLoadStatuses decodes the status file of a million batches and
// takes it into a memory, as a start on the saved state does.
func BenchmarkLoadStatuses(b *testing.B) {
	seen := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Unix()
	s := Statuses{Since: seen, Batches: make([]SavedStatus, 1_000_000)}
	for i := range s.Batches {
		s.Batches[i] = SavedStatus{ID: 5_000_000 + 3*int64(i), Seen: seen, Code: int32(i % 5), Timeout: 60, Flags: StatusKnown}
	}
	data, err := EncodeStatuses(&s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		loaded, err := DecodeStatuses(data)
		if err != nil {
			b.Fatal(err)
		}
		m := NewStatusMemory()
		m.Mutex().Lock()
		m.Load(&loaded)
		m.Mutex().Unlock()
	}
}
