package state

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The state file is
//
//	header   magic "B2SEECTR", version u16, reserved u16 (0), body length u64
//	body     sections in order: meta, strings, series, batches; each a tag
//	         byte, a uvarint length and that many bytes
//	trailer  CRC-32C of header and body, u32
//
// little-endian, with varints for the numbers. Meta holds the account's
// name (checked on load), the save time, the corrections, flags, the
// scope of the answers and when counting started (a field files written
// before it lack, read as unknown); series
// their totals; batches their high-water marks and last values, as deltas. The length in the header
// catches every truncation, the CRC every corrupted byte. Product types,
// senders and states are stored once, in the strings section, and referred
// to by index; index 0 is "".
const (
	magic         = "B2SEECTR"
	formatVersion = 2
	headerSize    = len(magic) + 2 + 2 + 8
	trailerSize   = 4
)

const (
	sectionMeta = 1 + iota
	sectionStrings
	sectionSeries
	sectionBatches
)

// flagStarted in the meta section: the starting point was taken. A file
// saved before it was is no starting point.
const flagStarted = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Path is the file of account's counter state under dir.
func Path(dir, account string) string { return AccountFile(dir, account, ".state") }

// AccountFile is a file of account's under dir, ending in ext, for this
// package's state and other per-account files beside it. The name keeps
// the account readable where it is safe to, and a hash of it keeps names
// that escape alike apart.
func AccountFile(dir, account, ext string) string {
	var b strings.Builder
	for _, r := range account {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(account))
	return filepath.Join(dir, b.String()+"-"+hex.EncodeToString(sum[:6])+ext)
}

