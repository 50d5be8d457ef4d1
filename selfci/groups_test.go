package selfci

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Every package of the module is tested by exactly one test group, so that
// a package added later is not left out of the self-CI (nor tested twice).
func TestGroupsCoverEveryPackage(t *testing.T) {
	list := func(patterns ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list", "-e"}, patterns...)...)
		cmd.Dir = ".."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %v: %v", patterns, err)
		}
		return strings.Fields(string(out))
	}
	all := list("./...")
	tested := map[string][]string{}
	for _, g := range Groups {
		if len(g.Cmd) < 2 || g.Cmd[0] != "go" || g.Cmd[1] != "test" {
			continue
		}
		var pkgs []string
		for _, a := range g.Cmd[2:] {
			if a == "." || strings.HasPrefix(a, "./") {
				pkgs = append(pkgs, a)
			}
		}
		if len(pkgs) == 0 {
			t.Errorf("group %s tests no package: %q", g.Job, g.Cmd)
			continue
		}
		for _, p := range list(pkgs...) {
			tested[p] = append(tested[p], g.Job)
		}
	}
	for _, p := range all {
		switch jobs := tested[p]; len(jobs) {
		case 0:
			t.Errorf("package %s is in no test group of selfci.Groups", p)
		case 1:
		default:
			t.Errorf("package %s is tested by %v: want one group", p, jobs)
		}
	}
	for p := range tested {
		if !slices.Contains(all, p) {
			t.Errorf("a test group names %s, which go list ./... does not have", p)
		}
	}
}

// Job names are unique and none is "image" or "all", which Jobs adds.
func TestGroupNames(t *testing.T) {
	seen := map[string]bool{"image": true, "all": true}
	for _, g := range Groups {
		if seen[g.Job] {
			t.Errorf("job %q twice (or clashes with image/all)", g.Job)
		}
		seen[g.Job] = true
	}
}
