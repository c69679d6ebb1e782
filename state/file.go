package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/b2see-exporter/b2see_exporter/internal/failure"
)

// The counters' file is an envelope (see envelope.go) whose body is
// sections in order: meta, strings, series, batches; each a tag byte, a
// uvarint length and that many bytes, with varints for the numbers. Meta
// holds the account's name (checked on load), the save time, the
// corrections, flags, the scope of the answers and when counting started
// (a field files written before it lack, read as unknown); series their
// totals; batches their high-water marks and last values, as deltas.
// Product types, senders and states are stored once, in the strings
// section, and referred to by index; index 0 is "".
const (
	sectionMeta = 1 + iota
	sectionStrings
	sectionSeries
	sectionBatches
)

// Limits of one account's state. They are far beyond what the largest
// accounts need (about 100,000 batches in a 30-day window, a few thousand
// series), and bound what loading a file reads and allocates. A state past
// them is not saved: the save fails, is logged and counted as any failed
// save, and the previous file stays, so that every file saved loads again.
const (
	// MaxBatches is the most batches the state of an account remembers: ten
	// times the largest accounts known.
	MaxBatches = 1_000_000
	// MaxSeries is the most series (product type and sender) it counts.
	MaxSeries = 1_000_000
	// MaxStrings is the most distinct product types, senders and customer
	// action states it holds.
	MaxStrings = 3_000_000
	// MaxStringLen is the longest product type, sender or action state, in
	// bytes: the longest string the upstream's decoder yields.
	MaxStringLen = 1 << 20
	// MaxFileSize is the largest state file read. A batch takes at most
	// 140 bytes of the file (15 typically), so a million take 140 MB; the
	// rest leaves room for the series and their strings.
	MaxFileSize = 256 << 20
)

// MinTime and MaxTime bound the times a state file may hold, in Unix
// seconds: the years 0 to 10000, beyond the range of the upstream's dates
// (years 1 to 9999) by more than any time zone.
const (
	MinTime = -62167219200 // 0000-01-01T00:00:00Z
	MaxTime = 253433923199 // 10000-12-31T23:59:59Z
)

// TimeInRange reports whether sec, in Unix seconds, is a time a state file
// may hold.
func TimeInRange(sec int64) bool { return sec >= MinTime && sec <= MaxTime }

