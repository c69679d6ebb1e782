package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/exporter-toolkit/web"
)

func TestServerLimitsDefaults(t *testing.T) {
	l := defaultLimits
	if l.headerTimeout != 10*time.Second {
		t.Errorf("header timeout %v, want 10s: slowloris connections are dropped after 10 s", l.headerTimeout)
	}
	if l.idleTimeout != time.Minute {
		t.Errorf("idle timeout %v, want the minute the README says", l.idleTimeout)
	}
	if l.readTimeout != 15*time.Second {
		t.Errorf("read timeout %v, want the 15 s the README says", l.readTimeout)
	}
	if l.maxHeaderBytes != 64<<10 {
		t.Errorf("header cap %d, want 64 KiB", l.maxHeaderBytes)
	}
	s := newServer(http.NotFoundHandler(), l)
	if s.ReadHeaderTimeout != l.headerTimeout || s.ReadTimeout != l.readTimeout || s.IdleTimeout != l.idleTimeout || s.MaxHeaderBytes != l.maxHeaderBytes {
		t.Errorf("the server does not take the limits: %+v", s)
	}
	f, err := parseFlags(kingpin.New("test", ""), nil, &promslog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.maxConnections != defaultMaxConnections || defaultMaxConnections != 512 {
		t.Errorf("--web.max-connections default %d, want 512", f.maxConnections)
	}
}

// serveForTest serves handler as the exporter does, within limits and at
// most maxConns connections, on a loopback port, and counts the
// connections it holds at once.
func serveForTest(t *testing.T, handler http.Handler, limits serverLimits, maxConns int) (addr string, peak func() int) {
	t.Helper()
	addrs, systemd, config := []string{"127.0.0.1:0"}, false, ""
	flags := &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &config}
	ls, err := listen(flags, maxConns)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(handler, limits)
	// Connections are counted where the cap is kept: open once accepted,
	// closed before the close that frees their place under the cap. The
	// server's ConnState hook reports StateClosed only after that close, so
	// a count kept there would see a new connection before the old one left.
	counter := &connCounter{}
	for i, l := range ls {
		ls[i] = &countingListener{Listener: l, c: counter}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		web.ServeMultiple(ls, srv, flags, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	return ls[0].Addr().String(), counter.peak
}

// connCounter counts a listener's open connections and their most at once.
type connCounter struct {
	mu         sync.Mutex
	open, most int
}

func (c *connCounter) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open += n
	c.most = max(c.most, c.open)
}

func (c *connCounter) peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most
}

type countingListener struct {
	net.Listener
	c *connCounter
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.c.add(1)
	return &countingConn{Conn: conn, c: l.c}, nil
}

type countingConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (c *countingConn) Close() error {
	c.once.Do(func() { c.c.add(-1) })
	return c.Conn.Close()
}

// rawGet sends a GET of path on conn and reads the answer's status line
// and headers, within 5 s.
func rawGet(t *testing.T, conn net.Conn, r *bufio.Reader, path string) string {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer to GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status
}

// closedByServer reports whether the server closes conn within timeout.
func closedByServer(conn net.Conn, r *bufio.Reader, timeout time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestIdleConnectionsClosed: connections past the cap wait; idle ones are
// closed by the server after the idle timeout, which lets the waiting
// ones in.
func TestIdleConnectionsClosed(t *testing.T) {
	limits := defaultLimits
	limits.idleTimeout = 300 * time.Millisecond
	const maxConns = 3
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	addr, peak := serveForTest(t, ok, limits, maxConns)

	type client struct {
		conn net.Conn
		r    *bufio.Reader
	}
	var idle []client
	for range maxConns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := client{conn, bufio.NewReader(conn)}
		rawGet(t, c.conn, c.r, "/metrics")
		idle = append(idle, c)
	}
	// One more than the cap: it waits for an idle one to be closed.
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if status := rawGet(t, extra, bufio.NewReader(extra), "/metrics"); status != "200 OK" {
		t.Errorf("the connection past the cap got %q", status)
	}
	for i, c := range idle {
		if !closedByServer(c.conn, c.r, 5*time.Second) {
			t.Errorf("idle connection %d still open 5 s after its idle timeout of %v", i, limits.idleTimeout)
		}
	}
	if got := peak(); got > maxConns {
		t.Errorf("the server held %d connections at once, cap %d", got, maxConns)
	}
}

// TestSlowlorisDropped: a client that sends its headers a byte at a time
// is dropped at the header timeout, however steadily it sends.
func TestSlowlorisDropped(t *testing.T) {
	limits := defaultLimits
	limits.headerTimeout = 300 * time.Millisecond
	addr, _ := serveForTest(t, http.NotFoundHandler(), limits, 0)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan time.Time, 1)
	go func() {
		io.Copy(io.Discard, conn) // until the server closes it
		closed <- time.Now()
	}()
	start := time.Now()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: test\r\n")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(5 * time.Second)
	for {
		select {
		case at := <-closed:
			if took := at.Sub(start); took < limits.headerTimeout {
				t.Errorf("dropped after %v, before the header timeout %v", took, limits.headerTimeout)
			}
			return
		case <-tick.C:
			fmt.Fprint(conn, "X") // one more byte of a header that never ends
		case <-giveUp:
			t.Fatalf("a connection trickling its headers still open after 5 s, header timeout %v", limits.headerTimeout)
		}
	}
}

func TestLargeHeadersRefused(t *testing.T) {
	addr, _ := serveForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), defaultLimits, 0)
	for _, tt := range []struct {
		size int
		want int
	}{
		{16 << 10, 200}, // cookies of a busy host: served
		{100 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{1 << 20, http.StatusRequestHeaderFieldsTooLarge}, // what Go's default still allows
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Header.Set("X-Large", strings.Repeat("a", tt.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("header of %d bytes: %v", tt.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("header of %d bytes: %d, want %d", tt.size, resp.StatusCode, tt.want)
		}
	}
}
