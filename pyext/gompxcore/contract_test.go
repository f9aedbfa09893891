package gompxcore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"sort"
	"strings"
	"testing"
)

// TestConstantsTableIsComplete: every exported constant of the facade is in the table
// Constant serves, so that Python can read it rather than copy it.
func TestConstantsTableIsComplete(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, f := range pkgs["gompxcore"].Files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					if _, ok := constants[name.Name]; name.IsExported() && !ok {
						missing = append(missing, name.Name)
					}
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("exported constants missing from the constants table: %v", missing)
	}
	if v, err := Constant("QueueTimedOut"); err != nil || v != QueueTimedOut {
		t.Fatalf("Constant(QueueTimedOut) = %d, %v", v, err)
	}
	if _, err := Constant("NoSuchThing"); err == nil {
		t.Fatal("Constant of an unknown name succeeded")
	}
}
