package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRefusesAHugeFile: a configuration file past MaxFileSize is
// refused from its size, before it is read, in one line that says so.
func TestLoadRefusesAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b2see.yml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: a valid start, then a hole of zeros up to the limit.
	if _, err := f.WriteString("accounts: []\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "too large") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Load of a file of %d bytes: %v, want one line saying it is too large", MaxFileSize+1, err)
	}
}
