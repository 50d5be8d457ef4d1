package swarm

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// worker is a second Docker daemon on this machine, joined to the tests'
// swarm as a worker: a real two-node swarm, with its own image store.
type worker struct {
	dir    string // its data, run and socket directories: all its own
	host   string // its Engine API address
	nodeID string
	cmd    *exec.Cmd
	api    *client.Client
	dead   bool
}

// secondDaemonEnv must be 1 for the tests that start a second daemon.
const secondDaemonEnv = "DATAKIT_TEST_SECOND_DOCKERD"

// startWorker starts the second daemon (root and dockerd needed; the
// swarm must be the tests' own) and joins it to the swarm.
//
// Only on a machine of its own (secondDaemonEnv=1): the daemon shares the
// host's network namespace, and dockerd --bridge=none deletes the host's
// docker0, which breaks every other container on the bridge network while
// the test runs; afterwards the test puts docker0 back as the host's
// daemon had it, and deletes the bridges the second daemon left.
func startWorker(t *testing.T) *worker {
	t.Helper()
	switch {
	case os.Getenv(secondDaemonEnv) != "1":
		t.Skip("SKIP: a second Docker daemon disturbs the host's (set " + secondDaemonEnv + "=1 on a machine of its own)")
	case !ownSwarm:
		t.Skip("SKIP: the swarm was there before the tests: no test daemon joins it")
	case os.Geteuid() != 0:
		t.Skip("SKIP: a second Docker daemon needs root")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("SKIP: no dockerd to start a second node with")
	}
	dir, err := os.MkdirTemp("", "dkgo-swarm-node2-")
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{dir: dir, host: "unix://" + dir + "/docker.sock"}
	bridgesBefore := bridges()
	t.Cleanup(func() {
		w.remove(t)
		restoreNetworks(t, bridgesBefore)
	})
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// No bridge, no iptables rules: nothing of the host's networking is
	// touched. vfs: works on any file system.
	w.cmd = exec.Command(dockerd, "--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "--host", w.host,
		"--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", "vfs")
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if w.api, err = client.New(client.WithHost(w.host)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if _, err = w.api.Ping(ctx, client.PingOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second dockerd did not answer: %v\n%s", err, w.log())
		}
	}
	sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if _, err := w.api.SwarmJoin(ctx, client.SwarmJoinOptions{ListenAddr: addr, AdvertiseAddr: addr, DataPathAddr: "127.0.0.1",
		RemoteAddrs: []string{"127.0.0.1:2377"}, JoinToken: sw.Swarm.JoinTokens.Worker}); err != nil {
		t.Fatalf("joining the swarm: %v\n%s", err, w.log())
	}
	info, err := w.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.nodeID = info.Info.Swarm.NodeID
	ready := func() bool {
		n, err := api.NodeInspect(ctx, w.nodeID, client.NodeInspectOptions{})
		return err == nil && n.Node.Status.State == swarm.NodeStateReady
	}
	for deadline := time.Now().Add(time.Minute); !ready(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node %s is not ready", w.nodeID)
		}
	}
	return w
}

// kill kills the daemon (SIGKILL), as a machine that goes away.
func (w *worker) kill() {
	if w.dead {
		return
	}
	w.dead = true
	w.cmd.Process.Kill()
	w.cmd.Wait()
}

// remove takes the node out of the swarm and stops everything it ran:
// the daemon, the containers' shims and processes (found by their
// command line, which names the node's directory), its mounts.
func (w *worker) remove(t *testing.T) {
	ctx := context.Background()
	if !w.dead && w.api != nil {
		w.api.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: true})
		w.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { w.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			w.cmd.Process.Kill()
			<-done
		}
		w.dead = true
	}
	if w.api != nil {
		w.api.Close()
	}
	if w.nodeID != "" {
		if _, err := api.NodeRemove(ctx, w.nodeID, client.NodeRemoveOptions{Force: true}); err != nil {
			t.Errorf("removing node %s: %v", w.nodeID, err)
		}
	}
	for _, pid := range processesNaming(w.dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); len(processesNaming(w.dir)) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	mounts, err := mountsUnder(w.dir)
	if err != nil {
		t.Error(err)
	}
	for _, m := range mounts { // deepest first
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(w.dir); err != nil {
		t.Errorf("removing the second node's directory: %v", err)
	}
}

func (w *worker) log() string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "dockerd.log"))
	return string(b)
}

