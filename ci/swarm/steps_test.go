package swarm

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/client"
)

// The pipeline of ci/docker's tests, its run steps switched to the swarm
// by one option (docker.Options.Executor): the build happens on the local
// engine, the tests run as services; a failure's status ends with the
// last line of the output, and the saved log has the output.
func TestSwarmPipeline(t *testing.T) {
	needSwarm(t)
	gitfixture.Need(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "src"))
	good := repo.Commit("good", map[string]string{
		"Dockerfile": "FROM " + baseImage + "\nCOPY . /src\nWORKDIR /src\n",
		"test.sh":    "echo running the tests\ntest -f ok || { echo FAIL: ok is missing; exit 1; }\necho PASS\n",
		"ok":         "",
	})
	repo.Git("rm", "-q", "ok")
	bad := repo.Commit("bad", nil)

	owner := "swarm-test:" + runID
	x := newExecutor(t, Options{})
	eng := docker.NewEngine(docker.Options{Owner: owner, Executor: x})
	defer eng.Close()
	defer removeImages(t, map[string]string{docker.CILabel: owner})
	remote := git.NewRemote(repo.Dir, t.TempDir(), git.Options{})
	p := pool.New("docker", 2, nil)
	build := docker.NewBuild(eng, "Dockerfile", docker.BuildOptions{}, docker.StepOptions{Pool: p})
	test := docker.NewRun(eng, "test", docker.RunOptions{Cmd: []string{"sh", "test.sh"}, Labels: testLabels()}, docker.StepOptions{Pool: p})
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		img := term.Bind(remote.Fetch(tg.Commit()), build.Of)
		return ci.Jobs{"test": term.Then(term.Bind(img, test.In), "Tests passed")}
	}}}}
	h := citest.New(t, cfg)
	h.Timeout = 3 * time.Minute
	h.SetBranch("me/p", "master", good)
	h.OpenPR("me/p", 1, bad, "Remove ok")
	h.WaitStatus("me/p", good, "test", ci.Success)
	st := h.WaitStatus("me/p", bad, "test", ci.Failure)
	if want := `Command "sh" "test.sh" exited with status 1: FAIL: ok is missing`; st.Description != want {
		t.Errorf("failure = %q, want %q", st.Description, want)
	}
	logs := runLogs(t, h.Store, "docker-run-test-")
	if len(logs) != 2 {
		t.Fatalf("run logs: %d, want 2", len(logs))
	}
	passed := 0
	for _, l := range logs {
		if strings.Contains(l, "running the tests\nPASS\n") {
			passed++
		}
	}
	if passed != 1 {
		t.Errorf("run logs = %q, want one with the tests' output and PASS", logs)
	}
	// the cache hint: the image's source (repository and Dockerfile)
	// now names the node that ran it
	x.mu.Lock()
	node := x.hints[repo.Dir+" Dockerfile"]
	x.mu.Unlock()
	if node == "" {
		t.Errorf("no cache hint for %q: %v", repo.Dir+" Dockerfile", x.hints)
	}
	h.Stop()
}

// Twenty steps queued through a pool of four: every one runs, never more
// than four services at a time, and none is left.
func TestSwarmPool(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	eng := docker.NewEngine(docker.Options{Owner: "swarm-pool-test:" + runID, Executor: x})
	defer eng.Close()
	const steps, capacity = 20, 4
	p := pool.New("swarm", capacity, nil)
	runs := make([]*docker.RunStep, steps)
	for i := range runs {
		runs[i] = docker.NewRun(eng, fmt.Sprintf("step%d", i),
			docker.RunOptions{Cmd: []string{"sh", "-c", fmt.Sprintf("echo step %d; sleep 1", i)}, Labels: testLabels()},
			docker.StepOptions{Pool: p})
	}
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		jobs := ci.Jobs{}
		for i, r := range runs {
			jobs[fmt.Sprintf("s%02d", i)] = term.Then(r.In(docker.Image{ID: baseImage}), "ok")
		}
		return jobs
	}}}, Pools: []*pool.Pool{p}}

	// the services, counted while the steps run
	stop := make(chan struct{})
	var wg sync.WaitGroup
	most := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			f := client.Filters{}.Add("label", testLabel+"="+runID)
			if list, err := api.ServiceList(context.Background(), client.ServiceListOptions{Filters: f}); err == nil && len(list.Items) > most {
				most = len(list.Items)
			}
		}
	})
	h := citest.New(t, cfg)
	h.Timeout = 5 * time.Minute
	head := strings.Repeat("a", 40)
	h.SetBranch("me/p", "master", head)
	for i := range runs {
		h.WaitStatus("me/p", head, fmt.Sprintf("s%02d", i), ci.Success)
	}
	close(stop)
	wg.Wait()
	h.Stop()
	if most > capacity || most == 0 {
		t.Errorf("at most %d services at a time, want 1 to %d", most, capacity)
	}
	logs := runLogs(t, h.Store, "docker-run-step")
	if len(logs) != steps {
		t.Errorf("%d run logs, want %d", len(logs), steps)
	}
	for i := range steps {
		found := false
		for _, l := range logs {
			found = found || strings.Contains(l, fmt.Sprintf("step %d\n", i))
		}
		if !found {
			t.Errorf("no log has step %d's output", i)
		}
	}
}

