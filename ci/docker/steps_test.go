package docker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
)

// project is a Git repository whose Dockerfile builds FROM the test base
// image and copies the checkout in; test.sh passes iff the file "ok" is
// there.
func project(t *testing.T) (*gitfixture.Repo, string, string) {
	t.Helper()
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	files := map[string]string{
		"Dockerfile": "FROM " + baseImage + "\nCOPY . /src\nWORKDIR /src\n",
		"test.sh":    "echo running the tests\ntest -f ok || { echo FAIL: ok is missing; exit 1; }\necho PASS\n",
		"ok":         "",
	}
	good := repo.Commit("good", files)
	repo.Git("rm", "-q", "ok")
	bad := repo.Commit("bad", nil)
	return repo, good, bad
}

// The realistic flow: fetch, build the commit's Dockerfile, run the tests
// in the image; a failing test's status ends with its output's last line.
func TestDockerPipeline(t *testing.T) {
	needDocker(t)
	repo, good, bad := project(t)
	eng := NewEngine(Options{})
	defer eng.Close()
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	p := pool.New("docker", 2, nil)
	build := NewBuild(eng, "Dockerfile", BuildOptions{}, StepOptions{Pool: p})
	test := NewRun(eng, "test", RunOptions{Cmd: []string{"sh", "test.sh"}, Labels: testLabels()}, StepOptions{Pool: p})
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		img := term.Bind(remote.Fetch(tg.Commit()), build.Of)
		return ci.Jobs{
			"build": term.Map(img, func(i Image) string { return "Built " + i.Short() }),
			"test":  term.Then(term.Bind(img, test.In), "Tests passed"),
		}
	}}}}
	h := citest.New(t, cfg)
	h.Timeout = 2 * time.Minute
	h.SetBranch("me/p", "master", good)
	h.OpenPR("me/p", 1, bad, "Remove ok")
	h.WaitStatus("me/p", good, "test", ci.Success)
	h.WantStatus("me/p", good, "test", ci.Success, "Tests passed")
	st := h.WaitStatus("me/p", bad, "test", ci.Failure)
	if want := `Command "sh" "test.sh" exited with status 1: FAIL: ok is missing`; st.Description != want {
		t.Errorf("failure = %q, want %q", st.Description, want)
	}
	// the saved logs
	log := branchFile(t, h.Store, "docker-build-Dockerfile-of-"+good, "log")
	if !strings.Contains(log, "=== Build Dockerfile of "+good[:7]) {
		t.Errorf("build log = %q", log)
	}
	img := strings.TrimSpace(branchFile(t, h.Store, "docker-build-Dockerfile-of-"+good, "value"))
	if !strings.HasPrefix(img, "sha256:") {
		t.Fatalf("image id = %q", img)
	}
	defer dockerClient.RemoveImage(context.Background(), img)
	if log := branchFile(t, h.Store, "docker-run-test-in-"+strings.ReplaceAll(img, ":", "-"), "log"); !strings.Contains(log, "running the tests\nPASS\n") {
		t.Errorf("test log = %q", log)
	}
	badImg := strings.TrimSpace(branchFile(t, h.Store, "docker-build-Dockerfile-of-"+bad, "value"))
	defer dockerClient.RemoveImage(context.Background(), badImg)
	h.Stop()

	// A restart (a new engine, new caches) reuses the finished builds and
	// runs: nothing is built again, every status stays.
	heads := map[string]dkstore.CommitID{}
	for _, b := range []string{"docker-build-Dockerfile-of-" + good, "docker-run-test-in-" + strings.ReplaceAll(img, ":", "-")} {
		heads[b] = branchHead(t, h.Store, b)
	}
	build2 := NewBuild(eng, "Dockerfile", BuildOptions{}, StepOptions{Pool: p})
	test2 := NewRun(eng, "test", RunOptions{Cmd: []string{"sh", "test.sh"}, Labels: testLabels()}, StepOptions{Pool: p})
	h2 := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		img := term.Bind(remote.Fetch(tg.Commit()), build2.Of)
		return ci.Jobs{"test": term.Then(term.Bind(img, test2.In), "Tests passed")}
	}}}}, citest.WithStore(h.Store))
	h2.Settle()
	h2.WantStatus("me/p", good, "test", ci.Success, "Tests passed")
	for b, want := range heads {
		if got := branchHead(t, h2.Store, b); got != want {
			t.Errorf("%s moved on restart: the finished step was done again", b)
		}
	}
}

