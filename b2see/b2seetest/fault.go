package b2seetest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Fault makes an endpoint misbehave. Its fields compose: each stage below
// applies when its field is set, in this order.
//
//  1. Delay waits before answering; Hang never answers. Both end when the
//     request's context ends or the server closes; a hang then drops the
//     connection without a response.
//  2. Status (or RetryAfter alone, which means 429) replaces the endpoint's
//     answer by that status with Body and ContentType, e.g. 500 with an
//     HTML page, 502 with no body, 401, an XML error page.
//  3. Otherwise the endpoint answers normally, and Corrupt spoils a
//     successful body (see Corruption).
//  4. The body is then delivered, possibly cut after TruncateAfter bytes,
//     reset after ResetAfter bytes, or dripped at DripBytesPerSecond.
type Fault struct {
	// Delay is how long to wait before answering.
	Delay time.Duration
	// Hang waits for the client to give up instead of answering.
	Hang bool

	// Status is the HTTP status to answer with instead of the endpoint's.
	Status int
	// Body and ContentType are the body sent with Status; no ContentType
	// sends no Content-Type header.
	Body        []byte
	ContentType string
	// RetryAfter sets a Retry-After header of that many seconds; with no
	// Status the answer is 429 Too Many Requests.
	RetryAfter int
	// Header holds extra headers to send with any answer.
	Header http.Header

	// Corrupt spoils a successful body; Size parameterises it.
	Corrupt Corruption
	Size    int64

	// TruncateAfter, when positive, sends only that many bytes of the body
	// (announcing the full length when known) and closes the connection:
	// the client sees an unexpected EOF.
	TruncateAfter int
	// ResetAfter, when positive, sends the headers and that many bytes of
	// the body on the raw connection and then resets it (TCP RST).
	ResetAfter int
	// DripBytesPerSecond, when positive, sends the body no faster than
	// that, in small flushed pieces.
	DripBytesPerSecond int
}

// Corruption is a way to spoil a successful body. Corruptions work on the
// plain body and send it uncompressed even when Config.Gzip is set; only
// GzipBomb compresses.
type Corruption int

// The corruptions.
const (
	// NoCorruption sends the body as it is.
	NoCorruption Corruption = iota
	// ObjectNotArray wraps the body in a JSON object,
	// {"Success":true,"Data":<body>}, where the cakes API sends an array.
	ObjectNotArray
	// InvalidUTF8 puts the bytes 0xff 0xfe at the start of the body's first
	// JSON string value, keeping the JSON otherwise intact.
	InvalidUTF8
	// Oversize sends a valid array of records at least Size bytes long,
	// repeating the endpoint's records (or generated ones) as needed, with
	// no Content-Length.
	Oversize
	// GzipBomb sends, with Content-Encoding: gzip whether or not the client
	// asked for it, a small gzip stream that expands to a valid JSON empty
	// array padded with whitespace to Size bytes.
	GzipBomb
	// ByteOrderMark prefixes the body with a UTF-8 byte order mark, as some
	// .NET services do.
	ByteOrderMark
)

// wait applies Delay and Hang. When either ends early it drops the
// connection rather than answer, as if the server had died.
func (f *Fake) wait(w http.ResponseWriter, r *http.Request, ft Fault) {
	if ft.Delay > 0 {
		t := time.NewTimer(ft.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			abort(w)
		case <-f.done:
			abort(w)
		}
	}
	if ft.Hang {
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
		abort(w)
	}
}

// abort drops the connection without completing the response. The server
// recovers http.ErrAbortHandler silently.
func abort(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	panic(http.ErrAbortHandler)
}

func (ft Fault) statusResponse() *response {
	resp := &response{status: ft.Status, header: http.Header{}, body: ft.Body}
	if resp.status == 0 {
		resp.status = http.StatusTooManyRequests
	}
	if ft.ContentType != "" {
		resp.header.Set("Content-Type", ft.ContentType)
	} else {
		resp.header["Content-Type"] = nil // no sniffing: no header at all
	}
	return resp
}

// corrupt applies ft.Corrupt to a successful response.
func (f *Fake) corrupt(resp *response, ft Fault, r *http.Request) *response {
	if ft.Corrupt == NoCorruption {
		return resp
	}
	body := resp.body
	if resp.header.Get("Content-Encoding") == "gzip" {
		// Corruptions work on the plain body: ask again without gzip.
		body, _ = f.cakesBody(daysOf(r), false)
		resp.header.Del("Content-Encoding")
	}
	switch ft.Corrupt {
	case ObjectNotArray:
		resp.body = append(append([]byte(`{"Success":true,"Data":`), body...), '}')
	case InvalidUTF8:
		if i := bytes.Index(body, []byte(`":"`)); i >= 0 {
			i += 3
			resp.body = append(append(append([]byte(nil), body[:i]...), 0xff, 0xfe), body[i:]...)
		} else {
			resp.body = []byte("[{\"Title\":\"\xff\xfe\"}]")
		}
	case ByteOrderMark:
		resp.body = append([]byte("\xef\xbb\xbf"), body...)
	case Oversize:
		resp.body = nil
		resp.stream = f.oversize(ft.Size)
	case GzipBomb:
		resp.body = f.bomb(ft.Size)
		resp.header.Set("Content-Encoding", "gzip")
	}
	return resp
}

