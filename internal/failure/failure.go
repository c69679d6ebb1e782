// Package failure keeps the failure last logged, so that a failure that
// repeats on every scrape is logged when it starts, when it changes and
// when it ends, not each time.
package failure

// Latch is the failure last logged; the zero value is none.
type Latch struct{ last string }

// Fail takes a failure, by a key that tells it from others, and reports
// whether it is new: there was none, or another one.
func (l *Latch) Fail(key string) bool {
	if key == l.last {
		return false
	}
	l.last = key
	return true
}

// Clear forgets the failure and reports whether there was one: then the
// end of it is worth a line.
func (l *Latch) Clear() bool {
	was := l.last != ""
	l.last = ""
	return was
}
