// Command release writes the archives of a release and their checksums, for
// the Makefile's release target:
//
//	go run ./release archive -o OUT -prefix DIR -mtime UNIX [-bin FILE] FILE...
//	go run ./release sums -o OUT ARCHIVE...
//
// archive writes a .tar.gz or, by the name of OUT, a .zip holding the
// directory DIR with the binary FILE of -bin at its top and each FILE at its
// own relative path. sums writes the SHA-256 of each ARCHIVE in the format
// of sha256sum, so that `sha256sum -c` checks them.
//
// It is a Go program rather than tar and zip commands so that a release
// needs only Go and make, on Linux, macOS and Windows alike, and so that the
// archives are reproducible: entries sorted, owned by root, all dated -mtime.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("want a command: archive or sums")
	}
	fl := flag.NewFlagSet(args[0], flag.ContinueOnError)
	out := fl.String("o", "", "file to write")
	switch args[0] {
	case "archive":
		prefix := fl.String("prefix", "", "top directory of the archive")
		mtime := fl.Int64("mtime", 0, "modification time of every entry, in seconds since 1970")
		bin := fl.String("bin", "", "executable to put at the top directory")
		if err := fl.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || *prefix == "" {
			return errors.New("archive: -o and -prefix are required")
		}
		es, err := entries(*prefix, *bin, fl.Args())
		if err != nil {
			return err
		}
		return writeAtomic(*out, func(w io.Writer) error {
			return writeArchive(w, *out, es, time.Unix(*mtime, 0).UTC())
		})
	case "sums":
		if err := fl.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || fl.NArg() == 0 {
			return errors.New("sums: -o and at least one archive are required")
		}
		return writeAtomic(*out, func(w io.Writer) error { return writeSums(w, fl.Args()) })
	default:
		return fmt.Errorf("unknown command %q: want archive or sums", args[0])
	}
}

// entry is one file or directory of an archive.
type entry struct {
	name string // slash-separated path in the archive; a directory's ends in "/"
	src  string // the file on disk; empty for a directory
	mode fs.FileMode
}

// entries lists what an archive holds: prefix/, the binary at its top, every
// file below it at its relative path, and the directories between, sorted by
// name.
func entries(prefix, bin string, files []string) ([]entry, error) {
	if !filepath.IsLocal(prefix) || strings.ContainsAny(prefix, `/\`) {
		return nil, fmt.Errorf("prefix %q must be a plain directory name", prefix)
	}
	byName := map[string]entry{}
	add := func(e entry) error {
		if _, dup := byName[e.name]; dup && e.src != "" {
			return fmt.Errorf("%s is given twice", e.name)
		}
		byName[e.name] = e
		return nil
	}
	add(entry{name: prefix + "/", mode: 0o755})
	if bin != "" {
		if err := add(entry{name: prefix + "/" + filepath.Base(bin), src: bin, mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if !filepath.IsLocal(f) {
			return nil, fmt.Errorf("%s is not a relative path inside the tree", f)
		}
		name := path.Join(prefix, filepath.ToSlash(f))
		for dir := path.Dir(name); dir != prefix; dir = path.Dir(dir) {
			add(entry{name: dir + "/", mode: 0o755})
		}
		if err := add(entry{name: name, src: f, mode: 0o644}); err != nil {
			return nil, err
		}
	}
	out := make([]entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// writeArchive writes es as a zip when name ends in .zip, a gzipped tar
// when it ends in .tar.gz.
func writeArchive(w io.Writer, name string, es []entry, mtime time.Time) error {
	switch {
	case strings.HasSuffix(name, ".zip"):
		return writeZip(w, es, mtime)
	case strings.HasSuffix(name, ".tar.gz"):
		return writeTarGz(w, es, mtime)
	default:
		return fmt.Errorf("%s: want a name ending in .tar.gz or .zip", name)
	}
}

func writeTarGz(w io.Writer, es []entry, mtime time.Time) error {
	gz := gzip.NewWriter(w) // no name, no time in the gzip header: reproducible
	tw := tar.NewWriter(gz)
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Mode: int64(e.mode.Perm()), ModTime: mtime, Typeflag: tar.TypeDir}
		var f *os.File
		if e.src != "" {
			var err error
			if f, hdr.Size, err = open(e.src); err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeReg
		}
		err := tw.WriteHeader(hdr)
		if err == nil && f != nil {
			_, err = io.Copy(tw, f)
		}
		if f != nil {
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, es []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range es {
		hdr := &zip.FileHeader{Name: e.name, Modified: mtime, Method: zip.Deflate}
		mode := e.mode
		if e.src == "" {
			hdr.Method, mode = zip.Store, mode|fs.ModeDir
		}
		hdr.SetMode(mode)
		dst, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if e.src == "" {
			continue
		}
		f, _, err := open(e.src)
		if err != nil {
			return err
		}
		_, err = io.Copy(dst, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	return zw.Close()
}

// open opens a regular file and returns its size.
func open(name string) (*os.File, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", name)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// writeSums writes "<sha256>  <base name>" per file, sorted by name: what
// sha256sum writes and `sha256sum -c` reads in the files' directory.
func writeSums(w io.Writer, files []string) error {
	type sum struct{ name, hex string }
	var sums []sum
	for _, name := range files {
		f, _, err := open(name)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		sums = append(sums, sum{filepath.Base(name), hex.EncodeToString(h.Sum(nil))})
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].name < sums[j].name })
	for _, s := range sums {
		if _, err := fmt.Fprintf(w, "%s  %s\n", s.hex, s.name); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes name through a temporary file renamed into place, so
// that an interrupted build leaves no truncated archive behind.
func writeAtomic(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
