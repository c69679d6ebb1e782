package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// makeDryRun returns the commands make would run for target.
func makeDryRun(t *testing.T, target string) string {
	t.Helper()
	mk := progtest.Require(t, "make")
	out, err := exec.CommandContext(t.Context(), mk, "-C", repoRoot(t), "--no-print-directory", "-n", target).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	return string(out)
}

// TestMakeTargets checks what the README says of make build, test and lint;
// make release and make docker have tests of their own.
func TestMakeTargets(t *testing.T) {
	quickStart := regexp.MustCompile("(?m)^# Run the tests:\n(.+)$").FindStringSubmatch(readme(t))
	if quickStart == nil {
		t.Fatal("the README's quick start shows no test command")
	}
	if got := strings.TrimSpace(makeDryRun(t, "test")); got != quickStart[1] {
		t.Errorf("make test runs %q, the README's test command is %q", got, quickStart[1])
	}

	build := makeDryRun(t, "build")
	for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath ", "version.Version=" + versionFile(t) + " ", "version.Revision=" + gitHead(t) + " ", "-o b2see_exporter ."} {
		if !strings.Contains(build, want) {
			t.Errorf("make build runs\n%s\nwithout %q", build, want)
		}
	}

	lint := makeDryRun(t, "lint")
	for _, want := range []string{"gofmt -l", "go vet ./...", "staticcheck ./...", "promtool check rules b2see.rules.yml", "promtool test rules b2see.rules.test.yml"} {
		if !strings.Contains(lint, want) {
			t.Errorf("make lint runs\n%s\nwithout %q", lint, want)
		}
	}
}

// TestGoInstall checks what `go install MODULE@latest` needs: the module's
// root is the command, and go.mod has no replace or exclude directive, which
// go install refuses for a module named with a version.
func TestGoInstall(t *testing.T) {
	const module = "github.com/b2see-exporter/b2see_exporter"
	if !strings.Contains(readme(t), "go install "+module+"@latest") {
		t.Errorf("the README does not show go install %s@latest", module)
	}
	cmd := exec.CommandContext(t.Context(), "go", "list", "-f", "{{.Name}} {{.ImportPath}}", ".")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "main "+module {
		t.Errorf("the module's root is %q (%v), want package main %s", out, err, module)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^\s*(replace|exclude)\b`).Find(gomod); m != nil {
		t.Errorf("go.mod has a %s directive: go install %s@latest would refuse the module", m, module)
	}
}

// TestReadmeInstall checks the README's install section against the
// release: the version it names, and a compose snippet that fits the image
// (TestImage checks the image itself).
func TestReadmeInstall(t *testing.T) {
	text, version := readme(t), versionFile(t)
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"tar -xzf b2see_exporter-" + version + ".linux-amd64.tar.gz",
		"cd b2see_exporter-" + version + ".linux-amd64",
		"docker run -p 10133:10133 b2see_exporter:" + version + " --demo",
		"runs as the non-root user " + imageUser + ",",
		"keeps its state in the volume `" + imageVolume + "`",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the README lacks %q", want)
		}
	}

	block := regexp.MustCompile("(?s)```yaml\n(services:.*?)```").FindStringSubmatch(text)
	if block == nil {
		t.Fatal("the README has no compose snippet")
	}
	var compose struct {
		Services map[string]struct {
			Image   string
			Command []string
			Ports   []string
			Volumes []string
		}
		Volumes map[string]any
	}
	if err := yaml.Unmarshal([]byte(block[1]), &compose); err != nil {
		t.Fatalf("the compose snippet: %v", err)
	}
	svc, ok := compose.Services["b2see_exporter"]
	if !ok {
		t.Fatalf("the compose snippet has no b2see_exporter service: %v", compose.Services)
	}
	if svc.Image != "b2see_exporter:"+version {
		t.Errorf("compose image %q, want b2see_exporter:%s", svc.Image, version)
	}
	if len(svc.Ports) != 1 || svc.Ports[0] != "10133:10133" {
		t.Errorf("compose ports %q, want 10133:10133", svc.Ports)
	}
	named := false
	for _, v := range svc.Volumes {
		name, target, _ := strings.Cut(v, ":")
		if _, declared := compose.Volumes[name]; declared && target == imageVolume {
			named = true
		}
	}
	if !named {
		t.Errorf("compose volumes %q put no named volume on %s", svc.Volumes, imageVolume)
	}
}
