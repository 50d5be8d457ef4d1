package main

import (
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/citest/gitrepo"
)

// The realistic pipeline on a real repository: a good commit passes every
// job; a PR that breaks the formatting fails gofmt, and "all" says so.
func TestPipeline(t *testing.T) {
	repo := gitrepo.New(t)
	good := repo.Commit("good", map[string]string{
		"go.mod":  "module example.org/m\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	})
	repo.Checkout("reformat")
	bad := repo.Commit("bad", map[string]string{"main.go": "package main\nfunc main() {  }\n"})
	repo.SetPR(1, bad)

	h := citest.New(t, pipeline(repo.Dir, t.TempDir()))
	h.Timeout = 2 * time.Minute
	h.SetBranch("dkgo/datakit", "master", good)
	h.OpenPR("dkgo/datakit", 1, bad, "Reformat")
	h.WaitStatus("dkgo/datakit", good, "all", ci.Success)
	h.WantStatus("dkgo/datakit", good, "vet", ci.Success, "Vet passed")
	h.WaitStatus("dkgo/datakit", bad, "gofmt", ci.Failure, citest.DescriptionContains(`Command "sh" "-c"`), citest.DescriptionContains("exited with status 1"))
	h.WaitStatus("dkgo/datakit", bad, "all", ci.Failure, citest.Description("gofmt failed"))
	h.WantStatus("dkgo/datakit", bad, "build", ci.Success, "Build succeeded")
}
