package selfci

import (
	"testing"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/term"
)

// fakes are scriptable stand-ins for the self-CI's steps.
type fakes struct {
	fetch *citest.Step[git.Commit]
	goJob map[string]*citest.Step[struct{}]
	image *citest.Step[docker.Image]
}

func newFakes() *fakes {
	f := &fakes{
		fetch: citest.NewStep[git.Commit]("Fetching"),
		goJob: map[string]*citest.Step[struct{}]{},
		image: citest.NewStep[docker.Image]("Building the server image"),
	}
	for _, g := range Groups {
		f.goJob[g.Job] = citest.NewStep[struct{}]("Running " + g.Job)
	}
	return f
}

func (f *fakes) steps() Steps {
	s := Steps{
		Fetch: func(ci.Commit) term.Term[git.Commit] { return f.fetch.Term() },
		Go:    map[string]func(git.Commit) term.Term[struct{}]{},
		Image: func(git.Commit) term.Term[docker.Image] { return f.image.Term() },
	}
	for job, st := range f.goJob {
		s.Go[job] = func(git.Commit) term.Term[struct{}] { return st.Term() }
	}
	return s
}

const head = "1111111111111111111111111111111111111111"

func fakeConfig(f *fakes) ci.Config {
	return ci.Config{Projects: []ci.Project{{Repo: Repo, Jobs: Jobs(Groups, f.steps())}}}
}

// The jobs' wiring: every job waits for the fetch, then for its own step;
// "all" waits for every job and says which failed; a job that cannot run
// for want of Docker reports error while the others finish.
func TestJobsWiring(t *testing.T) {
	f := newFakes()
	h := citest.New(t, fakeConfig(f))
	h.SetBranch(Repo, "main", head)
	h.Settle()
	for _, g := range Groups {
		h.WantStatus(Repo, head, g.Job, ci.Pending, "Fetching")
	}
	h.WantStatus(Repo, head, "image", ci.Pending, "Fetching")

	f.fetch.Succeed(git.Commit{Hash: head})
	h.Settle()
	h.WantStatus(Repo, head, "test-web", ci.Pending, "Running test-web")
	h.WantStatus(Repo, head, "image", ci.Pending, "Building the server image")
	h.WantStatus(Repo, head, "all", ci.Pending, "Waiting for test-store, test-ninep, test-ci, test-web, examples, tutorial, vet, gofmt, image")

	for job, st := range f.goJob {
		if job != "test-web" {
			st.Succeed(struct{}{})
		}
	}
	f.goJob["test-web"].Fail(`Command "go" "test" exited with status 1: FAIL ci/web (TestX)`)
	f.image.Error("Docker is not available: cannot connect")
	h.Settle()
	for _, g := range Groups {
		if g.Job != "test-web" {
			h.WantStatus(Repo, head, g.Job, ci.Success, g.Success)
		}
	}
	h.WantStatus(Repo, head, "test-web", ci.Failure, `Command "go" "test" exited with status 1: FAIL ci/web (TestX)`)
	h.WantStatus(Repo, head, "image", ci.Error, "Docker is not available: cannot connect")
	h.WantStatus(Repo, head, "all", ci.Failure, "test-web, image failed")

	// Fixed, and Docker back: everything passes.
	f.goJob["test-web"].Succeed(struct{}{})
	f.image.Succeed(docker.Image{ID: "sha256:0123456789abcdef0123"})
	h.Settle()
	h.WantStatus(Repo, head, "image", ci.Success, "Built the server image 0123456789ab")
	h.WantStatus(Repo, head, "all", ci.Success, "All checks passed")
}

// Only infrastructure errors: "all" is an error too, not a failure.
func TestJobsAllErrorWhenOnlyInfraFailed(t *testing.T) {
	f := newFakes()
	h := citest.New(t, fakeConfig(f))
	h.SetBranch(Repo, "main", head)
	f.fetch.Succeed(git.Commit{Hash: head})
	for _, st := range f.goJob {
		st.Succeed(struct{}{})
	}
	f.image.Error("Docker is not available")
	h.Settle()
	h.WantStatus(Repo, head, "all", ci.Error, "image failed")
}

// A commit that cannot be fetched: every job reports it.
func TestJobsFetchFails(t *testing.T) {
	f := newFakes()
	h := citest.New(t, fakeConfig(f))
	h.SetBranch(Repo, "main", head)
	f.fetch.Error("git fetch: repository not found")
	h.Settle()
	h.WantStatus(Repo, head, "vet", ci.Error, "git fetch: repository not found")
	h.WantStatus(Repo, head, "image", ci.Error, "git fetch: repository not found")
}

func TestTestFailures(t *testing.T) {
	for _, c := range []struct {
		name, out, want string
	}{
		{"pass", "ok  \tgithub.com/dkgo/datakit/term\t1.2s\n", ""},
		{"one", "--- FAIL: TestCancelAndWhy (10.01s)\n    logs_test.go:124: x\nFAIL\nFAIL\tgithub.com/dkgo/datakit/ci/web\t28.495s\nok  \tgithub.com/dkgo/datakit/term\t1s\n",
			"FAIL ci/web (TestCancelAndWhy)"},
		{"subtests", "--- FAIL: TestA (1s)\n    --- FAIL: TestA/sub (0s)\nFAIL\tgithub.com/dkgo/datakit/dkstore\t1s\nFAIL\tgithub.com/dkgo/datakit [build failed]\n",
			"FAIL dkstore, . (TestA)"},
		{"build", "# github.com/x/y\n./a.go:1: syntax error\nFAIL\tgithub.com/x/y [setup failed]\n", "FAIL github.com/x/y"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f TestFailures
			// Written in two pieces, cut mid-line.
			f.Write([]byte(c.out[:len(c.out)/2]))
			f.Write([]byte(c.out[len(c.out)/2:]))
			if got := f.Summary(); got != c.want {
				t.Errorf("Summary() = %q, want %q", got, c.want)
			}
		})
	}
}

func FuzzTestFailures(f *testing.F) {
	f.Add([]byte("--- FAIL: TestX (1s)\nFAIL\tgithub.com/dkgo/datakit/ci\t1s\n"), 7)
	f.Fuzz(func(t *testing.T, out []byte, cut int) {
		var a, b TestFailures
		a.Write(out)
		if cut < 0 {
			cut = -cut
		}
		if len(out) > 0 {
			cut %= len(out) + 1
		} else {
			cut = 0
		}
		b.Write(out[:cut])
		b.Write(out[cut:])
		if a.Summary() != b.Summary() {
			t.Errorf("one write: %q; two: %q", a.Summary(), b.Summary())
		}
	})
}
