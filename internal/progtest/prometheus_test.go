package progtest

import "testing"

// TestVersions checks that each supported version finds a binary of its
// own major version, where one is installed.
func TestVersions(t *testing.T) {
	for _, p := range Prometheuses {
		t.Run(p.Name, func(t *testing.T) {
			for _, bin := range []string{p.Server(t), p.Promtool(t)} {
				if v := majorVersion(bin); v != p.major {
					t.Errorf("%s: version %q, want %s", bin, v, p.major)
				}
			}
		})
	}
}
