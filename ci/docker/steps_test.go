package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
	buildBranch := func(sha string) string { return buildBuilder{build}.Branch(buildKey{commit: git.Commit{Hash: sha}}) }
	log := branchFile(t, h.Store, buildBranch(good), "log")
	if !strings.Contains(log, "=== Build Dockerfile of "+good[:7]) {
		t.Errorf("build log = %q", log)
	}
	img := strings.TrimSpace(branchFile(t, h.Store, buildBranch(good), "value"))
	if !strings.HasPrefix(img, "sha256:") {
		t.Fatalf("image id = %q", img)
	}
	defer dockerClient.RemoveImage(context.Background(), img)
	if log := branchFile(t, h.Store, runBuilder{test}.Branch(img), "log"); !strings.Contains(log, "running the tests\nPASS\n") {
		t.Errorf("test log = %q", log)
	}
	badImg := strings.TrimSpace(branchFile(t, h.Store, buildBranch(bad), "value"))
	defer dockerClient.RemoveImage(context.Background(), badImg)
	h.Stop()

	// A restart (a new engine, new caches) reuses the finished builds and
	// runs: nothing is built again, every status stays.
	heads := map[string]dkstore.CommitID{}
	for _, b := range []string{buildBranch(good), runBuilder{test}.Branch(img)} {
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
	img := strings.TrimSpace(branchFile(t, h.Store, buildBuilder{build}.Branch(buildKey{commit: git.Commit{Hash: good}}), "value"))
	defer dockerClient.RemoveImage(context.Background(), img)
	steps := map[string]*RunStep{"first": first, "second": second}
	branch := func(j string) string { return runBuilder{steps[j]}.Branch(img) }
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

// Result branch names: the label escaped (ci.EscapeName), the digest of
// the step's options, the commit, the images escaped; dots that Git would
// refuse escaped too (ci.JoinBranch).
func TestDockerBranchNames(t *testing.T) {
	const sha = "0123456789012345678901234567890123456789"
	build := NewBuild(NewEngine(Options{}), "my app/Dockerfile", BuildOptions{}, StepOptions{})
	run := NewRun(NewEngine(Options{}), "test", RunOptions{}, StepOptions{})
	bb, rb := buildBuilder{build}, runBuilder{run}
	bd, rd := build.digest, run.digest
	for _, d := range []string{bd, rd} {
		if len(d) != 12 || strings.Trim(d, "0123456789abcdef") != "" {
			t.Errorf("digest %q: want 12 hexadecimal digits", d)
		}
	}
	for _, c := range []struct{ got, want string }{
		{bb.Branch(buildKey{commit: git.Commit{Hash: sha}}), "docker-build-my_20app_2fDockerfile-" + bd + "-of-" + sha},
		{bb.Branch(buildKey{commit: git.Commit{Hash: sha}, from: "sha256:abc"}), "docker-build-my_20app_2fDockerfile-" + bd + "-of-" + sha + "-from-sha256_3aabc"},
		{rb.Branch("sha256:abc"), "docker-run-test-" + rd + "-in-sha256_3aabc"},
		{rb.Branch("ocaml/opam:alpine"), "docker-run-test-" + rd + "-in-ocaml_2fopam_3aalpine"},
		{rb.Branch("reg:5000/a@sha256:ab"), "docker-run-test-" + rd + "-in-reg_3a5000_2fa_40sha256_3aab"},
		{rb.Branch("img:1..2"), "docker-run-test-" + rd + "-in-img_3a1_2e_2e2"},
		{rb.Branch("img:x.lock"), "docker-run-test-" + rd + "-in-img_3ax_2elock"},
		{bb.Branch(buildKey{commit: git.Commit{Hash: sha}, from: "ocaml/opam:4.14"}), "docker-build-my_20app_2fDockerfile-" + bd + "-of-" + sha + "-from-ocaml_2fopam_3a4.14"},
		{runBuilder{NewRun(nil, "a..b.", RunOptions{}, StepOptions{})}.Branch("i"), "docker-run-a_2e_2eb_2e-" + rd + "-in-i"},
		{runBuilder{NewRun(nil, "t.lock", RunOptions{}, StepOptions{})}.Branch("i"), "docker-run-t.lock-" + rd + "-in-i"},
		{runBuilder{NewRun(nil, "a/b", RunOptions{}, StepOptions{})}.Branch("i"), "docker-run-a_2fb-" + rd + "-in-i"},
		{runBuilder{NewRun(nil, "a-b", RunOptions{}, StepOptions{})}.Branch("i"), "docker-run-a_2db-" + rd + "-in-i"},
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

// A step's digest covers every option that decides its result, and only
// those: the same options give the same digest (in any map order), any
// change of command, environment or build option another one.
func TestDockerStepIdentity(t *testing.T) {
	base := BuildOptions{Dockerfile: "Dockerfile", BuildArgs: map[string]string{"A": "1", "B": "2"}, Target: "test", Tags: []string{"app:ci"}, Labels: map[string]string{"l": "v"}}
	digest := func(o BuildOptions) string { return NewBuild(nil, "b", o, StepOptions{}).digest }
	same := base
	same.BuildArgs = map[string]string{"B": "2", "A": "1"}
	same.Timeout = time.Hour // a limit, not an input
	if digest(same) != digest(base) {
		t.Error("the same build options give another digest")
	}
	if digest(BuildOptions{}) != digest(BuildOptions{Dockerfile: "Dockerfile"}) {
		t.Error(`Dockerfile "" and "Dockerfile" give different digests`)
	}
	seen := map[string]string{digest(base): "base"}
	for name, change := range map[string]func(*BuildOptions){
		"Dockerfile": func(o *BuildOptions) { o.Dockerfile = "ci/Dockerfile" },
		"BuildArgs":  func(o *BuildOptions) { o.BuildArgs = map[string]string{"A": "1", "B": "3"} },
		"Target":     func(o *BuildOptions) { o.Target = "" },
		"Tags":       func(o *BuildOptions) { o.Tags = nil },
		"Labels":     func(o *BuildOptions) { o.Labels = map[string]string{"l": "w"} },
		"NoCache":    func(o *BuildOptions) { o.NoCache = true },
	} {
		o := base
		change(&o)
		d := digest(o)
		if other, ok := seen[d]; ok {
			t.Errorf("build: changing %s gives the digest of %s", name, other)
		}
		seen[d] = name
	}

	rbase := RunOptions{Cmd: []string{"sh", "test.sh"}, Env: []string{"X=1"}, User: "nobody", WorkDir: "/src",
		Mounts: []Mount{{Source: "/a", Target: "/b"}}, Network: "bridge"}
	rdigest := func(o RunOptions) string { return NewRun(nil, "r", o, StepOptions{}).digest }
	rsame := rbase
	rsame.Labels, rsame.Timeout, rsame.Image = map[string]string{"x": "y"}, time.Hour, "ignored: the step sets it"
	if rdigest(rsame) != rdigest(rbase) {
		t.Error("the same run options give another digest")
	}
	if rdigest(RunOptions{}) != rdigest(RunOptions{Network: "none"}) {
		t.Error(`Network "" and "none" give different digests`)
	}
	rseen := map[string]string{rdigest(rbase): "base"}
	for name, change := range map[string]func(*RunOptions){
		"Cmd":        func(o *RunOptions) { o.Cmd = []string{"sh", "other.sh"} },
		"Entrypoint": func(o *RunOptions) { o.Entrypoint = []string{"/bin/sh"} },
		"Env":        func(o *RunOptions) { o.Env = []string{"X=2"} },
		"User":       func(o *RunOptions) { o.User = "root" },
		"WorkDir":    func(o *RunOptions) { o.WorkDir = "/" },
		"Mounts":     func(o *RunOptions) { o.Mounts = []Mount{{Source: "/a", Target: "/b", ReadOnly: true}} },
		"Network":    func(o *RunOptions) { o.Network = "none" },
	} {
		o := rbase
		change(&o)
		d := rdigest(o)
		if other, ok := rseen[d]; ok {
			t.Errorf("run: changing %s gives the digest of %s", name, other)
		}
		rseen[d] = name
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
	var branch string
	pipeline := func(eng *Engine) ci.Config {
		build := NewBuild(eng, "Dockerfile", BuildOptions{}, StepOptions{})
		branch = buildBuilder{build}.Branch(buildKey{commit: git.Commit{Hash: good}})
		return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
			return ci.Jobs{"build": term.Map(term.Bind(remote.Fetch(tg.Commit()), build.Of), func(i Image) string { return i.ID })}
		}}}}
	}
	h := citest.New(t, pipeline(eng))
	h.Timeout = 2 * time.Minute
	h.SetBranch("me/p", "master", good)
	first := h.WaitStatus("me/p", good, "build", ci.Success).Description
	defer dockerClient.RemoveImage(context.Background(), first)
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

// With an Owner, the images the build steps build carry it (CILabel), as
// the run steps' containers do, and docs/ci.md's recipes prune them: the
// second keeps the images that result branches name and removes the CI's
// others, the first removes the CI's images (not the base image, which
// is not the CI's); a CI restarted after the prune builds the image it
// needs again.
func TestDockerImageOwnerLabelAndPrune(t *testing.T) {
	needDocker(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the prune recipes need the docker command: %v", err)
	}
	repo, good, _ := project(t)
	owner := "test-ci-" + runID + "-images"
	state := t.TempDir()
	recipes := pruneRecipes(t, owner, state)
	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	var branch string
	pipeline := func(eng *Engine) ci.Config {
		build := NewBuild(eng, "Dockerfile", BuildOptions{Labels: map[string]string{"mine": "kept"}}, StepOptions{})
		branch = buildBuilder{build}.Branch(buildKey{commit: git.Commit{Hash: good}})
		return ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
			return ci.Jobs{"build": term.Map(term.Bind(remote.Fetch(tg.Commit()), build.Of), func(i Image) string { return i.ID })}
		}}}}
	}
	eng := NewEngine(Options{Owner: owner})
	defer eng.Close()
	h := citest.New(t, pipeline(eng), citest.WithStore(store))
	h.Timeout = 2 * time.Minute
	h.SetBranch("me/p", "master", good)
	img := h.WaitStatus("me/p", good, "build", ci.Success).Description
	defer dockerClient.RemoveImage(context.Background(), img)
	res, err := dockerClient.api.ImageInspect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if labels := res.Config.Labels; labels[CILabel] != owner || labels["mine"] != "kept" {
		t.Errorf("image labels %v, want %s=%s and the build's own", labels, CILabel, owner)
	}
	built := branchHead(t, h.Store, branch)
	h.Stop()

	// An image of the CI's that no result branch names.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+baseImage+"\nRUN echo "+runID+" >/unreferenced\n"), 0o644)
	stray, err := dockerClient.Build(context.Background(), BuildOptions{ContextDir: dir, Labels: map[string]string{CILabel: owner}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dockerClient.RemoveImage(context.Background(), stray)
	exists := func(id string) bool {
		ok, err := dockerClient.ImageExists(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = t.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s\n%s", err, script, out)
		}
	}
	sh(recipes["referenced"])
	if !exists(img) || exists(stray) {
		t.Errorf("after the second recipe: the referenced image exists %v (want true), the other %v (want false)", exists(img), exists(stray))
	}
	time.Sleep(1100 * time.Millisecond) // older than until=1s
	sh(recipes["all"])
	if exists(img) {
		t.Error("after the first recipe: the CI's image is still there")
	}
	if !exists(baseImage) {
		t.Error("the prune removed the base image, which is not the CI's")
	}

	h2 := citest.New(t, pipeline(eng), citest.WithStore(store))
	h2.Timeout = 2 * time.Minute
	h2.Settle()
	again := h2.WaitStatus("me/p", good, "build", ci.Success).Description
	defer dockerClient.RemoveImage(context.Background(), again)
	if branchHead(t, store, branch) == built {
		t.Error("the pruned image was not built again")
	}
}

// pruneRecipes reads docs/ci.md's recipes for pruning images, for the CI
// owner whose state directory is state: "all" (its until= filter
// shortened to 1s) and "referenced".
func pruneRecipes(t *testing.T, owner, state string) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/ci.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "### Pruning images")
	var blocks []string
	for rest := section; ; {
		var block string
		var ok bool
		if _, rest, ok = strings.Cut(rest, "```sh\n"); !ok {
			break
		}
		block, rest, _ = strings.Cut(rest, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) < 2 || !strings.Contains(blocks[0], "until=168h") || !strings.HasPrefix(blocks[1], "STATE=") {
		t.Fatalf("docs/ci.md: no recipes for pruning images found (%d blocks)", len(blocks))
	}
	all := strings.ReplaceAll(strings.ReplaceAll(blocks[0], "<owner>", owner), "until=168h", "until=1s")
	referenced := strings.ReplaceAll(blocks[1], "<owner>", owner)
	referenced = regexp.MustCompile(`(?m)^STATE=.*$`).ReplaceAllLiteralString(referenced, "STATE="+strconv.Quote(state))
	return map[string]string{"all": all, "referenced": referenced}
}
