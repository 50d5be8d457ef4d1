package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/internal/gitfixture"
)

// The realistic pipeline on a real repository: a good commit passes every
// job; a badly formatted one fails gofmt, and "all" says so.
func TestPipeline(t *testing.T) {
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, t.TempDir())
	good := repo.Commit("good", map[string]string{
		"go.mod":  "module example.org/m\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	})
	bad := repo.Commit("bad", map[string]string{"main.go": "package main\nfunc main() {  }\n"})
	h := citest.New(t, pipeline(repo.Dir, t.TempDir()))
	h.Timeout = 2 * time.Minute
	h.SetBranch("dkgo/datakit", "master", good)
	h.OpenPR("dkgo/datakit", 1, bad, "Reformat")
	h.WaitStatus("dkgo/datakit", good, "all", ci.Success)
	h.WantStatus("dkgo/datakit", good, "vet", ci.Success, "Vet passed")
	st := h.WaitStatus("dkgo/datakit", bad, "gofmt", ci.Failure)
	if !strings.Contains(st.Description, `Command "sh" "-c"`) || !strings.Contains(st.Description, "exited with status 1") {
		t.Errorf("gofmt failure = %q", st.Description)
	}
	h.WaitStatus("dkgo/datakit", bad, "all", ci.Failure)
	h.WantStatus("dkgo/datakit", bad, "all", ci.Failure, "gofmt failed")
	h.WantStatus("dkgo/datakit", bad, "build", ci.Success, "Build succeeded")
}
