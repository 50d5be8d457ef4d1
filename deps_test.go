package datakit_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/dkgo/datakit"

// layers says, for each of our packages (by path prefix below the module),
// which of our packages it may import. Longest prefix wins. The direction
// is DESIGN.md's: cmd, selfci, examples > ci > bridge > ninep > term,
// dkstore; only dkstore imports go-git.
var layers = []struct {
	prefix string
	may    []string
}{
	{"dkstore", []string{"dkstore"}},
	{"term", nil},
	{"ninep", []string{"ninep", "dkstore", "internal"}},
	{"bridge", []string{"bridge", "dkstore", "term", "internal"}},
	// "=bridge": the schema package only, no bridge implementation.
	{"ci", []string{"ci", "term", "=bridge", "dkstore", "internal"}},
	// ci/cimain is wiring, like cmd: the entry point a user's main calls
	// turns flags into a store (embedded, or remote over 9P) and runs the
	// local bridge; the engine in ci itself imports neither.
	{"ci/cimain", []string{"ci", "term", "bridge", "dkstore", "ninep", "internal"}},
	// internal/gitfixture wraps the public test repositories (which use
	// only the standard library).
	{"internal", []string{"internal", "dkstore", "term", "=ci/citest/gitrepo"}},
	{"cmd", []string{""}},
	{"selfci", []string{""}},
	{"deploy", []string{""}},
	{"docs", []string{""}},
	{"examples", []string{""}},
	{"bench", []string{""}},
}

// forbidden third-party imports: only dkstore talks to go-git, term imports
// only the standard library.
func thirdPartyAllowed(pkg, imp string) bool {
	if strings.HasPrefix(imp, "github.com/go-git/") {
		return pkg == "dkstore" || strings.HasPrefix(pkg, "dkstore/")
	}
	if pkg == "term" || strings.HasPrefix(pkg, "term/") {
		return false
	}
	return true
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	checked := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		rule := -1
		for i, l := range layers {
			if (pkg == l.prefix || strings.HasPrefix(pkg, l.prefix+"/")) && (rule < 0 || len(l.prefix) > len(layers[rule].prefix)) {
				rule = i
			}
		}
		for _, imp := range fields[1:] {
			if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
				continue // standard library
			}
			if !strings.HasPrefix(imp, module) {
				if !thirdPartyAllowed(pkg, imp) {
					t.Errorf("%s imports %s: only dkstore may import go-git, and term only the standard library", pkg, imp)
				}
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if rule < 0 {
				t.Errorf("package %s has no layer in deps_test.go", pkg)
				break
			}
			ok := mayImport(dep, layers[rule].may)
			if !ok {
				t.Errorf("%s imports %s, against the dependency direction (it may import %v)", pkg, dep, layers[rule].may)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("go list returned no packages")
	}
}

// mayImport reports whether dep is allowed by the list may: "" allows
// everything, "x" allows x and the packages below it, "=x" only x.
func mayImport(dep string, may []string) bool {
	for _, m := range may {
		if exact, ok := strings.CutPrefix(m, "="); ok {
			if dep == exact {
				return true
			}
		} else if m == "" || dep == m || strings.HasPrefix(dep, m+"/") {
			return true
		}
	}
	return false
}

// TestDependencyRulesCatchViolations makes sure the checker above is not
// vacuous: a violating edge must be reported.
func TestDependencyRulesCatchViolations(t *testing.T) {
	for _, c := range []struct{ pkg, imp string }{
		{"term", "github.com/go-git/go-git/v5"},
		{"ninep", "github.com/go-git/go-git/v5/plumbing"},
	} {
		if thirdPartyAllowed(c.pkg, c.imp) {
			t.Errorf("thirdPartyAllowed(%q, %q) = true, want false", c.pkg, c.imp)
		}
	}
	ciRule := []string{"ci", "term", "=bridge", "dkstore", "internal"}
	if mayImport("bridge/local", ciRule) || mayImport("ninep", ciRule) || !mayImport("bridge", ciRule) {
		t.Errorf("the ci rule lets ci import a bridge implementation or ninep, or forbids the schema")
	}
}

// TestExamplesUsePublicAPI: the examples and the self-CI (selfci, its
// main, the Quick Start's and the tutorial's tests), tests included, are
// programs a user could copy: they import nothing from internal/.
func TestExamplesUsePublicAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}",
		"./examples/...", "./selfci/...", "./cmd/selfci", "./deploy", "./docs").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		n++
		for _, imp := range fields[1:] {
			if imp == module+"/internal" || strings.HasPrefix(imp, module+"/internal/") {
				t.Errorf("%s imports %s: an example (or its test) must use only the public API", fields[0], imp)
			}
		}
	}
	if n == 0 {
		t.Fatal("go list found no examples")
	}
}
