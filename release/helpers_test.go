package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

// repoRoot is the repository's top directory, where the Makefile is.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// versionFile returns the content of the VERSION file, trimmed.
func versionFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// gitHead returns the commit checked out, which the builds must name.
func gitHead(t *testing.T) string {
	t.Helper()
	git := progtest.Require(t, "git")
	out, err := exec.Command(git, "-C", repoRoot(t), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// runMake runs make with args in the repository and fails the test, with
// make's output, if it fails.
func runMake(t *testing.T, args ...string) {
	t.Helper()
	mk := progtest.Require(t, "make")
	cmd := exec.CommandContext(t.Context(), mk, append([]string{"-C", repoRoot(t)}, args...)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("make %s took %v", args[0], time.Since(start).Round(time.Second))
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exporter is an exporter process a test started.
type exporter struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	logs *syncBuffer
}

var listeningRE = regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:[0-9]+)`)

// startExporter starts cmd, whose arguments must include
// --web.listen-address=127.0.0.1:0, and waits until it logs the port the
// system gave it. The process is stopped when the test ends.
func startExporter(t *testing.T, cmd *exec.Cmd) *exporter {
	t.Helper()
	e := &exporter{cmd: cmd, logs: &syncBuffer{}}
	cmd.Stdout = e.logs
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	addr := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			e.logs.Write(append(sc.Bytes(), '\n'))
			if m := listeningRE.FindSubmatch(sc.Bytes()); m != nil && !sent {
				addr <- string(m[1])
				sent = true
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	exited := make(chan error, 1)
	go func() { <-done; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case e.addr = <-addr:
		return e
	case err := <-exited:
		t.Fatalf("the exporter exited at start (%v); output:\n%s", err, e.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("the exporter logged no listening address in 30s; output:\n%s", e.logs)
	}
	return nil
}

// get fetches path from the exporter and returns the body of a 200 answer.
func (e *exporter) get(t *testing.T, path string) string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + e.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v; output:\n%s", path, err, e.logs)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
	}
	return string(b)
}

// series is one series of an exposition.
type series struct {
	labels map[string]string
	value  float64
}

// metric returns the series of the metric name in an exposition.
func metric(t *testing.T, exposition, name string) []series {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	var out []series
	for _, m := range mfs[name].GetMetric() {
		s := series{labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			s.labels[l.GetName()] = l.GetValue()
		}
		s.value = m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		out = append(out, s)
	}
	return out
}
