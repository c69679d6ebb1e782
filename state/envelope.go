package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Every file of this package is wrapped in one envelope:
//
//	header   magic (8 bytes), version u16, reserved u16 (0), body length u64
//	body     the kind's own content
//	trailer  CRC-32C of header and body, u32
//
// little-endian. The length catches every truncation, the checksum every
// corrupted byte, so the kind's decoder only ever sees a whole body.
const (
	headerSize  = 8 + 2 + 2 + 8
	trailerSize = 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// envelope is one kind of file: what its header says, and the error every
// fault of such a file wraps.
type envelope struct {
	magic   string // 8 bytes
	version uint16
	name    string // for errors: "state file"
	corrupt error
}

func (e *envelope) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", e.corrupt, fmt.Sprintf(format, args...))
}

// begin returns a buffer of room for a body of size bytes, its header
// written but for the length; append the body, then seal it.
func (e *envelope) begin(size int) []byte {
	out := make([]byte, headerSize, headerSize+size+trailerSize)
	copy(out, e.magic)
	binary.LittleEndian.PutUint16(out[8:], e.version)
	return out
}

// seal writes the length of the body appended to out and the checksum.
func (e *envelope) seal(out []byte) []byte {
	binary.LittleEndian.PutUint64(out[12:], uint64(len(out)-headerSize))
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
}

// open checks a file's header, length and checksum and returns its body.
func (e *envelope) open(data []byte) ([]byte, error) {
	if len(data) < headerSize+trailerSize {
		return nil, e.errorf("%d bytes, too short", len(data))
	}
	if string(data[:len(e.magic)]) != e.magic {
		return nil, e.errorf("not a %s", e.name)
	}
	if v := binary.LittleEndian.Uint16(data[8:]); v != e.version {
		return nil, fmt.Errorf("%w: format version %d, this build reads %d", e.corrupt, v, e.version)
	}
	if n := binary.LittleEndian.Uint64(data[12:]); n != uint64(len(data)-headerSize-trailerSize) {
		return nil, e.errorf("%d bytes of body, the header says %d: truncated or extended", len(data)-headerSize-trailerSize, n)
	}
	end := len(data) - trailerSize
	if crc32.Checksum(data[:end], crcTable) != binary.LittleEndian.Uint32(data[end:]) {
		return nil, e.errorf("checksum mismatch")
	}
	return data[headerSize:end], nil
}

// errCorrupt marks a counters' file that is not a good one.
var errCorrupt = errors.New("corrupt state file")

// counterFile is the envelope of the counters' file.
var counterFile = envelope{magic: "B2SEECTR", version: 2, name: "state file", corrupt: errCorrupt}
