package main

import (
	"bufio"
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
