package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotice checks that NOTICE passes on the attribution notices of every
// module the release binaries link that ships a NOTICE file, as the Apache
// License asks of whoever distributes them: a new dependency with a NOTICE
// fails it until NOTICE names the module and copies its copyright lines.
func TestNotice(t *testing.T) {
	root := repoRoot(t)
	notice, err := os.ReadFile(filepath.Join(root, "NOTICE"))
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Dir}}{{end}}{{end}}", ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list for %s: %v", goos, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, dir, ok := strings.Cut(line, " ")
			if !ok || checked[path] {
				continue
			}
			checked[path] = true
			files, _ := filepath.Glob(filepath.Join(dir, "NOTICE*"))
			for _, f := range files {
				checkNoticeCopied(t, string(notice), path, f)
			}
		}
	}
	if len(checked) == 0 {
		t.Fatal("go list found no dependency")
	}
}

func checkNoticeCopied(t *testing.T, notice, module, file string) {
	t.Helper()
	if !strings.Contains(notice, "\n"+module+"\n") {
		t.Errorf("NOTICE does not name %s, whose %s asks for attribution", module, filepath.Base(file))
		return
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "Copyright") && !strings.Contains(notice, line) {
			t.Errorf("NOTICE lacks %s's %q", module, line)
		}
	}
}

// apacheLicenseSHA256 is the SHA-256 of the Apache License 2.0 as the
// Prometheus projects ship it: apache.org's text without its first, blank
// line.
const apacheLicenseSHA256 = "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"

// TestLicense checks that LICENSE is the licence's standard text, word for
// word, so that tools that detect licences name it, and that SECURITY.md
// sends reports where the README says.
func TestLicense(t *testing.T) {
	root := repoRoot(t)
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(license); hex.EncodeToString(h[:]) != apacheLicenseSHA256 {
		t.Errorf("LICENSE is not the standard text of the Apache License 2.0 (SHA-256 %x)", h)
	}
	security, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	const reporting = "https://github.com/b2see-exporter/b2see_exporter/security/advisories/new"
	if !strings.Contains(string(security), reporting) {
		t.Errorf("SECURITY.md does not point at the private vulnerability reporting, %s", reporting)
	}
}
