package docker

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/dkgo/datakit/bridge"
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
	status := func(job string) bridge.Status {
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
	imgID := strings.TrimSpace(branchFile(t, store, "docker-build-Dockerfile-of-"+head, "value"))
	defer dockerClient.RemoveImage(context.Background(), imgID)
	heads := map[string]dkstore.CommitID{}
	for _, b := range []string{"docker-build-Dockerfile-of-" + head, "docker-run-test-in-" + strings.ReplaceAll(imgID, ":", "-"), "git-pull-of-" + head} {
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
		f := client.Filters{}.Add("label", CILabel+"="+owner[CILabel])
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
	if !strings.Contains(out.String(), "removed containers left by an earlier run of this CI") {
		t.Errorf("the restarted CI did not say it removed the leftover:\n%s", out)
	}
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
