package progtest

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Prometheus is one major version of Prometheus the project supports: a
// server and its promtool.
type Prometheus struct {
	// Name names the version in subtests: prometheus2, prometheus3.
	Name  string
	major string
	// find returns the path of the server or of promtool.
	server, promtool func(testing.TB) string
}

// Prometheus 3.x has no Debian package yet: CI installs it from the Go
// module proxy into a directory of its own, so that it does not shadow
// Debian's 2.x on PATH, and names the binaries in these variables.
const (
	EnvPrometheus3 = "B2SEE_TEST_PROMETHEUS3"
	EnvPromtool3   = "B2SEE_TEST_PROMTOOL3"
)

// Prometheuses are the versions every test against a real Prometheus runs
// on: Debian's 2.x from PATH, and 3.x from the variables above.
var Prometheuses = []Prometheus{
	{
		Name: "prometheus2", major: "2",
		server:   func(t testing.TB) string { return Require(t, "prometheus") },
		promtool: func(t testing.TB) string { return Require(t, "promtool") },
	},
	{
		Name: "prometheus3", major: "3",
		server:   func(t testing.TB) string { return RequireEnv(t, EnvPrometheus3) },
		promtool: func(t testing.TB) string { return RequireEnv(t, EnvPromtool3) },
	},
}

// Prometheus3 is the 3.x entry of Prometheuses.
var Prometheus3 = Prometheuses[1]

// Server returns the path of the version's server, checked to be of that
// major version. Missing, it skips the test, or fails it in CI.
func (p Prometheus) Server(t testing.TB) string {
	t.Helper()
	return p.checked(t, p.server(t))
}

// Promtool returns the path of the version's promtool, as Server does.
func (p Prometheus) Promtool(t testing.TB) string {
	t.Helper()
	return p.checked(t, p.promtool(t))
}

// RequireEnv returns the program whose path the environment variable env
// holds. Unset or not there, it skips the test, or fails it in CI.
func RequireEnv(t testing.TB, env string) string {
	t.Helper()
	path := os.Getenv(env)
	msg := "$" + env + " is not set"
	if path != "" {
		if _, err := exec.LookPath(path); err == nil {
			return path
		}
		msg = "$" + env + " names " + path + ", which is not an executable"
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI must install it (see .ci/run)", msg)
	}
	t.Skipf("%s; set it to the program's path to run this test (.ci/run shows how to install it)", msg)
	return ""
}

// versions caches the major version of each binary checked.
var versions sync.Map // path -> string

// checked fails the test unless bin is of p's major version: a test named
// prometheus2 must not quietly run 3.x, nor the other way round.
func (p Prometheus) checked(t testing.TB, bin string) string {
	t.Helper()
	v, ok := versions.Load(bin)
	if !ok {
		v = majorVersion(bin)
		versions.Store(bin, v)
	}
	if v != p.major {
		t.Fatalf("%s is Prometheus version %q, not %s.x", bin, v, p.major)
	}
	return bin
}

// majorVersion is the major version of a Prometheus binary: from its
// --version line when it was stamped at build, otherwise from the module
// version that go install records, v0.3xx.y being 3.xx.y.
func majorVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if _, rest, ok := strings.Cut(line, "version "); ok && len(rest) > 1 && rest[1] == '.' {
		return rest[:1]
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil || info.Main.Path != "github.com/prometheus/prometheus" {
		return "unknown"
	}
	minor, _, _ := strings.Cut(strings.TrimPrefix(info.Main.Version, "v0."), ".")
	switch len(minor) {
	case 2: // v0.54.1 is 2.54.1
		return "2"
	case 3:
		return minor[:1]
	}
	return "unknown"
}
