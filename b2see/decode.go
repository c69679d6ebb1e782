package b2see

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	// bufSize is the read buffer. Records are ~800 bytes, so one buffer
	// holds dozens of them and refills are rare.
	bufSize = 64 << 10
	// maxToken caps a single string or number. The buffer grows only to hold
	// one token whole, so this also caps the buffer, whatever a hostile or
	// broken body holds.
	maxToken = 1 << 20
	// maxDepth matches encoding/json, so that every body json.Valid accepts
	// nests shallowly enough for the decoder too.
	maxDepth = 10000
	// maxInterned bounds the table of distinct kept strings (sender names,
	// product types, states). Past it new values are still decoded, just
	// not shared.
	maxInterned = 4096
	// maxInternLen keeps long strings out of the table, so that a hostile
	// body cannot fill it with megabytes. Real names and states are short.
	maxInternLen = 128
	// cachedKeys and cachedKeyLen size the memory of the keys of the last
	// records (see Decoder.keys): a record of the Batch Data API has some
	// 25 members, whose longest name is 28 bytes.
	cachedKeys   = 48
	cachedKeyLen = 48
)

// BodyError reports a response body that is not a valid array of batch records.
// It never quotes the body: only the byte offset and what was wrong.
type BodyError struct {
	Offset int64
	Reason string
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("bad response body at byte %d: %s", e.Offset, e.Reason)
}

// Decoder reads a JSON array of batch records from a stream, one record at a time.
//
// It scans bytes itself over a fixed buffer rather than use encoding/json:
// bodies of large dealer groups run to tens of megabytes, and the decoder
// must keep pace with the network without memory growing with the body.
// Fields the exporter does not use, recipients' personal data among them,
// are validated and skipped without being copied.
type Decoder struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unread byte in buf
	end  int   // end of valid data in buf
	base int64 // stream offset of buf[0]
	rerr error // sticky error from r, io.EOF included

	state   int
	elem    int   // index of the next array element, for messages
	err     error // sticky result of Next once it failed or finished
	stack   []byte
	scratch []byte
	intern  map[string]string
	// keys remembers, for each of the first cachedKeys members of a
	// record, the key last seen in that place as it was sent, quotes and
	// colon included, and the field it names. A service writes the same
	// keys in the same order in every record, and keys are most of the
	// bytes of a body: a key equal byte for byte to the one remembered is
	// known valid and matched without scanning it again. Keys with escapes
	// are not remembered, so a remembered key's only quotes are its first
	// and last bytes.
	keys [cachedKeys]cachedKey

	// numScanned counts the bytes number scanning looked at, so that a
	// test can check the work stays linear in the body however it is
	// split across reads.
	numScanned int64
}

// cachedKey is a key as sent, quotes and the colon after it included, and
// the field it names.
type cachedKey struct {
	n   uint8 // length of raw in use; 0 for none
	f   uint8
	raw [cachedKeyLen]byte
}

// Decoder states.
const (
	stateStart = iota
	stateFirst // after '[': an element or ']'
	stateNext  // after an element: ',' or ']'
)

// NewDecoder returns a decoder reading from r. It reads in large chunks, so r
// need not be buffered.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{
		r:      r,
		buf:    make([]byte, bufSize),
		intern: make(map[string]string),
	}
}

// InputOffset returns the number of bytes consumed so far.
func (d *Decoder) InputOffset() int64 { return d.base + int64(d.pos) }

// Next decodes the next record into b, overwriting every field. It returns io.EOF
// after the closing ']' once it has checked that only whitespace follows.
func (d *Decoder) Next(b *Record) error {
	if d.err != nil {
		return d.err
	}
	err := d.next(b)
	if err != nil {
		d.err = err
	}
	return err
}

