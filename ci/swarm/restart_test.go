package swarm

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

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/gitfixture"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// TestSwarmRestartAdopts kills examples/swarmpipeline (SIGKILL) while its
// test runs as a service: the service outlives it, and the CI started
// again adopts it rather than run the test again: the same service ends,
// the test passes, its log has the whole output once, and the CI says so
// in its log format.
func TestSwarmRestartAdopts(t *testing.T) {
	needSwarm(t)
	gitfixture.Need(t)
	bin := filepath.Join(t.TempDir(), "swarmpipeline")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/swarmpipeline").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := gitfixture.NewRepo(t, filepath.Join(t.TempDir(), "app"))
	head := repo.Commit("slow test", map[string]string{
		"Dockerfile": "FROM " + baseImage + "\nCOPY . /src\nWORKDIR /src\n",
		"test.sh":    "echo started; sleep 8; echo finished\n",
	})
	state, work := t.TempDir(), t.TempDir()
	owner := "swarmpipeline:" + work
	defer removeImages(t, map[string]string{docker.CILabel: owner})
	ours := func() []swarm.Service {
		f := client.Filters{}.Add("label", docker.CILabel+"="+owner)
		list, err := api.ServiceList(context.Background(), client.ServiceListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	defer func() {
		for _, s := range ours() {
			t.Errorf("service %s is left", s.Spec.Name)
			api.ServiceRemove(context.Background(), s.ID, client.ServiceRemoveOptions{})
		}
	}()
	args := []string{"--state-dir", state, "--listen", "off", "--local-repo", "me/app:" + repo.Dir,
		"--src", repo.Dir, "--work-dir", work, "--test", "sh test.sh"}
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	waitFor := func(cmd *exec.Cmd, out *bytes.Buffer, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("timed out waiting for %s; the CI said:\n%s", what, out)
			}
		}
	}
	running := func(s swarm.Service) bool {
		f := client.Filters{}.Add("service", s.ID)
		list, err := api.TaskList(context.Background(), client.TaskListOptions{Filters: f})
		return err == nil && len(list.Items) == 1 && list.Items[0].Status.State == swarm.TaskStateRunning
	}

	cmd, out := start()
	waitFor(cmd, out, "the test's service to run", func() bool { s := ours(); return len(s) == 1 && running(s[0]) })
	first := ours()[0]
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if s := ours(); len(s) != 1 || s[0].ID != first.ID {
		t.Fatalf("after the kill: services %v, want the test's %s still there", s, first.Spec.Name)
	}

	store, err := dkstore.Open(state, dkstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cmd, out = start()
	waitFor(cmd, out, "the test to pass", func() bool { return appStatus(store, head, "test").State == "success" })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	adopted := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d\.\d\d INFO +swarm: adopted a service left by an earlier run of this CI service=` + first.Spec.Name + ` id=` + first.ID)
	if !adopted.MatchString(out.String()) {
		t.Errorf("the restarted CI did not say, in its log format, that it adopted %s:\n%s", first.Spec.Name, out)
	}
	logs := runLogs(t, store, "docker-run-test-")
	if len(logs) != 1 {
		t.Fatalf("%d run logs, want 1", len(logs))
	}
	if l := logs[0]; strings.Count(l, "started\n") != 1 || !strings.Contains(l, "finished\n") || !strings.Contains(l, "Adopted service "+first.Spec.Name) {
		t.Errorf("the test's log = %q, want the adoption and the whole output once", l)
	}
}

// A service that an earlier run of the CI left, and that no step adopts,
// is removed after AdoptWithin.
func TestSwarmLeftoverRemoved(t *testing.T) {
	needSwarm(t)
	owner := "swarm-leftover-test:" + runID
	x := newExecutor(t, Options{AdoptWithin: 2 * time.Second})
	labels := testLabels()
	labels[docker.CILabel] = owner
	labels[docker.StepLabel] = "a-step-that-no-longer-exists"
	// a service as a killed CI leaves it
	if _, err := x.connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	spec := x.spec(serviceName(owner, labels[docker.StepLabel]), docker.RunOptions{Image: baseImage, Cmd: []string{"sleep", "300"}, Labels: labels}, nil, "bridge")
	if _, err := api.ServiceCreate(context.Background(), client.ServiceCreateOptions{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	// another step of the same CI
	labels[docker.StepLabel] = "another-step"
	if err := x.Run(context.Background(), docker.RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: labels}, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); len(services(t)) > 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the leftover was not removed: %v", services(t))
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
