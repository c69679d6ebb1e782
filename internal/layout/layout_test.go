package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// maxLines is the most lines a function outside tests may have, from its
// func keyword to its closing brace.
const maxLines = 80

// tooLong are the functions still to split, each with the lines it has
// now. The list only shrinks: one that grows or gets short enough fails
// the test, so that the entry goes.
var tooLong = map[string]int{
	"b2see/decode.go numScan":           96,
	"b2see/decode.go Decoder.value":     87,
	"b2see/decode.go Decoder.skipValue": 84,
}

// moduleRoot is the directory of go.mod, two levels up.
const moduleRoot = "../.."

// TestNoLongFunctions fails on every function or method of the module,
// tests aside, longer than maxLines: split it by what each part does.
func TestNoLongFunctions(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != moduleRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			rel, _ := filepath.Rel(moduleRoot, path)
			key := filepath.ToSlash(rel) + " " + funcName(fn)
			known, listed := tooLong[key]
			switch {
			case listed && n != known:
				t.Errorf("%s: %s is %d lines, listed with %d: split it and take it off the list", fset.Position(fn.Pos()), funcName(fn), n, known)
			case !listed && n > maxLines:
				t.Errorf("%s: %s is %d lines, more than %d", fset.Position(fn.Pos()), funcName(fn), n, maxLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d files checked: is %s the module?", checked, moduleRoot)
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}