// runLogs are the logs of the result branches whose names start with
// prefix.
func runLogs(t *testing.T, s dkstore.Store, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	branches, err := s.Branches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, b := range branches {
		if !strings.HasPrefix(string(b), prefix) {
			continue
		}
		br, _ := s.Branch(b)
		h, err := br.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := s.Commit(ctx, h)
		tree, _ := s.Tree(ctx, c.Tree)
		data, err := tree.ReadFile(ctx, "log")
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		logs = append(logs, string(data))
	}
	return logs
}

// removeImages removes the images that have all the labels.
func removeImages(t *testing.T, labels map[string]string) {
	t.Helper()
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := api.ImageList(context.Background(), client.ImageListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("listing images: %v", err)
		return
	}
	for _, img := range list.Items {
		if err := local.RemoveImage(context.Background(), img.ID); err != nil {
			t.Errorf("removing image %s: %v", img.ID, err)
		}
	}
}

// A step's timeout (StepOptions.Timeout) and a cancel from the CI (as
// from the web UI) end its service; the statuses are the local engine's.
func TestSwarmStepTimeoutAndCancel(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{})
	eng := docker.NewEngine(docker.Options{Owner: "swarm-cancel-test:" + runID, Executor: x})
	defer eng.Close()
	sleepy := func(label string, timeout time.Duration) *docker.RunStep {
		return docker.NewRun(eng, label, docker.RunOptions{Cmd: []string{"sh", "-c", "echo started; sleep 300"}, Labels: testLabels()}, docker.StepOptions{Timeout: timeout})
	}
	timed, cancelled := sleepy("timed", 3*time.Second), sleepy("cancelled", 0)
	cfg := ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		img := docker.Image{ID: baseImage}
		return ci.Jobs{
			"timed":     term.Then(timed.In(img), "done"),
			"cancelled": term.Then(cancelled.In(img), "done"),
		}
	}}}}
	h := citest.New(t, cfg)
	h.Timeout = 2 * time.Minute
	head := strings.Repeat("b", 40)
	h.SetBranch("me/p", "master", head)
	if st := h.WaitStatus("me/p", head, "timed", ci.Failure); st.Description != "Exceeded timeout of 3 seconds" {
		t.Errorf("timeout: %q", st.Description)
	}
	// the other step's service, running: its step label is its branch
	var branch string
	for deadline := time.Now().Add(time.Minute); branch == ""; time.Sleep(100 * time.Millisecond) {
		for _, s := range services(t) {
			if strings.HasPrefix(s.Spec.Labels[docker.StepLabel], "docker-run-cancelled-") {
				branch = s.Spec.Labels[docker.StepLabel]
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the step to cancel has no service")
		}
	}
	if err := h.Engine.Cancel(branch); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if st := h.WaitStatus("me/p", head, "cancelled", ci.Failure); st.Description != "Cancelled at user's request" {
		t.Errorf("cancelled: %q", st.Description)
	}
	for deadline := time.Now().Add(time.Minute); len(services(t)) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("services left after the timeout and the cancel: %v", services(t))
		}
	}
}

// While no node can take a step's task (here: it reserves more CPUs than
// the node has), the step's pending status says why, in the swarm's words.
func TestSwarmPendingReason(t *testing.T) {
	needSwarm(t)
	x := newExecutor(t, Options{Reserve: Resources{CPUs: 512}})
	eng := docker.NewEngine(docker.Options{Owner: "swarm-pending-test:" + runID, Executor: x})
	defer eng.Close()
	big := docker.NewRun(eng, "big", docker.RunOptions{Cmd: []string{"true"}, Labels: testLabels()}, docker.StepOptions{})
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(tg ci.Target) ci.Jobs {
		return ci.Jobs{"big": term.Then(big.In(docker.Image{ID: baseImage}), "done")}
	}}}})
	head := strings.Repeat("c", 40)
	h.SetBranch("me/p", "master", head)
	const want = "Waiting for a swarm node: no suitable node (insufficient resources on 1 node)"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		h.Settle()
		st, _ := h.Status("me/p", head, "big")
		if st.State == ci.Pending && st.Description == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v, want pending %q", st, want)
		}
	}
	h.Stop() // cancels the step: its service goes (needSwarm checks)
}