// Timeouts and cancellation, running and queued; containers are removed
// (needDocker checks).
func TestDockerTimeoutAndCancel(t *testing.T) {
	needDocker(t)
	repo, good, _ := project(t)
	eng := NewEngine(Options{})
	defer eng.Close()
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	p := pool.New("docker", 1, nil)
	build := NewBuild(eng, "Dockerfile", BuildOptions{}, StepOptions{})
	sleepy := func(label string, p *pool.Pool, timeout time.Duration) *RunStep {
		return NewRun(eng, label, RunOptions{Cmd: []string{"sleep", "60"}, Labels: testLabels()}, StepOptions{Pool: p, Timeout: timeout})
	}
	// (the timeout counts from when the step holds its slot: the timed
	// step has a pool of its own)
	timed, first, second := sleepy("timed", pool.New("timed", 1, nil), time.Second), sleepy("first", p, 0), sleepy("second", p, 0)
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		img := term.Bind(remote.Fetch(tg.Commit()), build.Of)
		return ci.Jobs{
			"timed":  term.Then(term.Bind(img, timed.In), "done"),
			"first":  term.Then(term.Bind(img, first.In), "done"),
			"second": term.Then(term.Bind(img, second.In), "done"),
		}
	}}}}
	h := citest.New(t, cfg)
	h.Timeout = 2 * time.Minute
	h.SetBranch("me/p", "master", good)
	st := h.WaitStatus("me/p", good, "timed", ci.Failure)
	if st.Description != "Exceeded timeout of 1 seconds" {
		t.Errorf("timeout: %q", st.Description)
	}
	// now one of first/second runs, the other is queued
	var running, queued string
	for deadline := time.Now().Add(time.Minute); running == ""; time.Sleep(50 * time.Millisecond) {
		h.Settle()
		for _, j := range []string{"first", "second"} {
			s, _ := h.Status("me/p", good, j)
			if s.Description == `Waiting for resource in "docker"` {
				queued = j
			} else if strings.HasPrefix(s.Description, "Run "+j) && queued != "" {
				running = j
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no step got to run while the other queued")
		}
	}
	img := strings.TrimSpace(branchFile(t, h.Store, "docker-build-Dockerfile-of-"+good, "value"))
	defer dockerClient.RemoveImage(context.Background(), img)
	branch := func(j string) string { return "docker-run-" + j + "-in-" + strings.ReplaceAll(img, ":", "-") }
	if err := h.Engine.Cancel(branch(queued)); err != nil {
		t.Fatalf("cancel while queued: %v", err)
	}
	if st := h.WaitStatus("me/p", good, queued, ci.Failure); st.Description != "Cancelled at user's request" {
		t.Errorf("cancelled while queued: %q", st.Description)
	}
	if err := h.Engine.Cancel(branch(running)); err != nil {
		t.Fatalf("cancel while running: %v", err)
	}
	if st := h.WaitStatus("me/p", good, running, ci.Failure); st.Description != "Cancelled at user's request" {
		t.Errorf("cancelled while running: %q", st.Description)
	}
}

// A daemon that cannot be reached gives status error, not failure.
func TestDockerUnreachable(t *testing.T) {
	repo, good, _ := project(t)
	eng := NewEngine(Options{Host: "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	build := NewBuild(eng, "Dockerfile", BuildOptions{}, StepOptions{})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"build": term.Then(term.Bind(remote.Fetch(tg.Commit()), build.Of), "Built")}
	}}}})
	h.Timeout = time.Minute
	h.SetBranch("me/p", "master", good)
	st := h.WaitStatus("me/p", good, "build", ci.Error)
	if !strings.Contains(st.Description, "no-docker.sock") {
		t.Errorf("description = %q, want the daemon's address", st.Description)
	}
}

