package main

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/b2see-exporter/b2see_exporter/internal/progtest"
)

// requireRoot skips the test unless it runs as root, or fails it in CI,
// which runs as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root (chroot and a change of user); CI runs as root")
	}
	t.Skip("this test needs root (chroot and a change of user)")
}

// imageUser and imageVolume are the image's user and state volume, as the
// README names them.
const (
	imageUser   = "10133"
	imageVolume = "/data"
)

// imageConfig is what the test reads of `podman image inspect`.
type imageConfig struct {
	Os, Architecture string
	Config           struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		Volumes      map[string]struct{}
		ExposedPorts map[string]struct{}
		Labels       map[string]string
	}
}

// podman runs podman on storage of the test's own, so that the test neither
// sees nor leaves images elsewhere. vfs needs no mounts, which this
// sandboxed kind of machine may refuse.
type podman struct {
	bin  string
	args []string
}

func (p podman) String() string { return strings.Join(append([]string{p.bin}, p.args...), " ") }

func (p podman) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), p.bin, append(slices.Clone(p.args), args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// TestImage builds the container image with `make docker`, then starts its
// entrypoint from the image's exported filesystem, chrooted into it as the
// image's user, as `docker run IMAGE --demo` would: podman cannot run
// containers on this kind of machine, but everything the image must hold is
// then proven to be in it.
func TestImage(t *testing.T) {
	requireRoot(t)
	pm := podman{bin: progtest.Require(t, "podman")}
	tmp := t.TempDir()
	store := filepath.Join(tmp, "containers")
	pm.args = []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}
	version, revision := versionFile(t), gitHead(t)
	image := "localhost/b2see_exporter-test:" + version

	runMake(t, "docker", "BUILD="+filepath.Join(tmp, "build"), "DOCKER="+pm.String(), "DOCKER_IMAGE=localhost/b2see_exporter-test")
	t.Cleanup(func() { exec.Command(pm.bin, append(slices.Clone(pm.args), "rmi", "--force", image)...).Run() })

	var inspected []imageConfig
	if err := json.Unmarshal([]byte(pm.run(t, "image", "inspect", image)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %v (%d images)", err, len(inspected))
	}
	img := inspected[0]
	uid, gid := checkImageConfig(t, img, version, revision)

	container := pm.run(t, "create", image)
	t.Cleanup(func() { exec.Command(pm.bin, append(slices.Clone(pm.args), "rm", "--force", container)...).Run() })
	fsTar := filepath.Join(tmp, "image.tar")
	pm.run(t, "export", "--output", fsTar, container)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	tar := progtest.Require(t, "tar")
	if out, err := exec.Command(tar, "-x", "-p", "--numeric-owner", "-f", fsTar, "-C", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("extracting the image: %v\n%s", err, out)
	}
	volume := slices.Collect(maps.Keys(img.Config.Volumes))[0]
	checkImageFiles(t, rootfs, volume, uid, gid)

	// As `docker run IMAGE --demo`: the arguments replace CMD.
	cmd := exec.CommandContext(t.Context(), img.Config.Entrypoint[0], append(img.Config.Entrypoint[1:], "--demo", "--web.listen-address=127.0.0.1:0")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Dir = img.Config.WorkingDir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = img.Config.Env
	e := startExporter(t, cmd)

	body := e.get(t, "/metrics")
	if up := metric(t, body, "b2see_up"); len(up) != 1 || up[0].value != 1 {
		t.Errorf("the image's demo serves b2see_up %v, want 1; output:\n%s", up, e.logs)
	}
	if saved := metric(t, body, "b2see_state_last_save_successful"); len(saved) != 1 || saved[0].value != 1 {
		t.Errorf("the image's demo could not save its state: b2see_state_last_save_successful %v; output:\n%s", saved, e.logs)
	}
	checkRunsAs(t, cmd.Process.Pid, uid, gid)
	// The default --storage.path, with CMD replaced, is still the volume.
	state, _ := filepath.Glob(filepath.Join(rootfs, volume, "*.state"))
	if len(state) == 0 {
		t.Errorf("no state file in the volume %s after a scrape", volume)
	}
	for _, f := range state {
		if st, err := os.Stat(f); err != nil || st.Sys().(*syscall.Stat_t).Uid != uid {
			t.Errorf("%s is not owned by the image's user %d (%v)", f, uid, err)
		}
	}
}

// checkImageConfig checks the image's metadata and returns its user.
func checkImageConfig(t *testing.T, img imageConfig, version, revision string) (uid, gid uint32) {
	t.Helper()
	c := img.Config
	if img.Os != "linux" || img.Architecture != runtime.GOARCH {
		t.Errorf("image for %s/%s, want linux/%s", img.Os, img.Architecture, runtime.GOARCH)
	}
	if _, ok := c.ExposedPorts["10133/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want 10133/tcp", c.ExposedPorts)
	}
	if len(c.Entrypoint) == 0 || filepath.Base(c.Entrypoint[0]) != "b2see_exporter" {
		t.Fatalf("entrypoint %q, want the exporter, so that arguments to `docker run` are its flags", c.Entrypoint)
	}
	if _, ok := c.Volumes[imageVolume]; !ok || len(c.Volumes) != 1 {
		t.Fatalf("volumes %v, want %s for the state", c.Volumes, imageVolume)
	}
	for v := range c.Volumes {
		if !slices.Contains(c.Cmd, "--storage.path="+v) {
			t.Errorf("CMD %q does not put --storage.path on the volume %s", c.Cmd, v)
		}
	}
	u, g, ok := strings.Cut(c.User, ":")
	uid64, err1 := strconv.ParseUint(u, 10, 32)
	gid64, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil || uid64 == 0 || gid64 == 0 {
		t.Fatalf("USER %q, want a numeric uid:gid other than root's (Kubernetes' runAsNonRoot checks numbers)", c.User)
	}
	if u != imageUser {
		t.Errorf("USER %q, want %s, the user the README names", c.User, imageUser)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.licenses": "Apache-2.0",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	return uint32(uid64), uint32(gid64)
}

// checkImageFiles checks the image's filesystem: the user named in passwd
// and group, CA certificates Go finds, the licence, and the volume's
// directory owned by the user.
func checkImageFiles(t *testing.T, rootfs, volume string, uid, gid uint32) {
	t.Helper()
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), fmt.Sprintf(":x:%d:%d:", uid, gid)) {
		t.Errorf("/etc/passwd does not name the user %d:%d (%v):\n%s", uid, gid, err, passwd)
	}
	group, err := os.ReadFile(filepath.Join(rootfs, "etc/group"))
	if err != nil || !strings.Contains(string(group), fmt.Sprintf(":x:%d:", gid)) {
		t.Errorf("/etc/group does not name the group %d (%v):\n%s", gid, err, group)
	}
	// The first of the files Go's crypto/x509 reads on Linux.
	pem, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil || !x509.NewCertPool().AppendCertsFromPEM(pem) {
		t.Errorf("no usable CA certificates at /etc/ssl/certs/ca-certificates.crt (%v)", err)
	}
	for _, f := range []string{"LICENSE", "NOTICE"} {
		if _, err := os.Stat(filepath.Join(rootfs, f)); err != nil {
			t.Errorf("the image lacks %s: %v", f, err)
		}
	}
	st, err := os.Stat(filepath.Join(rootfs, volume))
	if err != nil {
		t.Fatalf("the volume's directory: %v", err)
	}
	if s := st.Sys().(*syscall.Stat_t); !st.IsDir() || s.Uid != uid || s.Gid != gid {
		t.Errorf("volume %s: owned by %d:%d, want a directory of the image's user %d:%d", volume, s.Uid, s.Gid, uid, gid)
	}
}

// checkRunsAs reads the real, effective, saved and filesystem ids of a
// process from /proc.
func checkRunsAs(t *testing.T, pid int, uid, gid uint32) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{
		"Uid:":    strings.Repeat(fmt.Sprintf("\t%d", uid), 4),
		"Gid:":    strings.Repeat(fmt.Sprintf("\t%d", gid), 4),
		"Groups:": "",
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, _ := strings.Cut(sc.Text(), "\t")
		if w, ok := want[key]; ok {
			if got := strings.TrimRight("\t"+rest, "\t "); got != w {
				t.Errorf("/proc/%d/status %s%q, want %q", pid, key, got, w)
			}
			delete(want, key)
		}
	}
	if len(want) != 0 {
		t.Errorf("/proc/%d/status lacks %v", pid, want)
	}
}
