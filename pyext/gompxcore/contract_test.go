package gompxcore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestConstantsTableIsComplete: every exported constant of the facade is in the table
// Constant serves, so that Python can read it rather than copy it.
func TestConstantsTableIsComplete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	var missing []string
	for _, f := range parsed {
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
