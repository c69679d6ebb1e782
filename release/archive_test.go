package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// archived is what a test reads back of one archive entry.
type archived struct {
	mode    fs.FileMode
	mtime   time.Time
	content string
}

func readTarGz(t *testing.T, data []byte) (names []string, files map[string]archived) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	files = map[string]archived{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names, files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", hdr.Name, hdr.Uid, hdr.Gid)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		files[hdr.Name] = archived{hdr.FileInfo().Mode(), hdr.ModTime, string(b)}
	}
}

func readZip(t *testing.T, data []byte) (names []string, files map[string]archived) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files = map[string]archived{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		files[f.Name] = archived{f.Mode(), f.Modified, string(b)}
	}
	return names, files
}

// inTree runs the test in a directory holding a tree of files, as make runs
// the program in the repository.
func inTree(t *testing.T, tree map[string]string) {
	t.Helper()
	t.Chdir(t.TempDir())
	for name, content := range tree {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestArchive(t *testing.T) {
	const mtime = 1700000000
	for _, format := range []string{"tar.gz", "zip"} {
		t.Run(format, func(t *testing.T) {
			inTree(t, map[string]string{"bin/x": "binary", "README.md": "readme", "alerts/a.yml": "rules", "alerts/deep/b.json": "board"})
			write := func(out string) []byte {
				t.Helper()
				args := []string{"archive", "-o", out, "-prefix", "x-1.0.0.os-arch", "-mtime", fmt.Sprint(mtime), "-bin", "bin/x", "alerts/deep/b.json", "README.md", "alerts/a.yml"}
				if err := run(args); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			data := write("out." + format)
			read := readTarGz
			if format == "zip" {
				read = readZip
			}
			names, files := read(t, data)
			p := "x-1.0.0.os-arch/"
			want := []string{p, p + "README.md", p + "alerts/", p + "alerts/a.yml", p + "alerts/deep/", p + "alerts/deep/b.json", p + "x"}
			if !slices.Equal(names, want) {
				t.Errorf("entries %q, want %q (sorted, directories included)", names, want)
			}
			checks := []struct {
				name, content string
				mode          fs.FileMode
			}{
				{p, "", fs.ModeDir | 0o755},
				{p + "x", "binary", 0o755},
				{p + "README.md", "readme", 0o644},
				{p + "alerts/deep/b.json", "board", 0o644},
			}
			for _, c := range checks {
				got := files[c.name]
				if got.content != c.content || got.mode != c.mode || !got.mtime.Equal(time.Unix(mtime, 0)) {
					t.Errorf("%s: %q mode %v time %v, want %q mode %v time %v", c.name, got.content, got.mode, got.mtime.UTC(), c.content, c.mode, time.Unix(mtime, 0).UTC())
				}
			}
			// The same inputs give the same bytes, whenever written.
			if again := write("again." + format); !bytes.Equal(data, again) {
				t.Error("two archives of the same files differ")
			}
		})
	}
}

func TestArchiveRefuses(t *testing.T) {
	inTree(t, map[string]string{"a": "a", "sub/a": "sub"})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"path outside the tree", []string{"-prefix", "p", "../a"}, "not a relative path"},
		{"absolute path", []string{"-prefix", "p", "/etc/passwd"}, "not a relative path"},
		{"file twice", []string{"-prefix", "p", "a", "a"}, "given twice"},
		{"binary clashing with a file", []string{"-prefix", "p", "-bin", "sub/a", "a"}, "given twice"},
		{"prefix with a slash", []string{"-prefix", "p/q", "a"}, "plain directory name"},
		{"unknown format", []string{"-o", "out.rar", "-prefix", "p", "a"}, "want a name ending in .tar.gz or .zip"},
		{"missing file", []string{"-prefix", "p", "nope"}, "nope"},
		{"directory as a file", []string{"-prefix", "p", "sub"}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"archive"}, tt.args...)
			if !slices.Contains(args, "-o") {
				args = append([]string{"archive", "-o", "out.tar.gz"}, tt.args...)
			}
			err := run(args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if entries, _ := filepath.Glob("*out*"); len(entries) != 0 {
				t.Errorf("a failed run left %v behind", entries)
			}
		})
	}
}

func TestSums(t *testing.T) {
	inTree(t, map[string]string{"d/b.zip": "bee", "d/a.tar.gz": "ay"})
	if err := run([]string{"sums", "-o", "d/sha256sums.txt", "d/b.zip", "d/a.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("d/sha256sums.txt")
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	// sha256sum's own format: hash, two spaces, the name in the directory.
	want := hexOf("ay") + "  a.tar.gz\n" + hexOf("bee") + "  b.zip\n"
	if string(got) != want {
		t.Errorf("sha256sums.txt =\n%s\nwant\n%s", got, want)
	}
}
