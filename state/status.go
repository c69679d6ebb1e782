package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/bits"
	"slices"
	"time"
)

// Flags of a batch in a status file.
const (
	// StatusKnown: the batch's status was looked up.
	StatusKnown = 1 << iota
	// StatusFailedCounted: the batch was counted as failed, which it is at
	// most once.
	StatusFailedCounted
	// StatusTimedOutCounted: the batch was counted as timed out, at most
	// once.
	StatusTimedOutCounted
	// StatusBaseline: the batch was in the first read of a fresh memory.
	// What it already is when first learnt (failed, timed out) was so
	// before counting started, and is not counted, as for the counters of
	// engagement.
	StatusBaseline

	allStatusFlags = StatusKnown | StatusFailedCounted | StatusTimedOutCounted | StatusBaseline
)

// SavedStatus is what a status file keeps of one batch.
type SavedStatus struct {
	ID      int64
	Seen    int64 // Unix seconds of the last read that listed the batch
	Code    int32
	Timeout int32 // minutes
	Flags   uint8 // of the Status flags; never 0
}

// Statuses is what an account's batch status memory keeps across
// restarts: the known statuses of the last window and the counters, with
// the flags that keep a batch from counting twice.
type Statuses struct {
	Failures, Timeouts uint64
	// Since is when the memory started, in Unix seconds.
	Since   int64
	Batches []SavedStatus
}

// The status file is an envelope (see envelope.go) whose body is the two
// counters, when the memory started, the number of batches, then per
// batch its ID, code, timeout, when it was last listed and its flags, all
// varints but the flags' byte.
var statusFile = envelope{magic: "B2SEEBST", version: 3, name: "batch status file", corrupt: errors.New("corrupt batch status file")}

// legacyStatusMagic starts the status files of before the envelope: the
// magic, the same body, and a big-endian CRC-32 (IEEE) of what precedes.
const legacyStatusMagic = "B2SEEBS\x02"

// maxStatusFileSize is the size of a memory of MaxBatches batches at their
// largest: what is read of a status file at most.
const maxStatusFileSize = headerSize + 4*binary.MaxVarintLen64 +
	MaxBatches*(2*binary.MaxVarintLen64+2*binary.MaxVarintLen32+1) + trailerSize

// EncodeStatuses renders s as a status file's content, its batches in ID
// order. A memory of more batches than a file may hold is not saved, as
// it would not load again.
func EncodeStatuses(s *Statuses) ([]byte, error) {
	if err := fitsAFile(len(s.Batches)); err != nil {
		return nil, err
	}
	slices.SortFunc(s.Batches, func(a, b SavedStatus) int { return cmp.Compare(a.ID, b.ID) })
	buf := beginStatuses(s.Failures, s.Timeouts, s.Since, len(s.Batches), 12*len(s.Batches))
	for _, e := range s.Batches {
		buf = appendStatus(buf, e)
	}
	return statusFile.seal(buf), nil
}

// fitsAFile is the error of a memory of n batches, more than a file may
// hold: saved, it would not load again.
func fitsAFile(n int) error {
	if n > MaxBatches {
		return fmt.Errorf("the memory holds more than %d batches, more than a state file may: not saved", MaxBatches)
	}
	return nil
}

// beginStatuses returns a status file's content up to its first batch of
// n, with room for room bytes of batches.
func beginStatuses(failures, timeouts uint64, since int64, n, room int) []byte {
	buf := statusFile.begin(uvarintLen(failures) + uvarintLen(timeouts) + varintLen(since) + uvarintLen(uint64(n)) + room)
	buf = binary.AppendUvarint(buf, failures)
	buf = binary.AppendUvarint(buf, timeouts)
	buf = binary.AppendVarint(buf, since)
	return binary.AppendUvarint(buf, uint64(n))
}

// statusLen is the length of batch e in a status file: what appendStatus
// appends.
func statusLen(e SavedStatus) int {
	return varintLen(e.ID) + varintLen(int64(e.Code)) + varintLen(int64(e.Timeout)) + varintLen(e.Seen) + 1
}