// processesNaming lists the processes whose command line contains dir.
func processesNaming(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			found = append(found, fields[4])
		}
	}
	slices.SortFunc(found, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return slices.Compact(found), sc.Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// A real two-node swarm: this daemon (the manager) and a second daemon
// with an image store of its own.
//
//   - Images reach the second node without a registry: without
//     Options.Nodes the node rejects the run (no such image); with it,
//     the executor loads the image there first, once.
//   - A node that dies (its daemon killed) while it runs a step: the swarm
//     marks it down, and the executor runs the step again on the other
//     node; the log and the pending reason say so.
func TestTwoNodes(t *testing.T) {
	needSwarm(t)
	w := startWorker(t)
	ctx := context.Background()
	onWorker := []string{"node.id==" + w.nodeID}

	t.Run("ImagesLoaded", func(t *testing.T) {
		bare := newExecutor(t, Options{Constraints: onWorker})
		err := bare.Run(ctx, docker.RunOptions{Image: baseImage, Cmd: []string{"echo", "on node 2"}, Labels: testLabels()}, nil)
		if err == nil || !strings.Contains(err.Error(), "No such image") {
			t.Fatalf("without Nodes: Run = %v, want the node's No such image", err)
		}
		x := newExecutor(t, Options{Constraints: onWorker, Nodes: map[string]string{w.nodeID: w.host}})
		for i, wantLoad := range []bool{true, false} {
			log := newLogBuffer("")
			err := x.Run(ctx, docker.RunOptions{Image: baseImage, Cmd: []string{"echo", "on node 2"}, Labels: testLabels()}, log)
			if err != nil {
				t.Fatalf("run %d: %v\n%s", i+1, err, log)
			}
			if loaded := strings.Contains(log.String(), "Loaded image sha256:"); loaded != wantLoad || !strings.HasSuffix(log.String(), "on node 2\n") {
				t.Errorf("run %d: log = %q, want a load: %v", i+1, log, wantLoad)
			}
		}
		img, err := local.ImageExists(ctx, baseImage)
		if err != nil || !img {
			t.Fatal("the base image is gone from the manager")
		}
		id, err := api.ImageInspect(ctx, baseImage)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.api.ImageInspect(ctx, id.ID); err != nil {
			t.Errorf("the second node lacks the image: %v", err)
		}
	})

	t.Run("NodeDies", func(t *testing.T) {
		x := newExecutor(t, Options{Nodes: map[string]string{w.nodeID: w.host}})
		const hint = "two nodes"
		x.hints[hint] = w.nodeID // the first attempt goes to the second node
		labels := testLabels()
		labels[HintLabel] = hint
		log := newLogBuffer("started")
		errc := make(chan error, 1)
		go func() {
			errc <- x.Run(ctx, docker.RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 20; echo finished"}, Labels: labels}, log)
		}()
		waitSeen(t, log, errc)
		w.kill()
		err := waitErr(t, errc, 3*time.Minute)
		if err != nil {
			t.Fatalf("Run = %v\n%s", err, log)
		}
		out := log.String()
		if strings.Count(out, "started\n") != 2 || !strings.HasSuffix(out, "finished\n") || !strings.Contains(out, "went away: running the step again on another node (attempt 2 of 3)") {
			t.Errorf("log = %q, want the output twice, the move said between", out)
		}
		if !slices.ContainsFunc(log.Reasons(), func(r string) bool { return strings.Contains(r, "went away") }) {
			t.Errorf("reasons = %q", log.Reasons())
		}
	})
}

// bridges lists the host's bridge interfaces.
func bridges() map[string]bool {
	out, _ := exec.Command("ip", "-o", "link", "show", "type", "bridge").Output()
	found := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.SplitN(line, ": ", 3); len(f) == 3 {
			found[strings.SplitN(f[1], "@", 2)[0]] = true
		}
	}
	return found
}

// restoreNetworks deletes the bridges that appeared during the test (the
// second daemon's, for the swarm's networks: br- and a swarm ID) and puts
// back docker0, as the host's daemon configures it, if it was there and is
// gone.
func restoreNetworks(t *testing.T, before map[string]bool) {
	for b := range bridges() {
		if !before[b] && strings.HasPrefix(b, "br-") {
			if out, err := exec.Command("ip", "link", "delete", b, "type", "bridge").CombinedOutput(); err != nil {
				t.Errorf("deleting bridge %s: %v %s", b, err, out)
			}
		}
	}
	if !before["docker0"] || bridges()["docker0"] {
		return
	}
	nw, err := api.NetworkInspect(context.Background(), "bridge", client.NetworkInspectOptions{})
	if err != nil || len(nw.Network.IPAM.Config) == 0 {
		t.Errorf("docker0 is gone, and the bridge network cannot be inspected to make it again: %v", err)
		return
	}
	gw, subnet := nw.Network.IPAM.Config[0].Gateway, nw.Network.IPAM.Config[0].Subnet
	if !gw.IsValid() { // the daemon's default: the subnet's first address
		gw = subnet.Masked().Addr().Next()
	}
	ones := subnet.Bits()
	cmds := [][]string{{"link", "add", "name", "docker0", "type", "bridge"}}
	if mtu := nw.Network.Options["com.docker.network.driver.mtu"]; mtu != "" {
		cmds = append(cmds, []string{"link", "set", "docker0", "mtu", mtu})
	}
	cmds = append(cmds, []string{"addr", "add", gw.String() + "/" + strconv.Itoa(ones), "dev", "docker0"}, []string{"link", "set", "docker0", "up"})
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Errorf("putting docker0 back: ip %s: %v %s", strings.Join(c, " "), err, out)
			return
		}
	}
	t.Logf("put docker0 back (%s/%d), which the second daemon deleted", gw, ones)
}
