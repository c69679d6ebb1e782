package main

import (
	"os"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
)

// TestSystemdUnitFlags checks that the flags the example unit passes are
// flags the exporter has; e2e verifies the unit with systemd's own checker.
func TestSystemdUnitFlags(t *testing.T) {
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
}