// fitString makes a string fit what a state file may hold, so that
// whatever is saved loads again: valid UTF-8 of at most MaxStringLen bytes.
// The upstream's decoder yields no other, so this changes nothing but what
// another caller might pass.
func fitString(s string) string {
	if len(s) <= MaxStringLen && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	if len(s) > MaxStringLen {
		cut := MaxStringLen
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// flagStarted in the meta section: counting has started. A file saved
// before the first commit has not.
const flagStarted = 1

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

// encode returns the state as a file's content, or why it cannot be saved:
// past the limits, it would not load again. t.mu must be held.
func (t *Tracker) encode(now time.Time) ([]byte, error) {
	if t.tab.counted > MaxBatches || len(t.series) > MaxSeries {
		return nil, fmt.Errorf("the state holds more than %d batches or %d series, more than a state file may: not saved", MaxBatches, MaxSeries)
	}
	out, nStrings := t.marshal(now)
	switch {
	case nStrings > MaxStrings:
		return nil, fmt.Errorf("the state holds more than %d distinct product types, senders and states, more than a state file may: not saved", MaxStrings)
	case len(out) > MaxFileSize:
		return nil, fmt.Errorf("the state file would be more than %d bytes, more than one may be: not saved", MaxFileSize)
	}
	return out, nil
}

// marshal renders the state in the file's format, whatever its size, and
// returns the number of strings in its table. t.mu must be held.
func (t *Tracker) marshal(now time.Time) ([]byte, int) {
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

	bat := t.marshalBatches(savedAt, stateRef)
	return frame(meta, strs, ser, bat), len(table)
}

// marshalBatches renders the batches section. Batches come mostly in ID
// order with close creation times: deltas keep them to a few bytes each.
// t.mu must be held.
func (t *Tracker) marshalBatches(savedAt int64, stateRef []uint64) []byte {
	tab := t.tab
	bat := make([]byte, 0, 16+tab.counted*24)
	bat = binary.AppendUvarint(bat, uint64(tab.counted))
	var prevID, prevCreated int64
	for i := range tab.rows {
		if tab.rows[i].marks&rowCounted == 0 {
			continue
		}
		id, created, hw, last := tab.ids[i], tab.created(i), tab.hw(i), tab.lastValues(i)
		bat = binary.AppendVarint(bat, id-prevID)
		bat = binary.AppendUvarint(bat, uint64(tab.rows[i].series))
		bat = binary.AppendUvarint(bat, stateRef[tab.ref(i, 0)])
		bat = binary.AppendVarint(bat, savedAt-tab.lastSeen(i))
		bat = binary.AppendVarint(bat, created-prevCreated)
		for _, v := range hw {
			bat = binary.AppendUvarint(bat, uint64(v))
		}
		for j, v := range last {
			bat = binary.AppendUvarint(bat, uint64(hw[j]-v))
		}
		prevID, prevCreated = id, created
	}
	return bat
}

// frame makes a file of the sections meta, strings, series and batches:
// each with its tag and length, in the envelope.
func frame(sections ...[]byte) []byte {
	body := 0
	for _, sec := range sections {
		body += 1 + binary.MaxVarintLen64 + len(sec)
	}
	out := counterFile.begin(body)
	for i, sec := range sections {
		out = append(out, byte(sectionMeta+i))
		out = binary.AppendUvarint(out, uint64(len(sec)))
		out = append(out, sec...)
	}
	return counterFile.seal(out)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

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

// label reads a string of the strings section: one that becomes a label
// value, so valid UTF-8 and at most MaxStringLen bytes.
func (d *decoder) label() string {
	n := d.uvarint("string")
	if n > MaxStringLen {
		d.fail("string: too long")
		return ""
	}
	b := d.bytes(n, "string")
	if !utf8.Valid(b) {
		d.fail("string: not UTF-8")
		return ""
	}
	return string(b)
}

// time checks a time read, in Unix seconds.
func (d *decoder) time(what string, v int64) int64 {
	if !TimeInRange(v) {
		d.fail(what + ": out of range")
	}
	return v
}

// decode reads a state file's content into t, which must be new. What it
// accepts can be exported as it is: every string valid UTF-8 of bounded
// length, every count, value and time in range, no batch, series or
// action state of a series twice.
func (t *Tracker) decode(data []byte) (savedAt time.Time, err error) {
	frame, err := counterFile.open(data)
	if err != nil {
		return savedAt, err
	}
	body := &decoder{b: frame}
	saved, err := t.decodeMeta(body.section(sectionMeta))
	if err != nil {
		return savedAt, err
	}
	table, err := decodeStrings(body.section(sectionStrings))
	if err != nil {
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
	if err := t.decodeSeries(body.section(sectionSeries), table, state); err != nil {
		return savedAt, err
	}
	if err := t.decodeBatches(body.section(sectionBatches), saved, len(table), state); err != nil {
		return savedAt, err
	}
	if len(body.b) != 0 {
		return savedAt, corruptf("%d bytes after the last section", len(body.b))
	}
	return time.Unix(saved, 0), nil
}

// decodeMeta reads the meta section and returns the save time.
func (t *Tracker) decodeMeta(d *decoder) (int64, error) {
	account := d.string("account")
	saved := d.time("save time", d.varint("save time"))
	t.corrections = d.uvarint("corrections")
	flags := d.uvarint("flags")
	if flags&^flagStarted != 0 {
		d.fail("flags")
	}
	t.fresh = flags&flagStarted == 0
	scope := d.string("scope")
	// Files written before the start time was kept end here.
	if len(d.b) > 0 {
		if t.started = d.time("start time", d.varint("start time")); t.started < 0 {
			d.fail("start time")
		}
	}
	if err := d.done("meta"); err != nil {
		return 0, err
	}
	if account != t.opts.Account {
		return 0, corruptf("state of account %q, not %q", account, t.opts.Account)
	}
	// Saved for other answers (another customer, another window): carry on
	// counting, but take the batches not seen yet as already there, not new.
	t.rescoped = scope != t.opts.Scope && !t.fresh
	return saved, nil
}

// decodeStrings reads the strings section, "" first.
func decodeStrings(d *decoder) ([]string, error) {
	n := d.count("strings", 1)
	if n > MaxStrings {
		d.fail("strings: too many")
		n = 0
	}
	table := make([]string, n)
	for i := range table {
		table[i] = d.label()
	}
	if len(table) == 0 || table[0] != "" {
		d.fail("string table")
	}
	return table, d.done("strings")
}

// decodeSeries reads the series section into t.
func (t *Tracker) decodeSeries(d *decoder, table []string, state func(int32) int32) error {
	n := d.count("series", 3+NumCounts)
	if n > MaxSeries {
		d.fail("series: too many")
		n = 0
	}
	t.series = make([]series, n)
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
			// A series counts entries into states, never into none.
			if si := d.index("state", len(table)); si != 0 {
				a.state = state(si)
			} else {
				d.fail("state: none")
			}
			a.count = d.uvarint("action count")
			if b := d.bytes(8, "action value"); b != nil {
				a.value = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
			if !(a.value >= 0) || math.IsInf(a.value, 1) {
				d.fail("action value")
			}
			for _, o := range s.actions[:j] {
				if o.state == a.state && d.err == nil {
					d.fail("actions: duplicate state")
				}
			}
		}
		if _, dup := t.seriesIndex[s.key]; dup {
			d.fail("series: duplicate")
		}
		t.seriesIndex[s.key] = int32(i)
	}
	return d.done("series")
}

// decodeBatches reads the batches section into t.
func (t *Tracker) decodeBatches(d *decoder, saved int64, nStrings int, state func(int32) int32) error {
	n := d.count("batches", 5+2*NumCounts)
	if n > MaxBatches {
		d.fail("batches: too many")
		n = 0
	}
	tab := t.tab
	tab.reserve(n)
	var prevID, prevCreated int64
	for range n {
		id := prevID + d.varint("batch ID")
		series := d.index("batch series", len(t.series))
		state := state(d.index("batch state", nStrings))
		lastSeen := d.time("last seen", saved-d.varint("last seen"))
		created := d.time("created", prevCreated+d.varint("created"))
		var hw, last Counts
		for j := range hw {
			hw[j] = int64(d.uvarint("count"))
			if hw[j] < 0 {
				d.fail("count")
			}
		}
		for j := range last {
			last[j] = hw[j] - int64(d.uvarint("count"))
			if last[j] < 0 || last[j] > hw[j] {
				d.fail("count")
			}
		}
		if d.err != nil {
			break
		}
		if _, dup := tab.find(id, -1); dup {
			d.fail("batches: duplicate ID")
			break
		}
		i := tab.add(id)
		tab.rows[i].marks, tab.rows[i].series = rowCounted, series
		tab.setRef(i, 0, state)
		tab.setCounts(i, hw, last)
		tab.setCreated(i, created)
		tab.setLastSeen(i, lastSeen)
		tab.counted++
		prevID, prevCreated = id, created
	}
	return d.done("batches")
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
	var loaded *Tracker
	res := loadFile(t.path, MaxFileSize, time.Now(), func(data []byte) (err error) {
		loaded, err = decodeTracker(t.opts, data)
		return err
	})
	switch {
	case res.missing:
		t.logger.Info("no saved counter state: counters start from the next successful scrape", "file", t.path)
	case res.err == nil:
		loaded.path = t.path
		t.logger.Info("loaded the counter state", "file", t.path, "batches", loaded.tab.counted, "saved", loaded.lastSave.UTC().Format(time.RFC3339))
		return loaded
	case res.asideErr != nil:
		// Never overwrite a file that could hold the only copy of the
		// counters: refuse to save until an operator looks.
		t.noSave = fmt.Errorf("the unusable state file could not be moved aside, so it is not overwritten: %w", res.asideErr)
		t.logger.Error("the counter state file is unusable and could not be moved aside; starting fresh, in memory only", "file", t.path, "err", res.err, "rename_err", res.asideErr)
	default:
		t.logger.Error("the counter state file is unusable: moved aside, counters start fresh", "file", t.path, "moved_to", res.aside, "err", res.err)
	}
	return t
}

// loadResult is what became of loading a file of this package.
type loadResult struct {
	missing  bool   // there is no file: nothing to load
	err      error  // why the file is unusable; nil when it loaded
	aside    string // where the unusable file was moved
	asideErr error  // why it could not be moved: then it must not be overwritten
}

// loadFile reads the file at path, of at most limit bytes, into decode,
// once what crashed saves left of it is removed. A file that cannot be
// read or decoded is moved aside, never deleted, for an operator to look
// at.
func loadFile(path string, limit int64, now time.Time, decode func([]byte) error) loadResult {
	RemoveTemporaryFiles(path)
	data, err := ReadFile(path, limit)
	// ENOTDIR: a part of the directory is a file, so there is no file
	// either; saves will fail and say why.
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return loadResult{missing: true}
	}
	if err == nil {
		if err = decode(data); err == nil {
			return loadResult{}
		}
	}
	res := loadResult{err: err}
	res.aside, res.asideErr = MoveAside(path, now)
	return res
}

// saveLog logs the failures of one file's saves when they start, change
// and end, not on every try.
type saveLog struct {
	failed string // the error line of a new failure
	still  string // the debug line of a repeated one; "" for none
	works  string // the line once saves work again
	latch  failure.Latch
}

// saved logs the outcome of one save of path.
func (l *saveLog) saved(logger *slog.Logger, path string, err error) {
	switch {
	case err == nil:
		if l.latch.Clear() {
			logger.Info(l.works, "file", path)
		}
	case l.latch.Fail(err.Error()):
		logger.Error(l.failed, "file", path, "err", err.Error())
	case l.still != "":
		logger.Debug(l.still, "file", path, "err", err.Error())
	}
}

// ErrTooLarge marks a file larger than a good one of its kind can be.
var ErrTooLarge = errors.New("file too large")

// ReadFile returns the content of the file at path, or an error wrapping
// ErrTooLarge, without reading it, when it has more than limit bytes: a
// file that size cannot be a good one, and reading it whole would cost its
// size in memory and time.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a good one can have", ErrTooLarge, size, limit)
	}
	// The file can grow meanwhile, or not say its size (a pipe): never
	// read past the limit either way.
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w: more than the %d bytes a good one can have", ErrTooLarge, limit)
	}
	return buf.Bytes(), nil
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

// RemoveTemporaryFiles removes what WriteAtomic left of path when the
// process died in the midst of a save, so that crashes do not fill the
// disk. The file itself, whole, is untouched. A save under way in another
// process would only fail, and be retried.
func RemoveTemporaryFiles(path string) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+".tmp-"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// MoveAside renames an unusable file to <path>.corrupt-<unix time>, so that
// it is kept for an operator to look at, never deleted, and returns the new
// name.
func MoveAside(path string, now time.Time) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	return aside, os.Rename(path, aside)
}
