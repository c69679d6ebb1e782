// Package progtest finds the real programs (promtool, prometheus,
// alertmanager, chromium) that some tests start. Locally a test that needs
// a missing program is skipped with a clear message; in CI (the CI
// environment variable is set) a missing program fails the test, because CI
// installs them all.
package progtest

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of the first of names found on PATH. When none is
// found it skips the test, or fails it when running in CI.
func Require(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%v not found on PATH: CI must install it (see .ci/run)", names)
	}
	t.Skipf("%v not found on PATH; install it to run this test (see .ci/run)", names)
	return ""
}
