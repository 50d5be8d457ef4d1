package selfci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/citest/gitrepo"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/dkstore"
)

// smallCopy is a small copy of this repository for the self-CI to test for
// real: a module with a test, a cmd/datakit whose --version works, and the
// repository's own Dockerfile and .dockerignore (so that the image job
// builds them as it builds this repository's).
func smallCopy(t *testing.T) (*gitrepo.Repo, string) {
	t.Helper()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	repo := gitrepo.New(t)
	good := repo.Commit("A small copy", map[string]string{
		"go.mod":              "module example.org/small\n\ngo 1.22\n",
		"small.go":            "// Package small is small.\npackage small\n\n// Two is 2.\nfunc Two() int { return 2 }\n",
		"small_test.go":       "package small\n\nimport \"testing\"\n\nfunc TestTwo(t *testing.T) {\n\tif Two() != 2 {\n\t\tt.Fatal(Two())\n\t}\n}\n",
		"cmd/datakit/main.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tif len(os.Args) > 1 && os.Args[1] == \"--version\" {\n\t\tfmt.Println(\"datakit dev\")\n\t}\n}\n",
		"Dockerfile":          read("Dockerfile"),
		".dockerignore":       read(".dockerignore"),
	})
	return repo, good
}

// smallGroups are the Go jobs on the small copy: its tests, and the
// self-CI's own vet and gofmt.
func smallGroups() []Group {
	gs := []Group{Tests("test", "./...")}
	for _, g := range Groups {
		if g.Job == "vet" || g.Job == "gofmt" {
			gs = append(gs, g)
		}
	}
	return gs
}

// needDocker fails (CI=true) or skips the test when Docker does not answer.
func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := docker.New(ctx, docker.Options{})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker is needed (CI=true): %v", err)
		}
		t.Skipf("SKIP: no Docker: %v", err)
	}
	c.Close()
}

// removeImagesOf removes the images the pipeline in workDir built (its
// server images, labelled with its owner); the Go image, named by its
// content and shared, stays.
func removeImagesOf(t *testing.T, workDir string) {
	out, err := exec.Command("docker", "images", "-q", "--filter", "label="+docker.CILabel+"=selfci:"+workDir).Output()
	if err != nil {
		t.Logf("listing the test's images: %v", err)
		return
	}
	for _, id := range strings.Fields(string(out)) {
		if out, err := exec.Command("docker", "rmi", "-f", id).CombinedOutput(); err != nil {
			t.Logf("docker rmi %s: %v: %s", id, err, out)
		}
	}
}

// The self-CI for real, on the host, with no Docker: the Go jobs run and
// pass (or fail, naming the failed test), the image job reports error with
// the reason, and "all" fails for the failed test.
func TestRealRunOnHostWithoutDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: runs go test and go vet; not in -short mode")
	}
	repo, good := smallCopy(t)
	repo.Checkout("broken")
	bad := repo.Commit("A failing test", map[string]string{
		"small_test.go": "package small\n\nimport \"testing\"\n\nfunc TestThree(t *testing.T) {\n\tif Two() != 3 {\n\t\tt.Fatal(Two())\n\t}\n}\n",
	})
	repo.SetPR(1, bad)
	p := New(context.Background(), Options{
		Src: repo.Dir, WorkDir: t.TempDir(), GoIn: Auto, Groups: smallGroups(),
		Docker: docker.Options{Host: "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")},
	})
	defer p.Close()
	if where, why := p.Placement(); where != OnHost || !strings.Contains(why, "Docker does not answer") {
		t.Fatalf("Placement() = %s, %q; want host because Docker does not answer", where, why)
	}
	h := citest.New(t, p.Config())
	h.Timeout = 3 * time.Minute
	h.SetBranch(Repo, "main", good)
	h.OpenPR(Repo, 1, bad, "A failing test")
	h.WaitStatus(Repo, good, "test", ci.Success, citest.Description("Tests passed"))
	h.WaitStatus(Repo, good, "vet", ci.Success, citest.Description("Vet passed"))
	h.WaitStatus(Repo, good, "gofmt", ci.Success, citest.Description("Formatted"))
	h.WaitStatus(Repo, good, "image", ci.Error, citest.DescriptionContains("Docker is not available"))
	h.WaitStatus(Repo, good, "all", ci.Error, citest.Description("image failed"))
	h.WaitStatus(Repo, bad, "test", ci.Failure, citest.DescriptionContains("exited with status 1: FAIL example.org/small (TestThree)"))
	h.WaitStatus(Repo, bad, "all", ci.Failure, citest.Description("test, image failed"))
}

// The self-CI for real, with Docker: the Go image is made from this
// machine's toolchain, the Go jobs run in it, the server image is built and
// run; a second run on the same store and work directory finds every
// result and runs nothing again.
func TestRealRunInDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds Docker images; not in -short mode")
	}
	needDocker(t)
	repo, good := smallCopy(t)
	workDir := t.TempDir()
	t.Cleanup(func() { removeImagesOf(t, workDir) })
	stateDir := t.TempDir()
	// A build cache shared by the runs of this test (the race runtime
	// compiles once), as a CI's is by its runs.
	goCache := filepath.Join(os.TempDir(), "datakit-selfci-test-gocache")
	opts := Options{Src: repo.Dir, WorkDir: workDir, GoCache: goCache, GoIn: InDocker, Groups: smallGroups()}

	run := func() map[dkstore.BranchName]dkstore.CommitID {
		store, err := dkstore.Open(stateDir, dkstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		p := New(context.Background(), opts)
		defer p.Close()
		if where, why := p.Placement(); where != InDocker || p.Toolchain() == nil {
			t.Fatalf("Placement() = %s, %q; want docker", where, why)
		}
		h := citest.New(t, p.Config(), citest.WithStore(store))
		h.Timeout = 5 * time.Minute
		h.SetBranch(Repo, "main", good)
		h.WaitStatus(Repo, good, "all", ci.Success, citest.Description("All checks passed"))
		h.WantStatus(Repo, good, "test", ci.Success, "Tests passed")
		if st, _ := h.Status(Repo, good, "image"); !strings.HasPrefix(st.Description, "Built the server image ") {
			t.Errorf("image status: %q", st.Description)
		}
		h.Stop()
		return resultHeads(t, store)
	}
	first := run()
	if len(first) != 5 { // the Go image, test, vet, gofmt, image
		t.Fatalf("result branches after the first run: %v; want 5", first)
	}
	second := run()
	for b, head := range first {
		if second[b] != head {
			t.Errorf("result branch %s moved in the second run (%s to %s): a step ran again", b, head, second[b])
		}
	}
}

// resultHeads are the heads of the self-CI's result branches.
func resultHeads(t *testing.T, s dkstore.Store) map[dkstore.BranchName]dkstore.CommitID {
	ctx := context.Background()
	bs, err := s.Branches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	heads := map[dkstore.BranchName]dkstore.CommitID{}
	for _, b := range bs {
		if !strings.HasPrefix(string(b), "selfci-") {
			continue
		}
		br, _ := s.Branch(b)
		heads[b], _ = br.Head(ctx)
	}
	return heads
}