func (d *Decoder) next(b *Record) error {
	for {
		switch d.state {
		case stateStart:
			if err := d.skipBOM(); err != nil {
				return err
			}
			c, err := d.nonWS()
			if err != nil {
				if err == io.EOF {
					return d.errAt(d.InputOffset(), "empty body")
				}
				return err
			}
			switch c {
			case '[':
				d.pos++
				d.state = stateFirst
				continue
			case 'n':
				if err := d.literal("null"); err != nil {
					return err
				}
				return d.finish()
			}
			if k := kindOf(c); k != "" {
				return d.errAt(d.InputOffset(), "want an array of batch records, got "+k)
			}
			return d.errAt(d.InputOffset(), "invalid character where a value should be")
		case stateFirst:
			c, err := d.nonWS()
			if err != nil {
				return d.eofTruncated(err, "in the array")
			}
			if c == ']' {
				d.pos++
				return d.finish()
			}
		case stateNext:
			c, err := d.nonWS()
			if err != nil {
				return d.eofTruncated(err, "in the array")
			}
			switch c {
			case ']':
				d.pos++
				return d.finish()
			case ',':
				d.pos++
			default:
				return d.errAt(d.InputOffset(), "want ',' or ']' after an array element")
			}
		}
		// An element must follow.
		c, err := d.nonWS()
		if err != nil {
			return d.eofTruncated(err, "in the array")
		}
		d.state = stateNext
		d.elem++
		switch c {
		case '{':
			return d.record(b)
		case 'n':
			// .NET lists may hold null entries; they carry no record.
			if err := d.literal("null"); err != nil {
				return err
			}
			continue
		}
		if k := kindOf(c); k != "" {
			return d.errAt(d.InputOffset(), fmt.Sprintf("element %d of the array is %s, want a batch record object", d.elem-1, k))
		}
		return d.errAt(d.InputOffset(), "invalid character where a value should be")
	}
}

// finish checks that only whitespace follows the top-level value.
func (d *Decoder) finish() error {
	_, err := d.nonWS()
	if err == nil {
		return d.errAt(d.InputOffset(), "unexpected data after the end of the top-level value")
	}
	return err // io.EOF, or the reader's own error
}

func kindOf(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return ""
}

func (d *Decoder) errAt(off int64, reason string) error {
	return &BodyError{Offset: off, Reason: reason}
}

// eofTruncated turns io.EOF from fill into a truncation error; reader and
// body errors pass through.
func (d *Decoder) eofTruncated(err error, where string) error {
	if err == io.EOF {
		return d.errAt(d.base+int64(d.end), "truncated body: unexpected end "+where)
	}
	return err
}

// fill keeps the unread bytes buf[pos:end], moves them to the front and reads
// more after them. It returns io.EOF at the end of the stream, a wrapped
// error of the reader, or a *BodyError when buf[pos:end] is already a whole
// token's maximum.
func (d *Decoder) fill() error {
	if d.rerr != nil {
		return d.readErr()
	}
	if d.pos > 0 {
		n := copy(d.buf, d.buf[d.pos:d.end])
		d.base += int64(d.pos)
		d.pos, d.end = 0, n
	}
	if d.end == len(d.buf) {
		if len(d.buf) >= maxToken {
			return d.errAt(d.base, fmt.Sprintf("a single token is longer than %d bytes", maxToken))
		}
		nb := make([]byte, min(2*len(d.buf), maxToken))
		copy(nb, d.buf[:d.end])
		d.buf = nb
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err != nil {
			d.rerr = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return d.readErr()
		}
	}
	d.rerr = io.ErrNoProgress
	return d.readErr()
}

func (d *Decoder) readErr() error {
	if d.rerr == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("reading response body: %w", d.rerr)
}

// nonWS skips whitespace and returns the next byte without consuming it.
func (d *Decoder) nonWS() (byte, error) {
	for {
		buf, i := d.buf[:d.end], d.pos
		for ; i < len(buf); i++ {
			switch c := buf[i]; c {
			case ' ', '\n', '\r', '\t':
			default:
				d.pos = i
				return c, nil
			}
		}
		d.pos = i
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
}

// peek returns the byte at pos when it is in the buffer and not
// whitespace (JSON's are all bytes up to ' '), and 0 otherwise, for the
// caller to ask nonWS. Unlike nonWS it is small enough to be inlined, and
// in a body without whitespace it always answers.
func (d *Decoder) peek() byte {
	if d.pos < d.end {
		if c := d.buf[d.pos]; c > ' ' {
			return c
		}
	}
	return 0
}

// ensure makes n bytes from pos available, or returns io.EOF (or another
// error) if the stream ends first.
func (d *Decoder) ensure(n int) error {
	for d.end-d.pos < n {
		if err := d.fill(); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) skipBOM() error {
	if err := d.ensure(3); err != nil && err != io.EOF {
		return err
	}
	if d.end-d.pos >= 3 && d.buf[d.pos] == 0xEF && d.buf[d.pos+1] == 0xBB && d.buf[d.pos+2] == 0xBF {
		d.pos += 3
	}
	return nil
}

// literal consumes lit (null, true or false), which starts at pos.
func (d *Decoder) literal(lit string) error {
	if buf := d.buf[d.pos:d.end]; len(buf) >= len(lit) && string(buf[:len(lit)]) == lit {
		d.pos += len(lit)
		return nil
	}
	return d.literalSlow(lit)
}

// literalSlow is literal when lit is not whole at pos: the stream may
// have more of it, or the body is wrong.
func (d *Decoder) literalSlow(lit string) error {
	if err := d.ensure(len(lit)); err != nil && err != io.EOF {
		return err
	}
	avail := d.buf[d.pos:d.end]
	for i := 0; i < len(lit); i++ {
		if i == len(avail) {
			return d.eofTruncated(io.EOF, "in a literal")
		}
		if avail[i] != lit[i] {
			return d.errAt(d.InputOffset()+int64(i), "invalid literal, want "+lit)
		}
	}
	d.pos += len(lit)
	return nil
}

// strByte classifies bytes inside strings: 0 is plain, anything else needs a look.
var strByte = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 1
	}
	t['"'] = 1
	t['\\'] = 1
	for c := 0x80; c < 0x100; c++ {
		t[c] = 1
	}
	return t
}()