func branchHead(t *testing.T, s dkstore.Store, branch string) dkstore.CommitID {
	t.Helper()
	br, _ := s.Branch(dkstore.BranchName(branch))
	h, err := br.Head(context.Background())
	if err != nil || h.IsZero() {
		t.Fatalf("branch %s: %v, %v", branch, h, err)
	}
	return h
}

func branchFile(t *testing.T, s dkstore.Store, branch, file string) string {
	t.Helper()
	ctx := context.Background()
	c, _ := s.Commit(ctx, branchHead(t, s, branch))
	tree, _ := s.Tree(ctx, c.Tree)
	b, err := tree.ReadFile(ctx, dkstore.Path(file))
	if err != nil {
		t.Fatalf("%s:%s: %v", branch, file, err)
	}
	return string(b)
}

// Result branch names are the reference's: the image id's ":" becomes "-".
func TestDockerBranchNames(t *testing.T) {
	const sha = "0123456789012345678901234567890123456789"
	build := NewBuild(NewEngine(Options{}), "my app/Dockerfile", BuildOptions{}, StepOptions{})
	run := NewRun(NewEngine(Options{}), "test", RunOptions{}, StepOptions{})
	bb, rb := buildBuilder{build}, runBuilder{run}
	for _, c := range []struct{ got, want string }{
		{bb.Branch(buildKey{commit: git.Commit{Hash: sha}}), "docker-build-my-app-Dockerfile-of-" + sha},
		{bb.Branch(buildKey{commit: git.Commit{Hash: sha}, from: "sha256:abc"}), "docker-build-my-app-Dockerfile-of-" + sha + "-from-sha256-abc"},
		{rb.Branch("sha256:abc"), "docker-run-test-in-sha256-abc"},
		{rb.Branch("ocaml/opam:alpine"), "docker-run-test-in-ocaml_2fopam-alpine"},
		{rb.Branch("reg:5000/a@sha256:ab"), "docker-run-test-in-reg-5000_2fa_40sha256-ab"},
		{rb.Branch("img:1..2"), "docker-run-test-in-img-1_2e_2e2"},
		{rb.Branch("img:x.lock"), "docker-run-test-in-img-x_2elock"},
		{bb.Branch(buildKey{commit: git.Commit{Hash: sha}, from: "ocaml/opam:4.14"}), "docker-build-my-app-Dockerfile-of-" + sha + "-from-ocaml_2fopam-4.14"},
		{runBuilder{NewRun(nil, "a..b.", RunOptions{}, StepOptions{})}.Branch("i"), "docker-run-a--b--in-i"},
		{runBuilder{NewRun(nil, "t.lock", RunOptions{}, StepOptions{})}.Branch("i"), "docker-run-t-lock-in-i"},
		{rb.Title("sha256:0123456789abcdef"), "Run test in 0123456789ab"},
	} {
		if c.got != c.want {
			t.Errorf("branch = %q, want %q", c.got, c.want)
		}
		if strings.HasPrefix(c.got, "docker-") {
			if err := dkstore.BranchName(c.got).Valid(); err != nil {
				t.Errorf("%s: %v", c.got, err)
			}
		}
	}
}

// A failing run's message ends with its output's last line: the last one
// with text, a carriage return ending a line too.
func TestDockerLastLine(t *testing.T) {
	for _, c := range []struct{ name, out, want string }{
		{"plain", "a\nFAIL: b\n", "FAIL: b"},
		{"blank lines after", "FAIL: b\n\n  \n", "FAIL: b"},
		{"no newline", "a\nunfinished", "unfinished"},
		{"progress bar", "50%\r100%\rdone: 3 failures\r\n", "done: 3 failures"},
		{"nothing", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var l lastLine
			for i := 0; i < len(c.out); i++ { // byte by byte: any split
				l.Write([]byte{c.out[i]})
			}
			if got := l.line(); got != c.want {
				t.Errorf("line() = %q, want %q", got, c.want)
			}
		})
	}
}

