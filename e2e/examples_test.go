package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

// TestSystemdUnit checks the example unit with systemd's own verifier,
// against the binary built here; the root package's TestSystemdUnitFlags
// checks the flags it passes.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../examples/b2see_exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/b2see_exporter") {
		t.Fatal("the unit does not start /usr/local/bin/b2see_exporter")
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