// special8 marks the bytes of x that need a look inside a string (see
// strByte): control characters, '"', '\\' and bytes past ASCII. Its lowest
// set bit, if any, is the high bit of the first such byte: a byte past ASCII
// shows in the high bits of x itself, and each other test is a subtraction
// in which a byte that matches borrows into its high bit while no byte
// borrows unless one below it matched. Bits above the first may be wrong;
// zero means all eight bytes are plain.
func special8(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	lessThanSpace := x - 0x20*ones      // a byte below 0x20 borrows into its high bit
	quote := (x ^ '"'*ones) - ones      // a byte equal to '"' becomes 0xff
	backslash := (x ^ '\\'*ones) - ones // and one equal to '\\'
	return (x | lessThanSpace | quote | backslash) & highs
}

// scanString validates the string starting at buf[pos] == '"' and returns its
// length including the quotes, and whether it holds escapes. It consumes
// nothing; the whole string is in buf[pos:pos+n] afterwards.
func (d *Decoder) scanString() (n int, esc bool, err error) {
	i := 1
	for {
		buf := d.buf[d.pos:d.end]
	scan:
		for i < len(buf) {
			if i+8 <= len(buf) {
				m := special8(binary.LittleEndian.Uint64(buf[i:]))
				if m == 0 {
					i += 8
					continue
				}
				i += bits.TrailingZeros64(m) / 8 // the first byte to look at
			}
			c := buf[i]
			if strByte[c] == 0 {
				i++
				continue
			}
			switch {
			case c == '"':
				return i + 1, esc, nil
			case c == '\\':
				esc = true
				if i+1 >= len(buf) {
					break scan
				}
				switch buf[i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					i += 2
				case 'u':
					if i+6 > len(buf) {
						break scan
					}
					for _, h := range buf[i+2 : i+6] {
						if unhex(h) < 0 {
							return 0, false, d.errAt(d.InputOffset()+int64(i), "invalid \\u escape in a string")
						}
					}
					i += 6
				default:
					return 0, false, d.errAt(d.InputOffset()+int64(i), "invalid escape in a string")
				}
			case c < 0x20:
				return 0, false, d.errAt(d.InputOffset()+int64(i), "control character in a string")
			default:
				if !utf8.FullRune(buf[i:]) {
					break scan
				}
				r, size := utf8.DecodeRune(buf[i:])
				if r == utf8.RuneError && size == 1 {
					return 0, false, d.errAt(d.InputOffset()+int64(i), "invalid UTF-8 in a string")
				}
				i += size
			}
		}
		if err := d.fill(); err != nil {
			return 0, false, d.eofTruncated(err, "in a string")
		}
	}
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// unescape decodes the escapes of a validated string body into d.scratch.
// Lone surrogates become U+FFFD, as encoding/json does.
func (d *Decoder) unescape(s []byte) []byte {
	out := d.scratch[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(s[i+2:])); r2 != utf8.RuneError {
						out = utf8.AppendRune(out, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, s[i+1])
		}
		i += 2
	}
	d.scratch = out
	return out
}

func hex4(b []byte) rune {
	return rune(unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3]))
}

// numPhase says where a scan of a number stopped: what may come next.
type numPhase uint8