// encode returns the state as a file's content. t.mu must be held.
func (t *Tracker) encode(now time.Time) []byte {
	savedAt := now.Unix()
	// The strings section: a table of all strings the other sections use.
	strIdx := map[string]uint64{"": 0}
	table := []string{""}
	ref := func(s string) uint64 {
		i, ok := strIdx[s]
		if !ok {
			i = uint64(len(table))
			table = append(table, s)
			strIdx[s] = i
		}
		return i
	}
	stateRef := make([]uint64, len(t.strs))
	for i, s := range t.strs {
		stateRef[i] = ref(s)
	}

	var meta []byte
	meta = appendString(meta, t.opts.Account)
	meta = binary.AppendVarint(meta, savedAt)
	meta = binary.AppendUvarint(meta, t.corrections)
	var flags uint64
	if !t.fresh {
		flags |= flagStarted
	}
	meta = binary.AppendUvarint(meta, flags)
	meta = appendString(meta, t.opts.Scope)
	meta = binary.AppendVarint(meta, t.started)

	var ser []byte
	ser = binary.AppendUvarint(ser, uint64(len(t.series)))
	for i := range t.series {
		s := &t.series[i]
		ser = binary.AppendUvarint(ser, ref(s.key.productType))
		ser = binary.AppendUvarint(ser, ref(s.key.sender))
		ser = binary.AppendUvarint(ser, s.created)
		for _, c := range s.counts {
			ser = binary.AppendUvarint(ser, c)
		}
		ser = binary.AppendUvarint(ser, uint64(len(s.actions)))
		for _, a := range s.actions {
			ser = binary.AppendUvarint(ser, stateRef[a.state])
			ser = binary.AppendUvarint(ser, a.count)
			ser = binary.LittleEndian.AppendUint64(ser, math.Float64bits(a.value))
		}
	}

	var strs []byte
	strs = binary.AppendUvarint(strs, uint64(len(table)))
	for _, s := range table {
		strs = appendString(strs, s)
	}

	// Batches come mostly in ID order with close creation times: deltas
	// keep them to a few bytes each.
	bat := make([]byte, 0, 16+len(t.batches)*24)
	bat = binary.AppendUvarint(bat, uint64(len(t.batches)))
	var prevID, prevCreated int64
	for i := range t.batches {
		b := &t.batches[i]
		bat = binary.AppendVarint(bat, b.id-prevID)
		bat = binary.AppendUvarint(bat, uint64(b.series))
		bat = binary.AppendUvarint(bat, stateRef[b.state])
		bat = binary.AppendVarint(bat, savedAt-b.lastSeen)
		bat = binary.AppendVarint(bat, b.created-prevCreated)
		for _, v := range b.hw {
			bat = binary.AppendUvarint(bat, uint64(v))
		}
		for j, v := range b.last {
			bat = binary.AppendUvarint(bat, uint64(b.hw[j]-v))
		}
		prevID, prevCreated = b.id, b.created
	}

	body := 0
	for _, sec := range [][]byte{meta, strs, ser, bat} {
		body += 1 + binary.MaxVarintLen64 + len(sec)
	}
	out := make([]byte, headerSize, headerSize+body+trailerSize)
	copy(out, magic)
	binary.LittleEndian.PutUint16(out[8:], formatVersion)
	for i, sec := range [][]byte{meta, strs, ser, bat} {
		out = append(out, byte(sectionMeta+i))
		out = binary.AppendUvarint(out, uint64(len(sec)))
		out = append(out, sec...)
	}
	binary.LittleEndian.PutUint64(out[12:], uint64(len(out)-headerSize))
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errCorrupt marks a file that is not a good state file.
var errCorrupt = errors.New("corrupt state file")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// decoder reads a section; its first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = corruptf("bad %s", what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of entries of at least min bytes each.
func (d *decoder) count(what string, min int) int {
	n := d.uvarint(what)
	if n > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

// index reads an index below n.
func (d *decoder) index(what string, n int) int32 {
	v := d.uvarint(what)
	if v >= uint64(n) {
		d.fail(what)
		return 0
	}
	return int32(v)
}

func (d *decoder) bytes(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string {
	return string(d.bytes(d.uvarint(what), what))
}

// section reads the next section, which must be tag.
func (d *decoder) section(tag byte) *decoder {
	if d.err == nil && (len(d.b) == 0 || d.b[0] != tag) {
		d.err = corruptf("section %d missing", tag)
	}
	if d.err != nil {
		return &decoder{err: d.err}
	}
	d.b = d.b[1:]
	return &decoder{b: d.bytes(d.uvarint("section length"), "section")}
}

// done checks that a section was read whole.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = corruptf("%d bytes left over in %s", len(d.b), what)
	}
	return d.err
}

// decode reads a state file's content into t, which must be new.
func (t *Tracker) decode(data []byte) (savedAt time.Time, err error) {
	if len(data) < headerSize+trailerSize {
		return savedAt, corruptf("%d bytes, too short", len(data))
	}
	if string(data[:len(magic)]) != magic {
		return savedAt, corruptf("not a state file")
	}
	if v := binary.LittleEndian.Uint16(data[8:]); v != formatVersion {
		return savedAt, fmt.Errorf("%w: format version %d, this build reads %d", errCorrupt, v, formatVersion)
	}
	if n := binary.LittleEndian.Uint64(data[12:]); n != uint64(len(data)-headerSize-trailerSize) {
		return savedAt, corruptf("%d bytes of body, the header says %d: truncated or extended", len(data)-headerSize-trailerSize, n)
	}
	end := len(data) - trailerSize
	if crc32.Checksum(data[:end], crcTable) != binary.LittleEndian.Uint32(data[end:]) {
		return savedAt, corruptf("checksum mismatch")
	}
	body := &decoder{b: data[headerSize:end]}

	d := body.section(sectionMeta)
	account := d.string("account")
	saved := d.varint("save time")
	t.corrections = d.uvarint("corrections")
	flags := d.uvarint("flags")
	if flags&^flagStarted != 0 {
		d.fail("flags")
	}
	t.fresh = flags&flagStarted == 0
	scope := d.string("scope")
	if len(d.b) > 0 {
		if t.started = d.varint("start time"); t.started < 0 {
			d.fail("start time")
		}
	}
	if err := d.done("meta"); err != nil {
		return savedAt, err
	}
	if account != t.opts.Account {
		return savedAt, corruptf("state of account %q, not %q", account, t.opts.Account)
	}
	// Saved for other answers (another customer, another window): carry on
	// counting, but take the batches not seen yet as a starting point.
	t.rescoped = scope != t.opts.Scope && !t.fresh

	d = body.section(sectionStrings)
	table := make([]string, d.count("strings", 1))
	for i := range table {
		table[i] = d.string("string")
	}
	if len(table) == 0 || table[0] != "" {
		d.fail("string table")
	}
	if err := d.done("strings"); err != nil {
		return savedAt, err
	}
	// Only action states go to t.strs.
	stateOf := make([]int32, len(table))
	for i := range stateOf {
		stateOf[i] = -1
	}
	state := func(i int32) int32 {
		if stateOf[i] < 0 {
			stateOf[i] = t.intern(table[i])
		}
		return stateOf[i]
	}

	d = body.section(sectionSeries)
	t.series = make([]series, d.count("series", 3+NumCounts))
	for i := range t.series {
		s := &t.series[i]
		s.key.productType = table[d.index("product type", len(table))]
		s.key.sender = table[d.index("sender", len(table))]
		s.created = d.uvarint("created")
		for j := range s.counts {
			s.counts[j] = d.uvarint("count")
		}
		s.actions = make([]action, d.count("actions", 10))
		for j := range s.actions {
			a := &s.actions[j]
			a.state = state(d.index("state", len(table)))
			a.count = d.uvarint("action count")
			if b := d.bytes(8, "action value"); b != nil {
				a.value = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
			if !(a.value >= 0) || math.IsInf(a.value, 1) {
				d.fail("action value")
			}
		}
		if _, dup := t.seriesIndex[s.key]; dup {
			d.fail("series: duplicate")
		}
		t.seriesIndex[s.key] = int32(i)
	}
	if err := d.done("series"); err != nil {
		return savedAt, err
	}

	d = body.section(sectionBatches)
	t.batches = make([]batch, d.count("batches", 5+2*NumCounts))
	t.index = make(map[int64]int32, len(t.batches))
	var prevID, prevCreated int64
	for i := range t.batches {
		b := &t.batches[i]
		b.id = prevID + d.varint("batch ID")
		b.series = d.index("batch series", len(t.series))
		b.state = state(d.index("batch state", len(table)))
		b.lastSeen = saved - d.varint("last seen")
		b.created = prevCreated + d.varint("created")
		for j := range b.hw {
			b.hw[j] = int64(d.uvarint("count"))
			if b.hw[j] < 0 {
				d.fail("count")
			}
		}
		for j := range b.last {
			b.last[j] = b.hw[j] - int64(d.uvarint("count"))
			if b.last[j] < 0 {
				d.fail("count")
			}
		}
		if _, dup := t.index[b.id]; dup {
			d.fail("batches: duplicate ID")
		}
		t.index[b.id] = int32(i)
		prevID, prevCreated = b.id, b.created
	}
	if err := d.done("batches"); err != nil {
		return savedAt, err
	}
	if len(body.b) != 0 {
		return savedAt, corruptf("%d bytes after the last section", len(body.b))
	}
	return time.Unix(saved, 0), nil
}

// decodeTracker returns the tracker saved in data.
func decodeTracker(opts Options, data []byte) (*Tracker, error) {
	t := newTracker(opts)
	saved, err := t.decode(data)
	if err != nil {
		return nil, err
	}
	t.lastSave = saved
	return t, nil
}

// load returns the tracker of t's file: one with the file's whole state,
// or t itself, fresh, never a mix of both.
func (t *Tracker) load() *Tracker {
	data, err := os.ReadFile(t.path)
	// ENOTDIR: a part of the directory is a file, so there is no state file
	// either; saves will fail and say why.
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		t.logger.Info("no saved counter state: counters start from the next successful scrape", "file", t.path)
		return t
	}
	if err == nil {
		var loaded *Tracker
		if loaded, err = decodeTracker(t.opts, data); err == nil {
			loaded.path = t.path
			t.logger.Info("loaded the counter state", "file", t.path, "batches", len(loaded.batches), "saved", loaded.lastSave.UTC().Format(time.RFC3339))
			return loaded
		}
	}
	aside, rerr := MoveAside(t.path, time.Now())
	if rerr != nil {
		// Never overwrite a file that could hold the only copy of the
		// counters: refuse to save until an operator looks.
		t.noSave = fmt.Errorf("the unusable state file could not be moved aside, so it is not overwritten: %w", rerr)
		t.logger.Error("the counter state file is unusable and could not be moved aside; starting fresh, in memory only", "file", t.path, "err", err, "rename_err", rerr)
		return t
	}
	t.logger.Error("the counter state file is unusable: moved aside, counters start fresh", "file", t.path, "moved_to", aside, "err", err)
	return t
}

// WriteAtomic replaces path with data: a reader sees the old content or
// the new, whole, even after a crash.
func WriteAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the directory is.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MoveAside renames an unusable file to <path>.corrupt-<unix time>, so that
// it is kept for an operator to look at, never deleted, and returns the new
// name.
func MoveAside(path string, now time.Time) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	return aside, os.Rename(path, aside)
}
