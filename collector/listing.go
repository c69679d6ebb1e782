package collector

import (
	"encoding/binary"

	"github.com/b2see-exporter/b2see_exporter/b2see"
)

// batchList is the batches a read lists, for status tracking, in the
// order listed: each as the differences of its ID and creation time (Unix
// seconds; 0 when the record has none) from the previous one's, as
// varints. Answers list their batches in close ID order with close
// creation times, so a batch takes some 2 to 5 bytes, where its ID and
// time as they are would take 16: with a million batches, the list is
// what status tracking adds to a read's memory.
type batchList struct {
	buf                 []byte
	n                   int
	lastID, lastCreated int64
}

// add appends the batch of record b.
func (l *batchList) add(b *b2see.Record) {
	var created int64
	if !b.DateCreated.IsZero() {
		created = b.DateCreated.Unix()
	}
	l.append(b.ID, created)
}

// append appends a batch. The differences wrap around for IDs far apart,
// and unwrap alike when read.
func (l *batchList) append(id, created int64) {
	l.buf = binary.AppendVarint(l.buf, id-l.lastID)
	l.buf = binary.AppendVarint(l.buf, created-l.lastCreated)
	l.lastID, l.lastCreated = id, created
	l.n++
}

// each calls fn with each batch in the order added.
func (l *batchList) each(fn func(id, created int64)) {
	var id, created int64
	for b := l.buf; len(b) > 0; {
		d, n := binary.Varint(b)
		id += d
		b = b[n:]
		d, n = binary.Varint(b)
		created += d
		b = b[n:]
		fn(id, created)
	}
}