const (
	numStart   numPhase = iota // '-' or the first digit
	numSign                    // after '-': the first digit
	numInt                     // in the integer part, after a first digit other than 0
	numZero                    // after a leading 0: '.', an exponent or the end
	numDot                     // after '.': a digit
	numFrac                    // in the fraction
	numE                       // after 'e': a sign or a digit
	numExpSign                 // after the exponent's sign: a digit
	numExp                     // in the exponent
)

// complete reports whether a number may end in phase p.
func (p numPhase) complete() bool {
	return p == numInt || p == numZero || p == numFrac || p == numExp
}

// isInt reports whether a number that ended in phase p has neither a
// fraction nor an exponent.
func (p numPhase) isInt() bool { return p == numInt || p == numZero }

// numScan goes on with the JSON number in b from b[i], in the phase p an
// earlier call stopped in, so that a number split across reads is looked at
// once. It returns where it stopped and in which phase: at len(b) when the
// number may go on, at the first byte after the number, or, with ok false,
// at a byte that cannot be where it is.
//
// It reads as one straight pass over the grammar, with a label per phase
// to resume at: counts and prices are short, and a loop dispatching on the
// phase at every byte made bodies full of numbers a tenth slower.
func numScan(b []byte, i int, p numPhase) (n int, _ numPhase, ok bool) {
	switch p {
	case numSign:
		goto sign
	case numInt:
		goto intPart
	case numZero:
		goto zero
	case numDot:
		goto dot
	case numFrac:
		goto frac
	case numE, numExpSign, numExp:
		return exponentScan(b, i, p)
	}
	if i == len(b) {
		return i, numStart, true
	}
	if b[i] == '-' {
		i++
	}
sign:
	if i == len(b) {
		return i, numSign, true
	}
	if b[i] == '0' {
		i++
		goto zero
	}
	if b[i] < '1' || b[i] > '9' {
		return i, numSign, false
	}
	i++
intPart:
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i == len(b) {
		return i, numInt, true
	}
	goto afterInt
zero:
	if i == len(b) {
		return i, numZero, true
	}
afterInt:
	switch b[i] {
	case '.':
		i++
		goto dot
	case 'e', 'E':
		return exponentScan(b, i+1, numE)
	}
	return i, numInt, true
dot:
	if i == len(b) {
		return i, numDot, true
	}
	if !isDigit(b[i]) {
		return i, numDot, false
	}
	i++
frac:
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i == len(b) || b[i] != 'e' && b[i] != 'E' {
		return i, numFrac, true
	}
	return exponentScan(b, i+1, numE)
}

