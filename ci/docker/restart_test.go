package docker

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
)

// TestDockerRestartMidBuild runs examples/dockerpipeline as a process,
// kills it (SIGKILL) in the middle of a Docker build, and starts it again:
// the status is not lost (the unfinished build is done again and
// succeeds), and a further restart redoes nothing that finished.
func TestDockerRestartMidBuild(t *testing.T) {
	needDocker(t)
	gitfixture.Need(t)
	bin := buildPipeline(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "app"))
	head := repo.Commit("slow to build", map[string]string{
		"Dockerfile": "FROM " + baseImage + "\nRUN sleep 2\nCOPY . /src\nWORKDIR /src\n",
		"test.sh":    "echo PASS\n",
	})
	state, work := t.TempDir(), t.TempDir()
	args := []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/app:" + repo.Dir,
		"--src", repo.Dir, "--work-dir", work, "--test", "sh test.sh"}
	start := func() (*exec.Cmd, *bytes.Buffer) { return startProcess(t, bin, args) }
	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	status := func(job string) bridge.Status { return appStatus(store, head, job) }
	var (
		cmd *exec.Cmd
		out *bytes.Buffer // the running CI's output
	)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait() // before reading its output
				t.Fatalf("timed out waiting for %s; the CI said:\n%s", what, out)
			}
		}
	}

	cmd, out = start()
	waitFor("the build to start", func() bool { return strings.HasPrefix(status("build").Description, "Build Dockerfile of") })
	time.Sleep(500 * time.Millisecond) // inside `RUN sleep 2`
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if st := status("build"); st.State != "pending" {
		t.Errorf("after the kill: build is %s %q, want pending", st.State, st.Description)
	}

	cmd, out = start()
	waitFor("the tests to pass after the restart", func() bool { return status("test").State == "success" })
	if st := status("all"); st.State != "success" {
		waitFor("all to succeed", func() bool { return status("all").State == "success" })
	}
	buildBranch := findBranch(t, store, `docker-build-Dockerfile-[0-9a-f]{12}-of-`+head)
	imgID := strings.TrimSpace(branchFile(t, store, buildBranch, "value"))
	defer dockerClient.RemoveImage(context.Background(), imgID)
	heads := map[string]dkstore.CommitID{}
	for _, b := range []string{buildBranch, findBranch(t, store, `docker-run-test-[0-9a-f]{12}-in-`+ci.EscapeName(imgID)), "git-pull-of-" + head} {
		heads[b] = branchHead(t, store, b)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// a third start: everything is cached
	cmd, out = start()
	time.Sleep(3 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	for b, want := range heads {
		if got := branchHead(t, store, b); got != want {
			t.Errorf("%s moved on the third start: a finished step was done again\n%s", b, out)
		}
	}
	if strings.Contains(out.String(), "pending") {
		t.Errorf("the third start reported pending work:\n%s", out)
	}
}

// TestDockerRestartMidRun kills examples/dockerpipeline (SIGKILL) while
// its test container runs: the container outlives it, and the restarted
// CI removes it before running the test again.
func TestDockerRestartMidRun(t *testing.T) {
	c := needDocker(t)
	gitfixture.Need(t)
	bin := buildPipeline(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "app"))
	repo.Commit("slow test", map[string]string{
		"Dockerfile": "FROM " + baseImage + "\nCOPY . /src\nWORKDIR /src\n",
		"test.sh":    "echo started; sleep 60\n",
	})
	state, work := t.TempDir(), t.TempDir()
	args := []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/app:" + repo.Dir,
		"--src", repo.Dir, "--work-dir", work, "--test", "sh test.sh"}
	owner := map[string]string{CILabel: "dockerpipeline:" + work}
	containers := func() []string {
		// Run's containers (OwnerLabel), not a build's: those carry the
		// image's labels, the owner among them
		f := client.Filters{}.Add("label", CILabel+"="+owner[CILabel]).Add("label", OwnerLabel+"=1")
		list, err := c.api.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ctr := range list.Items {
			ids = append(ids, ctr.ID)
		}
		return ids
	}
	defer c.RemoveContainers(context.Background(), owner)
	defer removeImages(t, c, owner) // the image the CI built carries its owner
	start := func() (*exec.Cmd, *bytes.Buffer) { return startProcess(t, bin, args) }
	waitFor := func(cmd *exec.Cmd, out *bytes.Buffer, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("timed out waiting for %s; the CI said:\n%s", what, out)
			}
		}
	}

	cmd, out := start()
	waitFor(cmd, out, "the test's container", func() bool { return len(containers()) == 1 })
	first := containers()[0]
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ids := containers(); len(ids) != 1 || ids[0] != first {
		t.Fatalf("after the kill: containers %v, want the test's %.12s still there", ids, first)
	}

	cmd, out = start()
	waitFor(cmd, out, "the leftover to go and the test to run again", func() bool {
		ids := containers()
		return len(ids) == 1 && ids[0] != first
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if ids := containers(); len(ids) != 0 {
		t.Errorf("a CI stopped with SIGTERM left containers %v", ids)
	}
	// In the CI's one log format ("2006-01-02 15:04.05 INFO msg k=v"), as
	// every other line it prints.
	cleanup := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d\.\d\d INFO +docker: removed containers left by an earlier run of this CI count=1 owner=`)
	if !cleanup.MatchString(out.String()) {
		t.Errorf("the restarted CI did not say, in its log format, that it removed the leftover:\n%s", out)
	}
}

// TestDockerChangedCommandRunsAgain runs examples/dockerpipeline, then
// starts it again with another test command (--test): the old result does
// not answer for the new command, which runs and fails, its status ending
// with its output's last line; the image is not built again. Started a
// third time with the first command, it finds the first result without
// running anything; a fourth time, with a new work directory, it writes
// no status at all.
func TestDockerChangedCommandRunsAgain(t *testing.T) {
	needDocker(t)
	gitfixture.Need(t)
	bin := buildPipeline(t)
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "app"))
	head := repo.Commit("app", map[string]string{
		"Dockerfile": "FROM " + baseImage + "\nCOPY . /src\nWORKDIR /src\n",
		"test.sh":    "echo PASS\n",
	})
	state, work := t.TempDir(), t.TempDir()
	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const check = `echo checking the license headers; for f in extra.go; do grep -q Copyright "$f" 2>/dev/null || { echo "no license header in ./$f"; exit 1; }; done`
	var buildHead, firstRun dkstore.CommitID
	for i, c := range []struct {
		test  string
		state string
		descr string
	}{
		{"sh test.sh", "success", "Tests passed"},
		// the command abbreviated, the reason whole
		{check, "failure", `Command "sh" "-c" "echo checking the license headers; for f in extra.go; do grep -q C… exited with status 1: no license header in ./extra.go`},
		{"sh test.sh", "success", "Tests passed"},
	} {
		cmd, out := startProcess(t, bin, []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/app:" + repo.Dir,
			"--src", repo.Dir, "--work-dir", work, "--test", c.test})
		for deadline := time.Now().Add(90 * time.Second); appStatus(store, head, "test").State != c.state; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("start %d: test is %+v, want %s; the CI said:\n%s", i+1, appStatus(store, head, "test"), c.state, out)
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if st := appStatus(store, head, "test"); st.Description != c.descr {
			t.Errorf("start %d: test is %q, want %q", i+1, st.Description, c.descr)
		}
		build := findBranch(t, store, `docker-build-Dockerfile-[0-9a-f]{12}-of-`+head)
		img := strings.TrimSpace(branchFile(t, store, build, "value"))
		runs := findBranches(t, store, `docker-run-test-[0-9a-f]{12}-in-`+ci.EscapeName(img))
		switch i {
		case 0:
			defer dockerClient.RemoveImage(context.Background(), img)
			buildHead, firstRun = branchHead(t, store, build), branchHead(t, store, runs[0])
		case 1:
			if got := branchHead(t, store, build); got != buildHead {
				t.Error("the image was built again for another test command")
			}
			if len(runs) != 2 {
				t.Errorf("run result branches %v, want 2: one per command", runs)
			}
		case 2:
			if len(runs) != 2 {
				t.Errorf("run result branches %v, want the same 2", runs)
			}
			for _, r := range runs {
				if h := branchHead(t, store, r); strings.Contains(branchFile(t, store, r, "log"), "PASS") && h != firstRun {
					t.Error("the first command ran again: its result was not found")
				}
			}
		}
	}

	// A fourth start, with another --work-dir (an empty mirror), changes
	// nothing visible: not one status is written.
	metadata := branchHead(t, store, string(bridge.DefaultBranch))
	cmd, out := startProcess(t, bin, []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/app:" + repo.Dir,
		"--src", repo.Dir, "--work-dir", t.TempDir(), "--test", "sh test.sh"})
	time.Sleep(3 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if got := branchHead(t, store, string(bridge.DefaultBranch)); got != metadata {
		t.Errorf("a restart with a new work directory wrote statuses:\n%s", out)
	}
	if strings.Contains(out.String(), "pending") {
		t.Errorf("a restart with a new work directory reported pending work:\n%s", out)
	}
}

