package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/internal/testlog"
)

// openFiles counts the open file descriptors of process pid.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}

// TestConnectionCap runs the exporter with a small connection cap, on a
// listen address and on a socket passed as systemd does, and opens many
// more connections than the cap: the process holds no more than the cap,
// and serves /metrics again once they are gone.
func TestConnectionCap(t *testing.T) {
	const maxConns, clients = 8, 100
	t.Run("listen address", func(t *testing.T) {
		addr := freeAddr(t)
		p := startProcess(t, "exporter", nil, exporterBinary, "--demo", "--storage.path="+t.TempDir(),
			"--web.listen-address="+addr, "--web.max-connections="+strconv.Itoa(maxConns))
		checkConnectionCap(t, p, addr, maxConns, clients)
	})
	t.Run("systemd socket", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		file, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		// systemd passes the socket as file descriptor 3 and names the
		// process that may take it: the shell, which exec keeps.
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("no sh to pass the socket")
		}
		p := &process{name: "exporter", cmd: exec.Command(sh, "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, exporterBinary,
			"--demo", "--storage.path="+t.TempDir(), "--web.systemd-socket", "--web.max-connections="+strconv.Itoa(maxConns)),
			logs: &testlog.Buffer{}, exited: make(chan struct{})}
		p.cmd.ExtraFiles = []*os.File{file}
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(p.stop)
		checkConnectionCap(t, p, ln.Addr().String(), maxConns, clients)
	})
}

func checkConnectionCap(t *testing.T, p *process, addr string, maxConns, clients int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	p.waitReady(t, client, "http://"+addr+"/metrics", 20*time.Second, func(r *http.Response) bool { return r.StatusCode == 200 })
	base := openFiles(t, p.cmd.Process.Pid)

	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range clients {
		c, err := net.Dial("tcp", addr) // the kernel's queue takes them all
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
		conns = append(conns, c)
	}
	// Those the server took answer; the others wait.
	deadline := time.Now().Add(2 * time.Second)
	results := make(chan bool, len(conns))
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
			results <- err == nil
		}()
	}
	answered := 0
	for range conns {
		if <-results {
			answered++
		}
	}
	if answered != maxConns {
		t.Errorf("%d of %d connections answered, want the cap, %d", answered, clients, maxConns)
	}
	if n := openFiles(t, p.cmd.Process.Pid); n > base+maxConns {
		t.Errorf("%d open files with %d connections waiting, %d before them: more than the cap of %d", n, clients, base, maxConns)
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	start := time.Now()
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics once the connections closed: %v\n%s", err, p.logs)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `b2see_up{account="demo"} 1`) {
		t.Errorf("/metrics once the connections closed: %d after %v", resp.StatusCode, time.Since(start))
	}
	t.Logf("/metrics answered %v after the connections closed", time.Since(start))
}
