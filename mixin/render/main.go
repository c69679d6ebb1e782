// Command render writes the mixin's render over the shipped rules file and
// dashboards. Run it from the repository's top: make mixin.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/b2see-exporter/b2see_exporter/mixin"
)

func main() {
	files, err := mixin.Render("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.FromSlash(name), files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("wrote", name)
	}
}