// removeImages removes the images that have all the labels.
func removeImages(t *testing.T, c *Client, labels map[string]string) {
	t.Helper()
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := c.api.ImageList(context.Background(), client.ImageListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("listing images: %v", err)
		return
	}
	for _, img := range list.Items {
		if err := c.RemoveImage(context.Background(), img.ID); err != nil {
			t.Errorf("removing image %s: %v", img.ID, err)
		}
	}
}

// appStatus is the status of job on commit head of me/app in store.
func appStatus(store dkstore.Store, head, job string) bridge.Status {
	ctx := context.Background()
	br, _ := store.Branch(bridge.DefaultBranch)
	h, _ := br.Head(ctx)
	if h.IsZero() {
		return bridge.Status{}
	}
	c, _ := store.Commit(ctx, h)
	tree, _ := store.Tree(ctx, c.Tree)
	st, _, _ := bridge.ReadStatus(ctx, tree, bridge.Repo{User: "me", Name: "app"}, head, "ci/datakit/"+job)
	return st
}

// findBranches lists the branches of store whose whole name matches the
// regular expression re.
func findBranches(t *testing.T, store dkstore.Store, re string) []string {
	t.Helper()
	branches, err := store.Branches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("^(?:" + re + ")$")
	var found []string
	for _, b := range branches {
		if m.MatchString(string(b)) {
			found = append(found, string(b))
		}
	}
	return found
}

// findBranch is the one branch of store whose name matches re.
func findBranch(t *testing.T, store dkstore.Store, re string) string {
	t.Helper()
	found := findBranches(t, store, re)
	if len(found) != 1 {
		t.Fatalf("branches matching %s: %v, want one", re, found)
	}
	return found[0]
}

// buildPipeline builds examples/dockerpipeline and returns its path.
func buildPipeline(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dockerpipeline")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/dockerpipeline").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess starts bin with args, its output going to the buffer.
func startProcess(t *testing.T, bin string, args []string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}
