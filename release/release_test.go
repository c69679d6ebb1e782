package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

// platforms are the release's os-arch pairs, as the archives name them.
var platforms = []string{"linux-amd64", "linux-arm64", "linux-armv7", "darwin-amd64", "darwin-arm64", "windows-amd64"}

// semverRE is the form of a release version: MAJOR.MINOR.PATCH with an
// optional pre-release, and no leading "v" (archives and --version show it
// as it is).
var semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

func TestVersionFile(t *testing.T) {
	if v := versionFile(t); !semverRE.MatchString(v) {
		t.Errorf("VERSION = %q, want a semantic version such as 1.2.3 or 1.2.3-rc.1", v)
	}
}

func archiveName(version, platform string) string {
	ext := ".tar.gz"
	if strings.HasPrefix(platform, "windows-") {
		ext = ".zip"
	}
	return "b2see_exporter-" + version + "." + platform + ext
}

// TestRelease runs `make release` as a release manager would, then checks
// what a user gets: verified archives for every platform, each with a static
// binary that names its version and commit, and the files beside it.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("make release cross-builds six binaries; skipped with -short")
	}
	want := wantStamps(t)
	version := want.version
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	runMake(t, "release", "DIST="+dist, "BUILD="+filepath.Join(tmp, "build"))

	archives := checkSums(t, dist, version)
	checkSha256sum(t, dist, archiveName(version, "linux-amd64"))
	checkReproducible(t, dist, archiveName(version, "linux-amd64"))
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			names, files := readArchive(t, archiveName(version, p), archives[archiveName(version, p)])
			bin := checkContents(t, want, p, names, files)
			checkBuildInfo(t, p, bin, want)
		})
	}

	host := runtime.GOOS + "-" + runtime.GOARCH
	if runtime.GOARCH == "arm" {
		host = runtime.GOOS + "-armv7"
	}
	if !slices.Contains(platforms, host) {
		t.Skipf("no release binary for this machine (%s) to run", host)
	}
	_, files := readArchive(t, archiveName(version, host), archives[archiveName(version, host)])
	bin := filepath.Join(tmp, "b2see_exporter")
	prefix := "b2see_exporter-" + version + "." + host + "/"
	if err := os.WriteFile(bin, []byte(files[prefix+binaryName(host)].content), 0o755); err != nil {
		t.Fatal(err)
	}
	checkNamesCommit(t, bin, want)
}

// stamps are what make stamps into a release and its archives.
type stamps struct {
	version, revision string
	epoch             time.Time // the archives' entries' time
	buildDate         string
}

// wantStamps returns what the Makefile should stamp: the version of the
// VERSION file, the commit checked out, and the commit's time (or
// SOURCE_DATE_EPOCH's) as build date.
func wantStamps(t *testing.T) stamps {
	t.Helper()
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		out, err := exec.Command("git", "-C", repoRoot(t), "log", "-1", "--format=%ct").Output()
		if err != nil {
			t.Fatalf("git log: %v", err)
		}
		epoch = strings.TrimSpace(string(out))
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		t.Fatalf("commit time %q: %v", epoch, err)
	}
	when := time.Unix(sec, 0).UTC()
	return stamps{versionFile(t), gitHead(t), when, when.Format("20060102-15:04:05")}
}

// checkSha256sum checks one downloaded archive as the README says, with
// sha256sum -c --ignore-missing beside it.
func checkSha256sum(t *testing.T, dist, archive string) {
	t.Helper()
	sha256sum := progtest.Require(t, "sha256sum")
	dir := t.TempDir()
	for _, f := range []string{archive, "sha256sums.txt"} {
		data, err := os.ReadFile(filepath.Join(dist, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), sha256sum, "-c", "--ignore-missing", "sha256sums.txt")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), archive+": OK") {
		t.Errorf("sha256sum -c --ignore-missing: %v\n%s", err, out)
	}
}

// checkReproducible builds one archive again, elsewhere, and wants the same
// bytes: no path, time or order of the build may reach it.
func checkReproducible(t *testing.T, dist, archive string) {
	t.Helper()
	tmp := t.TempDir()
	again := filepath.Join(tmp, "dist-again")
	runMake(t, "DIST="+again, "BUILD="+filepath.Join(tmp, "build-again"), filepath.Join(again, archive))
	first, err := os.ReadFile(filepath.Join(dist, archive))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(again, archive))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("%s differs between two builds of the same commit", archive)
	}
}

// checkSums verifies sha256sums.txt against the files in dist, which must
// be exactly the archive of every platform and the sums, and returns the
// archives' bytes by name.
func checkSums(t *testing.T, dist, version string) map[string][]byte {
	t.Helper()
	var want []string
	for _, p := range platforms {
		want = append(want, archiveName(version, p))
	}
	sort.Strings(want)
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if w := append(slices.Clone(want), "sha256sums.txt"); !slices.Equal(got, w) {
		t.Fatalf("dist holds %q, want %q", got, w)
	}

	sums, err := os.ReadFile(filepath.Join(dist, "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	archives := map[string][]byte{}
	var listed []string
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("sha256sums.txt line %q is not sha256sum's `<hash>  <name>`", sc.Text())
		}
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatalf("sha256sums.txt lists %s: %v", name, err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA-256 %x, sha256sums.txt says %s", name, h, sum)
		}
		archives[name] = data
		listed = append(listed, name)
	}
	if !slices.Equal(listed, want) {
		t.Errorf("sha256sums.txt lists %q, want every archive: %q", listed, want)
	}
	return archives
}