// exponentScan is numScan after the 'e' of an exponent, in phase numE,
// numExpSign or numExp.
func exponentScan(b []byte, i int, p numPhase) (n int, _ numPhase, ok bool) {
	switch p {
	case numExpSign:
		goto expSign
	case numExp:
		goto exp
	}
	if i == len(b) {
		return i, numE, true
	}
	if b[i] == '+' || b[i] == '-' {
		i++
	}
expSign:
	if i == len(b) {
		return i, numExpSign, true
	}
	if !isDigit(b[i]) {
		return i, numExpSign, false
	}
	i++
exp:
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i, numExp, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// validNumber reports whether all of b is one JSON number.
func validNumber(b []byte) (isInt, ok bool) {
	n, p, ok := numScan(b, 0, numStart)
	if !ok || n != len(b) || !p.complete() {
		return false, false
	}
	return p.isInt(), true
}

// scanNumber validates the number at pos and returns its length; it
// consumes nothing. After a refill it goes on where it stopped, as
// scanString does.
func (d *Decoder) scanNumber() (n int, isInt bool, err error) {
	i, p := 0, numStart
	for {
		start := i
		var ok bool
		i, p, ok = numScan(d.buf[d.pos:d.end], i, p)
		d.numScanned += int64(i - start)
		if !ok {
			return 0, false, d.errAt(d.InputOffset()+int64(i), "invalid number")
		}
		if d.pos+i < d.end {
			return i, p.isInt(), nil
		}
		// A number is never the last byte of a valid body here: top-level
		// numbers are refused before they are scanned.
		if err := d.fill(); err != nil {
			return 0, false, d.eofTruncated(err, "in a number")
		}
	}
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat converts a validated JSON number. Prices like 12.50 take the
// exact fast path: an integer mantissa below 2^53 scaled by a power of ten
// that float64 holds exactly rounds correctly in one operation.
func parseFloat(b []byte) (float64, error) {
	i, neg := 0, false
	if b[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	exp := 0
	slow := false
	for ; i < len(b) && isDigit(b[i]); i++ {
		if mant > 1e17 {
			slow = true
			break
		}
		mant = mant*10 + uint64(b[i]-'0')
	}
	if !slow && i < len(b) && b[i] == '.' {
		for i++; i < len(b) && isDigit(b[i]); i++ {
			if mant > 1e17 {
				slow = true
				break
			}
			mant = mant*10 + uint64(b[i]-'0')
			exp--
		}
	}
	if !slow && i < len(b) {
		// Exponent: 'e' or 'E', optional sign, digits.
		i++
		eneg := false
		if b[i] == '+' || b[i] == '-' {
			eneg = b[i] == '-'
			i++
		}
		e := 0
		for ; i < len(b); i++ {
			if e > 10000 {
				slow = true
				break
			}
			e = e*10 + int(b[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if !slow && mant < 1<<53 && -22 <= exp && exp <= 22 {
		f := float64(mant)
		if exp < 0 {
			f /= pow10[-exp]
		} else {
			f *= pow10[exp]
		}
		if neg {
			f = -f
		}
		return f, nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, errOutOfRange
	}
	return f, nil
}

var (
	errOutOfRange = errors.New("number out of range")
	errNotWhole   = errors.New("not a whole number")
)

// parseInt converts a validated JSON number that must be integral; counts
// sometimes arrive as 3.0.
func parseInt(b []byte, isInt bool) (int64, error) {
	if isInt {
		if len(b) <= 18 {
			i, neg := 0, false
			if b[0] == '-' {
				i, neg = 1, true
			}
			var v int64
			for ; i < len(b); i++ {
				v = v*10 + int64(b[i]-'0')
			}
			if neg {
				v = -v
			}
			return v, nil
		}
		v, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, errOutOfRange
		}
		return v, nil
	}
	f, err := parseFloat(b)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, errNotWhole
	}
	if f < -(1<<63) || f >= 1<<63 {
		return 0, errOutOfRange
	}
	return int64(f), nil
}

// Field kinds and indexes of the fields the decoder keeps.
const (
	fUnknown = iota
	fBatchID
	fDateCreated
	fDateSent
	fSendingUserName
	fProductType
	fLandingPageFirstWatched
	fLandingPageLastWatched
	fLandingPageWatchCount
	fVideoPlayCount
	fImageLinkClicks
	fFacebookClicks
	fGoogleClicks
	fCustomerActionState
	fCustomerActionDate
	fCustomerActionPrice
	fCustomerActionPaymentOutcome
	fCustomerRating
)

// fieldNames are the documented names, used in messages so that a reason
// never repeats a key as the body spelled it.
var fieldNames = [...]string{
	fBatchID:                      "BatchId",
	fDateCreated:                  "DateCreated",
	fDateSent:                     "DateSent",
	fSendingUserName:              "SendingUserName",
	fProductType:                  "ProductType",
	fLandingPageFirstWatched:      "LandingPageFirstWatched",
	fLandingPageLastWatched:       "LandingPageLastWatched",
	fLandingPageWatchCount:        "LandingPageWatchCount",
	fVideoPlayCount:               "VideoPlayCount",
	fImageLinkClicks:              "ImageLinkClicks",
	fFacebookClicks:               "FacebookClicks",
	fGoogleClicks:                 "GoogleClicks",
	fCustomerActionState:          "CustomerActionState",
	fCustomerActionDate:           "CustomerActionDate",
	fCustomerActionPrice:          "CustomerActionPrice",
	fCustomerActionPaymentOutcome: "CustomerActionPaymentOutcome",
	fCustomerRating:               "CustomerRating",
}

// field matches a key ASCII-case-insensitively: ASP.NET Core writes
// camelCase, older Web API PascalCase.
func field(key []byte) int {
	var low [32]byte
	if len(key) > len(low) {
		return fUnknown
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	switch string(low[:len(key)]) {
	case "batchid":
		return fBatchID
	case "datecreated":
		return fDateCreated
	case "datesent":
		return fDateSent
	case "sendingusername":
		return fSendingUserName
	case "producttype":
		return fProductType
	case "landingpagefirstwatched":
		return fLandingPageFirstWatched
	case "landingpagelastwatched":
		return fLandingPageLastWatched
	case "landingpagewatchcount":
		return fLandingPageWatchCount
	case "videoplaycount":
		return fVideoPlayCount
	case "imagelinkclicks":
		return fImageLinkClicks
	case "facebookclicks":
		return fFacebookClicks
	case "googleclicks":
		return fGoogleClicks
	case "customeractionstate":
		return fCustomerActionState
	case "customeractiondate":
		return fCustomerActionDate
	case "customeractionprice":
		return fCustomerActionPrice
	case "customeractionpaymentoutcome":
		return fCustomerActionPaymentOutcome
	case "customerrating":
		return fCustomerRating
	}
	return fUnknown
}

// record decodes the object starting at pos into b.
func (d *Decoder) record(b *Record) error {
	*b = Record{}
	d.pos++ // '{'
	c, err := d.nonWS()
	if err != nil {
		return d.eofTruncated(err, "in a record")
	}
	if c == '}' {
		d.pos++
		return nil
	}
	for member := 0; ; member++ {
		if c != '"' {
			return d.errAt(d.InputOffset(), "want a field name in a record")
		}
		f, err := d.key(member)
		if err != nil {
			return err
		}
		if c = d.peek(); c == 0 {
			if c, err = d.nonWS(); err != nil {
				return d.eofTruncated(err, "in a record")
			}
		}
		switch {
		case f != fUnknown:
			err = d.value(b, f, c)
		case c == '{' || c == '[':
			err = d.skipValue()
		default:
			err = d.skipScalar(c) // what skipValue would do, without looking again
		}
		if err != nil {
			return err
		}
		if c = d.peek(); c == 0 {
			if c, err = d.nonWS(); err != nil {
				return d.eofTruncated(err, "in a record")
			}
		}
		switch c {
		case ',':
			d.pos++
			if c = d.peek(); c == 0 {
				if c, err = d.nonWS(); err != nil {
					return d.eofTruncated(err, "in a record")
				}
			}
		case '}':
			d.pos++
			return nil
		default:
			return d.errAt(d.InputOffset(), "want ',' or '}' after a field")
		}
	}
}

// key consumes the key starting at buf[pos] == '"', the member-th of its
// record, and the ':' after it, and returns the field the key names. A key
// and colon the same as those remembered for the place are matched at once;
// another key is scanned and, when its colon follows it at once, remembered
// in its stead.
func (d *Decoder) key(member int) (f int, err error) {
	var ck *cachedKey
	if member < len(d.keys) {
		ck = &d.keys[member]
		if m := int(ck.n); m > 0 && m <= d.end-d.pos && string(d.buf[d.pos:d.pos+m]) == string(ck.raw[:m]) {
			d.pos += m
			return int(ck.f), nil
		}
	}
	n, esc, err := d.scanString()
	if err != nil {
		return 0, err
	}
	key := d.buf[d.pos+1 : d.pos+n-1]
	if esc {
		key = d.unescape(key)
	}
	f = field(key)
	if ck != nil && !esc && n < cachedKeyLen && d.pos+n < d.end && d.buf[d.pos+n] == ':' {
		ck.n, ck.f = uint8(copy(ck.raw[:], d.buf[d.pos:d.pos+n+1])), uint8(f)
	}
	d.pos += n
	c, err := d.nonWS()
	if err != nil {
		return 0, d.eofTruncated(err, "in a record")
	}
	if c != ':' {
		return 0, d.errAt(d.InputOffset(), "want ':' after a field name")
	}
	d.pos++
	return f, nil
}

// value decodes the value of a kept field f, whose first byte c is at pos.
func (d *Decoder) value(b *Record, f int, c byte) error {
	off := d.InputOffset()
	var raw []byte // number text, from a number or a string
	isInt := false
	switch {
	case c == 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
		d.setNull(b, f)
		return nil
	case c == '"':
		var done bool
		var err error
		if raw, isInt, done, err = d.stringValue(b, f, off); done || err != nil {
			return err
		}
	case c == '-' || isDigit(c):
		n, ii, err := d.scanNumber()
		if err != nil {
			return err
		}
		raw, isInt = d.buf[d.pos:d.pos+n], ii
		d.pos += n
	case c == '{' || c == '[' || c == 't' || c == 'f':
		return d.errAt(off, "field "+fieldNames[f]+": want "+wantOf(f)+", got "+kindOf(c))
	default:
		return d.errAt(off, "invalid character where a value should be")
	}
	return d.numberValue(b, f, off, raw, isInt)
}

// stringValue decodes the string at pos, the value of field f at offset
// off. A string or date field is set and done; for a number field it
// returns the number's text, which some writers send as a string.
func (d *Decoder) stringValue(b *Record, f int, off int64) (raw []byte, isInt, done bool, err error) {
	n, esc, err := d.scanString()
	if err != nil {
		return nil, false, true, err
	}
	s := d.buf[d.pos+1 : d.pos+n-1]
	if esc {
		s = d.unescape(s)
	}
	d.pos += n
	switch f {
	case fSendingUserName, fProductType, fCustomerActionState, fCustomerActionPaymentOutcome:
		*d.stringField(b, f) = d.internString(s)
		return nil, false, true, nil
	case fDateCreated, fDateSent, fLandingPageFirstWatched, fLandingPageLastWatched, fCustomerActionDate:
		t, err := parseTime(s)
		if err != nil {
			return nil, false, true, d.errAt(off, "field "+fieldNames[f]+": "+err.Error())
		}
		*d.timeField(b, f) = t
		return nil, false, true, nil
	}
	// A number sent as a string, as .NET's AllowReadingFromString writers
	// do; an empty one means no value.
	if len(s) == 0 {
		d.setNull(b, f)
		return nil, false, true, nil
	}
	var ok bool
	if isInt, ok = validNumber(s); !ok {
		return nil, false, true, d.errAt(off, "field "+fieldNames[f]+": want a number, got a string that is not one")
	}
	return s, isInt, false, nil
}

// numberValue sets number field f from raw, the validated text of its
// value at offset off.
func (d *Decoder) numberValue(b *Record, f int, off int64, raw []byte, isInt bool) error {
	switch f {
	case fCustomerActionPrice, fCustomerRating:
		v, err := parseFloat(raw)
		if err != nil {
			return d.errAt(off, "field "+fieldNames[f]+": "+err.Error())
		}
		if f == fCustomerRating {
			b.CustomerRating, b.HasRating = v, true
		} else {
			b.CustomerActionPrice = v
		}
		return nil
	case fBatchID, fLandingPageWatchCount, fVideoPlayCount, fImageLinkClicks, fFacebookClicks, fGoogleClicks:
		// A count beyond int64 refuses the body as a bad body, as every
		// number out of range does (a price of 1e999): no real count comes
		// near it, so the upstream is broken, and a clamped figure would be
		// made up. A negative count is kept as sent; it is no worse than
		// any wrong count, and what sums counts takes it as 0.
		v, err := parseInt(raw, isInt)
		if err != nil {
			return d.errAt(off, "field "+fieldNames[f]+": "+err.Error())
		}
		if f == fBatchID {
			b.ID, b.HasID = v, true
		} else {
			*d.intField(b, f) = v
		}
		return nil
	}
	return d.errAt(off, "field "+fieldNames[f]+": want "+wantOf(f)+", got a number")
}

func wantOf(f int) string {
	switch f {
	case fSendingUserName, fProductType, fCustomerActionState, fCustomerActionPaymentOutcome:
		return "a string"
	case fDateCreated, fDateSent, fLandingPageFirstWatched, fLandingPageLastWatched, fCustomerActionDate:
		return "a date string"
	}
	return "a number"
}

func (d *Decoder) setNull(b *Record, f int) {
	switch f {
	case fBatchID:
		b.ID, b.HasID = 0, false
	case fCustomerRating:
		b.CustomerRating, b.HasRating = 0, false
	case fCustomerActionPrice:
		b.CustomerActionPrice = 0
	case fSendingUserName, fProductType, fCustomerActionState, fCustomerActionPaymentOutcome:
		*d.stringField(b, f) = ""
	case fDateCreated, fDateSent, fLandingPageFirstWatched, fLandingPageLastWatched, fCustomerActionDate:
		*d.timeField(b, f) = time.Time{}
	default:
		*d.intField(b, f) = 0
	}
}

func (d *Decoder) stringField(b *Record, f int) *string {
	switch f {
	case fSendingUserName:
		return &b.SendingUserName
	case fProductType:
		return &b.ProductType
	case fCustomerActionState:
		return &b.CustomerActionState
	}
	return &b.CustomerActionPaymentOutcome
}

func (d *Decoder) timeField(b *Record, f int) *time.Time {
	switch f {
	case fDateCreated:
		return &b.DateCreated
	case fDateSent:
		return &b.DateSent
	case fLandingPageFirstWatched:
		return &b.LandingPageFirstWatched
	case fLandingPageLastWatched:
		return &b.LandingPageLastWatched
	}
	return &b.CustomerActionDate
}

func (d *Decoder) intField(b *Record, f int) *int64 {
	switch f {
	case fLandingPageWatchCount:
		return &b.LandingPageWatchCount
	case fVideoPlayCount:
		return &b.VideoPlayCount
	case fImageLinkClicks:
		return &b.ImageLinkClicks
	case fFacebookClicks:
		return &b.FacebookClicks
	}
	return &b.GoogleClicks
}

// internString returns s as a string shared with earlier equal values, so
// that the few distinct names and states cost no allocation per record.
func (d *Decoder) internString(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	if v, ok := d.intern[string(s)]; ok {
		return v
	}
	v := string(s)
	if len(d.intern) < maxInterned && len(v) <= maxInternLen {
		d.intern[v] = v
	}
	return v
}

// skipValue validates and discards the value starting at pos, nested or not.
func (d *Decoder) skipValue() error {
	d.stack = d.stack[:0]
	for {
		// A value is expected at pos (after whitespace).
		c, err := d.nonWS()
		if err != nil {
			return d.eofTruncated(err, "in a value")
		}
		if c == '{' || c == '[' {
			opened, err := d.open(c)
			if err != nil {
				return err
			}
			if opened {
				continue
			}
		} else if err := d.skipScalar(c); err != nil {
			return err
		}
		if done, err := d.closeValues(); done || err != nil {
			return err
		}
	}
}

// open consumes the '{' or '[' at pos, and the key of an object's first
// member. It reports whether a container was opened: an empty one is
// consumed whole, as a scalar is.
func (d *Decoder) open(c byte) (opened bool, err error) {
	if len(d.stack)+2 >= maxDepth {
		return false, d.errAt(d.InputOffset(), "values nested too deeply")
	}
	d.pos++
	cc, err := d.nonWS()
	if err != nil {
		return false, d.eofTruncated(err, "in a value")
	}
	if c == '{' && cc == '}' || c == '[' && cc == ']' {
		d.pos++
		return false, nil
	}
	d.stack = append(d.stack, c)
	if c == '{' {
		if err := d.skipKey(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// skipScalar validates and discards the string, number or literal at pos,
// whose first byte is c.
func (d *Decoder) skipScalar(c byte) error {
	switch c {
	case '"':
		n, _, err := d.scanString()
		if err != nil {
			return err
		}
		d.pos += n
		return nil
	case 'n':
		return d.literal("null")
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	}
	if c != '-' && !isDigit(c) {
		return d.errAt(d.InputOffset(), "invalid character where a value should be")
	}
	n, _, err := d.scanNumber()
	if err == nil {
		d.pos += n
	}
	return err
}

// closeValues follows a value: it closes the containers that end there and
// moves on to the next member. done reports that the outermost value
// ended.
func (d *Decoder) closeValues() (done bool, err error) {
	for {
		if len(d.stack) == 0 {
			return true, nil
		}
		c, err := d.nonWS()
		if err != nil {
			return false, d.eofTruncated(err, "in a value")
		}
		top := d.stack[len(d.stack)-1]
		if c == ',' {
			d.pos++
			if top == '{' {
				return false, d.skipKey()
			}
			return false, nil
		}
		if top == '{' && c == '}' || top == '[' && c == ']' {
			d.pos++
			d.stack = d.stack[:len(d.stack)-1]
			continue
		}
		if top == '{' {
			return false, d.errAt(d.InputOffset(), "want ',' or '}' in an object")
		}
		return false, d.errAt(d.InputOffset(), "want ',' or ']' in an array")
	}
}

// skipKey consumes an object key and its colon.
func (d *Decoder) skipKey() error {
	c, err := d.nonWS()
	if err != nil {
		return d.eofTruncated(err, "in an object")
	}
	if c != '"' {
		return d.errAt(d.InputOffset(), "want a field name in an object")
	}
	n, _, err := d.scanString()
	if err != nil {
		return err
	}
	d.pos += n
	if c, err = d.nonWS(); err != nil {
		return d.eofTruncated(err, "in an object")
	}
	if c != ':' {
		return d.errAt(d.InputOffset(), "want ':' after a field name")
	}
	d.pos++
	return nil
}