// varintLen is the length of v as binary.AppendVarint writes it.
func varintLen(v int64) int {
	u := uint64(v) << 1 // zig-zag, as binary.AppendVarint
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// uvarintLen is the length of u as binary.AppendUvarint writes it.
func uvarintLen(u uint64) int { return (bits.Len64(u|1) + 6) / 7 }

// appendStatus appends batch e to a status file's content.
func appendStatus(buf []byte, e SavedStatus) []byte {
	buf = binary.AppendVarint(buf, e.ID)
	buf = binary.AppendVarint(buf, int64(e.Code))
	buf = binary.AppendVarint(buf, int64(e.Timeout))
	buf = binary.AppendVarint(buf, e.Seen)
	return append(buf, e.Flags)
}

// DecodeStatuses reads what EncodeStatuses wrote, or a file of the format
// before it. A damaged file is an error, never a partial memory, and so
// is one EncodeStatuses would not write: a code or timeout past an int32,
// a time out of range, unknown flags, a batch twice.
func DecodeStatuses(data []byte) (Statuses, error) {
	body, err := openStatusFile(data)
	if err != nil {
		return Statuses{}, err
	}
	return decodeStatusBody(body)
}

// openStatusFile returns the body of a status file of either format.
func openStatusFile(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(legacyStatusMagic)) {
		return statusFile.open(data)
	}
	if len(data) < len(legacyStatusMagic)+4 {
		return nil, errors.New("not a batch status file of this version")
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return body[len(legacyStatusMagic):], nil
}

// statusReader reads a status file's body; its first error sticks. It
// reads the bytes in place: a file of a million batches holds four
// million varints, and a reader's call for each costs a tenth of a second.
type statusReader struct {
	b   []byte // what is left to read
	err error
}

func (d *statusReader) fail(what string) {
	if d.err == nil {
		d.err = errors.New(what)
	}
}

// took advances past a value of n bytes read in place, failing when
// there was none (n <= 0: too short, or too long for 64 bits).
func (d *statusReader) took(n int) {
	if n <= 0 {
		d.fail("truncated or malformed")
		d.b = nil
		return
	}
	d.b = d.b[n:]
}

func (d *statusReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	d.took(n)
	return v
}

func (d *statusReader) varint() int64 {
	v, n := binary.Varint(d.b)
	d.took(n)
	return v
}

// byte reads one byte, 0 when there is none.
func (d *statusReader) byte() byte {
	if len(d.b) == 0 {
		d.took(0)
		return 0
	}
	v := d.b[0]
	d.took(1)
	return v
}

func (d *statusReader) int32(what string) int32 {
	v := d.varint()
	if v != int64(int32(v)) {
		d.fail(what + " out of range")
	}
	return int32(v)
}

func decodeStatusBody(body []byte) (Statuses, error) {
	d := &statusReader{b: body}
	var s Statuses
	s.Failures, s.Timeouts, s.Since = d.uvarint(), d.uvarint(), d.varint()
	if !TimeInRange(s.Since) {
		d.fail("start time out of range")
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) || n > MaxBatches {
		d.fail("too many batches")
		n = 0
	}
	s.Batches = make([]SavedStatus, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		e := SavedStatus{ID: d.varint(), Code: d.int32("code"), Timeout: d.int32("timeout"), Seen: d.varint()}
		flags := d.byte()
		e.Flags = flags
		switch {
		case d.err != nil:
		case flags == 0 || flags&^allStatusFlags != 0:
			d.fail("unknown flags")
		case !TimeInRange(e.Seen):
			d.fail("time last seen out of range")
		}
		s.Batches = append(s.Batches, e)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("truncated or malformed")
	}
	if d.err == nil && hasDuplicate(s.Batches) {
		d.fail("duplicate batch")
	}
	if d.err != nil {
		return Statuses{}, d.err
	}
	return s, nil
}

// hasDuplicate reports whether two of bs have the same ID. Files list
// their batches in ID order, or nearly (in the order of the memory's
// table), so a sorted copy of the IDs is cheap to make and to check: far
// cheaper than a set of a million IDs.
func hasDuplicate(bs []SavedStatus) bool {
	ids := make([]int64, len(bs))
	sorted := true
	for i, b := range bs {
		ids[i] = b.ID
		sorted = sorted && (i == 0 || ids[i-1] < b.ID)
	}
	if sorted {
		return false
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return true
		}
	}
	return false
}

// StatusFile is the file of one account's batch status memory.
type StatusFile struct {
	path    string
	logger  *slog.Logger
	noSave  error // set when an unusable file must not be overwritten
	saveLog saveLog
}

// OpenStatusFile returns the file at path and the memory saved in it, if
// any: loaded is false when there is none to use. An unusable file is
// moved aside, logged, and the memory starts afresh.
func OpenStatusFile(path string, logger *slog.Logger, now time.Time) (f *StatusFile, saved Statuses, loaded bool) {
	f = &StatusFile{path: path, logger: logger, saveLog: saveLog{
		failed: "saving the batch status memory failed; failure and timeout counts may repeat after a restart",
		works:  "saving the batch status memory works again",
	}}
	res := loadFile(path, int64(maxStatusFileSize), now, func(data []byte) (err error) {
		saved, err = DecodeStatuses(data)
		return err
	})
	switch {
	case res.missing:
		// No memory yet; a save will say if the place is wrong.
	case res.err == nil:
		return f, saved, true
	case res.asideErr != nil:
		// Keep the file for an operator, as the counters do, and never
		// write over it if it cannot be moved.
		f.noSave = fmt.Errorf("the unusable batch status memory could not be moved aside, so it is not overwritten: %w", res.asideErr)
		logger.Error("the batch status memory is unusable and could not be moved aside; starting afresh, in memory only", "file", path, "err", res.err, "rename_err", res.asideErr)
	default:
		logger.Error("the batch status memory is unusable: moved aside, starting afresh", "file", path, "moved_to", res.aside, "err", res.err)
	}
	return f, Statuses{}, false
}

// Writable reports whether saves may be tried: not when an unusable file
// could not be moved aside.
func (f *StatusFile) Writable() bool { return f.noSave == nil }

// Save writes s to the file. A failure is logged when it starts or
// changes, and its end once saves work again.
func (f *StatusFile) Save(s *Statuses) error {
	return f.SaveEncoded(EncodeStatuses(s))
}

// SaveEncoded writes data, a status file's content, to the file; when
// encoding it failed with err, it logs that instead. A failure is logged
// when it starts or changes, and its end once saves work again.
func (f *StatusFile) SaveEncoded(data []byte, err error) error {
	if err == nil {
		err = f.noSave
	}
	if err == nil {
		err = WriteAtomic(f.path, data)
	}
	f.saveLog.saved(f.logger, f.path, err)
	return err
}