// daysOf is the daysOfHistory of r, or the default when absent or bad.
func daysOf(r *http.Request) int {
	if d, err := strconv.Atoi(r.URL.Query().Get("daysOfHistory")); err == nil && d >= 0 {
		return d
	}
	return defaultDaysOfHistory
}

// oversize streams a JSON array of records of at least size bytes.
func (f *Fake) oversize(size int64) func(func([]byte) error) error {
	rs := f.Records()
	if len(rs) == 0 {
		rs = Generate(100, 1, f.cfg.Now(), 90)
	}
	return func(write func([]byte) error) error {
		b := []byte{'['}
		var n int64
		for i := 0; n+1 < size || i == 0; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRecord(b, &rs[i%len(rs)])
			if len(b) >= 32<<10 {
				n += int64(len(b))
				if err := write(b); err != nil {
					return err
				}
				b = b[:0]
			} else if n+int64(len(b))+1 >= size {
				break
			}
		}
		return write(append(b, ']'))
	}
}

// bomb returns a gzip stream expanding to a JSON empty array of size bytes,
// cached because compressing gigabytes takes a noticeable fraction of a
// second.
func (f *Fake) bomb(size int64) []byte {
	size = max(size, 2)
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.bombs[size]; ok {
		return b
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write([]byte{'['})
	spaces := bytes.Repeat([]byte{' '}, 1<<20)
	for left := size - 2; left > 0; {
		n := min(left, int64(len(spaces)))
		_, _ = zw.Write(spaces[:n])
		left -= n
	}
	_, _ = zw.Write([]byte{']'})
	_ = zw.Close()
	if f.bombs == nil {
		f.bombs = map[int64][]byte{}
	}
	f.bombs[size] = buf.Bytes()
	return buf.Bytes()
}

// errStop ends a delivery cut short by the fault or by the client.
var errStop = errors.New("delivery stopped")

// deliver sends resp through the delivery faults of ft.
func (f *Fake) deliver(w http.ResponseWriter, r *http.Request, resp *response, ft Fault) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	for k, v := range ft.Header {
		h[k] = v
	}
	if ft.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ft.RetryAfter))
	}
	if resp.stream == nil {
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}

	limit := -1
	switch {
	case ft.ResetAfter > 0:
		limit = ft.ResetAfter
	case ft.TruncateAfter > 0:
		limit = ft.TruncateAfter
	}

	// out is where body bytes go: the ResponseWriter, or the hijacked
	// connection for a reset.
	var out func([]byte) error
	var flush func()
	if ft.ResetAfter > 0 {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(fmt.Sprintf("b2seetest: cannot hijack the connection for ResetAfter: %v", err))
		}
		defer resetConn(conn)
		fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.status, http.StatusText(resp.status))
		h.Set("Connection", "close")
		_ = h.Write(bw)
		_, _ = bw.WriteString("\r\n")
		out = func(p []byte) error { _, err := bw.Write(p); return err }
		flush = func() { _ = bw.Flush() }
	} else {
		w.WriteHeader(resp.status)
		rc := http.NewResponseController(w)
		out = func(p []byte) error { _, err := w.Write(p); return err }
		flush = func() { _ = rc.Flush() }
	}
	if ft.DripBytesPerSecond > 0 {
		out = f.drip(r, out, flush, ft.DripBytesPerSecond)
	}

	sent := 0
	write := func(p []byte) error {
		if limit >= 0 && sent+len(p) >= limit {
			p = p[:limit-sent]
			sent = limit
			if err := out(p); err != nil {
				return err
			}
			return errStop
		}
		sent += len(p)
		return out(p)
	}
	var err error
	if resp.stream != nil {
		err = resp.stream(write)
	} else if len(resp.body) > 0 {
		err = write(resp.body)
	}
	flush()
	if ft.ResetAfter > 0 {
		return // the deferred reset closes the connection
	}
	if err != nil || limit >= 0 {
		abort(w)
	}
}

// resetConn closes conn so that the peer sees a reset, not a clean close.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// drip wraps out so that bytes go no faster than rate per second, in
// flushed pieces of a tenth of a second's worth. It stops when the request
// ends or the server closes.
func (f *Fake) drip(r *http.Request, out func([]byte) error, flush func(), rate int) func([]byte) error {
	piece := max(rate/10, 1)
	interval := time.Duration(float64(time.Second) * float64(piece) / float64(rate))
	return func(p []byte) error {
		for len(p) > 0 {
			n := min(piece, len(p))
			if err := out(p[:n]); err != nil {
				return err
			}
			flush()
			p = p[n:]
			t := time.NewTimer(interval)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return errStop
			case <-f.done:
				t.Stop()
				return errStop
			}
		}
		return nil
	}
}