// A saved image that is gone (pruned) is built again at the next lookup;
// a daemon that is down when a saved build is looked up gives status
// error and rebuilds nothing.
func TestDockerImageGoneOrDaemonDown(t *testing.T) {
	needDocker(t)
	repo, good, _ := project(t)
	eng := NewEngine(Options{})
	defer eng.Close()
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	pipeline := func(eng *Engine) ci.Config {
		build := NewBuild(eng, "Dockerfile", BuildOptions{}, StepOptions{})
		return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
			return ci.Jobs{"build": term.Map(term.Bind(remote.Fetch(tg.Commit()), build.Of), func(i Image) string { return i.ID })}
		}}}}
	}
	h := citest.New(t, pipeline(eng))
	h.Timeout = 2 * time.Minute
	h.SetBranch("me/p", "master", good)
	first := h.WaitStatus("me/p", good, "build", ci.Success).Description
	defer dockerClient.RemoveImage(context.Background(), first)
	branch := "docker-build-Dockerfile-of-" + good
	built := branchHead(t, h.Store, branch)
	h.Stop()

	down := NewEngine(Options{Host: "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")})
	h2 := citest.New(t, pipeline(down), citest.WithStore(h.Store))
	h2.Timeout = time.Minute
	if st := h2.WaitStatus("me/p", good, "build", ci.Error); !strings.Contains(st.Description, "no-docker.sock") {
		t.Errorf("daemon down: %q", st.Description)
	}
	h2.Stop()
	if got := branchHead(t, h.Store, branch); got != built {
		t.Error("a lookup while the daemon was down moved the result branch (a rebuild)")
	}

	if err := dockerClient.RemoveImage(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	h3 := citest.New(t, pipeline(eng), citest.WithStore(h.Store))
	h3.Timeout = 2 * time.Minute
	h3.WaitStatus("me/p", good, "build", ci.Success)
	second := strings.TrimSpace(branchFile(t, h.Store, branch, "value"))
	defer dockerClient.RemoveImage(context.Background(), second)
	if branchHead(t, h.Store, branch) == built {
		t.Error("the gone image was not built again")
	}
	if ok, err := dockerClient.ImageExists(context.Background(), second); !ok || err != nil {
		t.Errorf("the rebuilt image %s: exists %v, %v", second, ok, err)
	}
}

// A requested rebuild waits in its pool behind work a PR waits for.
func TestDockerRebuildQueuesLow(t *testing.T) {
	needDocker(t)
	eng := NewEngine(Options{})
	defer eng.Close()
	p := pool.New("docker", 1, nil)
	step := func(label string) *RunStep {
		return NewRun(eng, label, RunOptions{Cmd: []string{"echo", label}, Labels: testLabels()}, StepOptions{Pool: p})
	}
	a, b := step("a"), step("b")
	img := Image{ID: baseImage}
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		if tg.ID.IsPR() {
			return ci.Jobs{"b": term.Then(b.In(img), "ok")}
		}
		return ci.Jobs{"a": term.Then(a.In(img), "ok")}
	}}}})
	h.Timeout = time.Minute
	const sha1, sha2 = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	h.SetBranch("me/p", "master", sha1)
	h.WaitStatus("me/p", sha1, "a", ci.Success)
	release, err := p.Acquire(context.Background(), pool.Request{Priority: pool.High, Label: "blocker"})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if ok, err := h.Engine.Rebuild(context.Background(), runBuilder{a}.Branch(img.ID)); !ok || err != nil {
		t.Fatalf("Rebuild = %v, %v", ok, err)
	}
	queued := func(n int) []pool.Use {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if q := p.Status().Queued; len(q) == n {
				return q
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue = %+v, want %d waiting", p.Status().Queued, n)
			}
		}
	}
	queued(1)
	h.OpenPR("me/p", 1, sha2, "PR")
	q := queued(2)
	if !strings.HasPrefix(q[0].Label, "Run b") || q[0].Priority != pool.Normal || !strings.HasPrefix(q[1].Label, "Run a") || q[1].Priority != pool.Low {
		t.Errorf("queue = %+v, want the PR's step first, then the rebuild at priority Low", q)
	}
	release()
	h.WaitStatus("me/p", sha2, "b", ci.Success)
	h.WaitStatus("me/p", sha1, "a", ci.Success)
}