func binaryName(platform string) string {
	if strings.HasPrefix(platform, "windows-") {
		return "b2see_exporter.exe"
	}
	return "b2see_exporter"
}

func readArchive(t *testing.T, name string, data []byte) ([]string, map[string]archived) {
	t.Helper()
	if strings.HasSuffix(name, ".zip") {
		return readZip(t, data)
	}
	return readTarGz(t, data)
}

// checkContents checks an archive holds, under one top directory, the
// binary and the repository's LICENSE, NOTICE, README, CHANGELOG, rules, runbook and
// dashboards, unchanged, and returns the binary.
func checkContents(t *testing.T, stamps stamps, platform string, names []string, files map[string]archived) []byte {
	t.Helper()
	version := stamps.version
	root := repoRoot(t)
	docs := []string{"LICENSE", "NOTICE", "README.md", "CHANGELOG.md", "alerts/RUNBOOK.md"}
	for _, pattern := range []string{"alerts/*.yml", "dashboards/*.json"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil || len(m) == 0 {
			t.Fatalf("no %s in the repository (%v)", pattern, err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(root, f)
			docs = append(docs, filepath.ToSlash(rel))
		}
	}
	prefix := "b2see_exporter-" + version + "." + platform + "/"
	want := []string{prefix, prefix + "alerts/", prefix + "dashboards/", prefix + binaryName(platform)}
	for _, d := range docs {
		want = append(want, prefix+d)
	}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("archive holds\n%q\nwant\n%q", names, want)
	}
	for _, d := range docs {
		disk, err := os.ReadFile(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if got := files[prefix+d]; got.content != string(disk) || got.mode != 0o644 {
			t.Errorf("%s: mode %v, same as the repository's: %v; want mode 0644 and the same content", d, got.mode, got.content == string(disk))
		}
	}
	for name, f := range files {
		if !f.mtime.Equal(stamps.epoch) {
			t.Errorf("%s dated %v, want the commit's time %v, so that two builds of it are the same", name, f.mtime.UTC(), stamps.epoch)
		}
	}
	bin := files[prefix+binaryName(platform)]
	if bin.mode != 0o755 {
		t.Errorf("binary mode %v, want 0755", bin.mode)
	}
	return []byte(bin.content)
}

// checkBuildInfo reads how a binary was built from the build information
// Go writes into it, so that a binary that cannot run here is checked too.
func checkBuildInfo(t *testing.T, platform string, bin []byte, stamps stamps) {
	t.Helper()
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("reading the binary's build information: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	goos, arch, _ := strings.Cut(platform, "-")
	want := map[string]string{"GOOS": goos, "GOARCH": arch, "CGO_ENABLED": "0", "-trimpath": "true"}
	if arch == "armv7" {
		want["GOARCH"], want["GOARM"] = "arm", "7"
	}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("built with %s=%q, want %q", k, settings[k], v)
		}
	}
	// -trimpath leaves -ldflags out of the build information, so look for
	// what they stamp: the build date and the commit exist in the binary
	// only through them.
	for _, stamp := range []string{stamps.revision, stamps.buildDate} {
		if !bytes.Contains(bin, []byte(stamp)) {
			t.Errorf("the binary does not hold %q, which -ldflags should have stamped", stamp)
		}
	}
}

// checkNamesCommit runs a release binary and checks that --version, the
// landing page and b2see_exporter_build_info name its version and commit.
func checkNamesCommit(t *testing.T, bin string, stamps stamps) {
	t.Helper()
	version, revision := stamps.version, stamps.revision
	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	for _, want := range []string{"b2see_exporter, version " + version + " (", "revision: " + revision + ")", "build date:       " + stamps.buildDate} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version says\n%s\nwant %q in it", out, want)
		}
	}

	e := startExporter(t, exec.CommandContext(t.Context(), bin, "--demo", "--web.listen-address=127.0.0.1:0", "--storage.path="+t.TempDir()))
	page := e.get(t, "/")
	if want := "version=" + version + ", branch="; !strings.Contains(page, want) || !strings.Contains(page, "revision="+revision) {
		t.Errorf("the landing page does not name version %s and revision %s:\n%s", version, revision, page)
	}
	info := metric(t, e.get(t, "/metrics"), "b2see_exporter_build_info")
	if len(info) != 1 || info[0].labels["version"] != version || info[0].labels["revision"] != revision || info[0].value != 1 {
		t.Errorf("b2see_exporter_build_info = %v, want one series of value 1 with version %s and revision %s", info, version, revision)
	}
}
