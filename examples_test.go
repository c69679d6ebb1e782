package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

// TestSystemdUnit checks the example unit with systemd's own verifier and
// that the flags it passes are flags the exporter has.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("examples/b2see_exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	var execStart string
	lines := strings.Split(string(unit), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "ExecStart=") {
			execStart = strings.TrimPrefix(lines[i], "ExecStart=")
			for strings.HasSuffix(execStart, "\\") && i+1 < len(lines) {
				i++
				execStart = strings.TrimSuffix(execStart, "\\") + " " + strings.TrimSpace(lines[i])
			}
		}
	}
	fields := strings.Fields(execStart)
	if len(fields) < 2 || fields[0] != "/usr/local/bin/b2see_exporter" {
		t.Fatalf("unexpected ExecStart %q", execStart)
	}
	if _, err := parseFlags(kingpin.New("test", ""), fields[1:], &promslog.Config{}); err != nil {
		t.Errorf("the unit's ExecStart has a flag the exporter refuses: %v", err)
	}

	analyze := progtest.Require(t, "systemd-analyze")
	dir := t.TempDir()
	path := filepath.Join(dir, "b2see_exporter.service")
	// The verifier wants the binary to exist: point it at the one built here.
	fixed := strings.ReplaceAll(string(unit), "/usr/local/bin/b2see_exporter", exporterBinary)
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
