// Package deploy holds the tests of the Quick Start: the images of
// deploy/Dockerfile and docker-compose.yml, run for real.
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/citest/gitrepo"
	"github.com/dkgo/datakit/selfci"
)

// need fails the test (CI=true) or skips it when a tool is missing.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is needed (CI=true): %v", what, err)
	}
	t.Skipf("SKIP: no %s: %v", what, err)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// compose runs docker-compose on deploy/docker-compose.yml as project.
type compose struct {
	t       *testing.T
	project string
	env     []string
}

func (c *compose) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-f", "docker-compose.yml", "-p", c.project}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	return cmd
}

// run runs docker-compose and returns its output; a failure fails the test.
func (c *compose) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := c.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitFor runs docker-compose until its output matches want.
func (c *compose) waitFor(d time.Duration, want *regexp.Regexp, args ...string) string {
	c.t.Helper()
	var out []byte
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, _ = c.cmd(ctx, args...).CombinedOutput()
		cancel()
		if want.Match(out) {
			return string(out)
		}
	}
	logs, _ := c.cmd(context.Background(), "logs", "--no-color", "--tail", "40").CombinedOutput()
	c.t.Fatalf("docker-compose %s: no %q within %v; last output:\n%s\nlogs:\n%s", strings.Join(args, " "), want, d, out, logs)
	return ""
}

// healthy waits until service's container is healthy.
func (c *compose) healthy(service string, d time.Duration) {
	c.t.Helper()
	id := strings.TrimSpace(c.run("ps", "-q", service))
	for deadline := time.Now().Add(d); ; time.Sleep(500 * time.Millisecond) {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", id).Output()
		if strings.TrimSpace(string(out)) == "healthy" {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := c.cmd(context.Background(), "logs", "--no-color", "--tail", "40", service).CombinedOutput()
			c.t.Fatalf("%s is %s after %v:\n%s", service, out, d, logs)
		}
	}
}

// TestCompose brings the Quick Start up (server, local bridge, self-CI) on
// a small repository, sees the CI write statuses to the server, reads one
// through the client container's /db, restarts the CI and sees it test a
// new commit, then tears everything down: no container, network, volume or
// image of the test is left. The images are built as `make images` builds
// them, under names of the test's own; Docker's build cache finds the layers
// of an unchanged image by their content, so an image built before is
// reused, not rebuilt.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds images and runs containers; not in -short mode")
	}
	_, err := exec.LookPath("docker-compose")
	need(t, "docker-compose", err)
	need(t, "Docker", exec.Command("docker", "info").Run())
	_, fuseErr := os.Stat("/dev/fuse")
	need(t, "/dev/fuse (for the client container)", fuseErr)
	start := time.Now()

	b := make([]byte, 4)
	rand.Read(b)
	run := "datakit-test-" + hex.EncodeToString(b)
	images := selfci.ImagesOptions{Root: "..", Prefix: run}
	t.Cleanup(func() {
		for _, target := range selfci.ImageTargets {
			exec.Command("docker", "rmi", images.ImageName(target)).Run() // only the test's names: a shared image stays
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var buildLog strings.Builder
	if _, err := selfci.BuildImages(ctx, images, &buildLog); err != nil {
		t.Fatalf("building the images: %v\n%s", err, buildLog.String())
	}
	t.Logf("images built in %v", time.Since(start).Round(time.Millisecond))

	// A small repository to test: its gofmt job is quick.
	repo := gitrepo.New(t)
	first := repo.Commit("First", map[string]string{
		"go.mod":  "module example.org/small\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	})
	c := &compose{t: t, project: run, env: []string{
		"DATAKIT_IMAGES=" + run,
		"DATAKIT_REPO=" + repo.Dir,
		"DATAKIT_PROJECT=me/small",
		"DATAKIT_9P_PORT=" + strconv.Itoa(freePort(t)),
		"DATAKIT_WEB_PORT=" + strconv.Itoa(freePort(t)),
	}}
	t.Cleanup(func() {
		out, err := c.cmd(context.Background(), "down", "-v", "--remove-orphans", "-t", "5").CombinedOutput()
		if err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
		checkNothingLeft(t, run)
	})
	c.run("up", "-d")
	c.healthy("server", time.Minute)
	c.healthy("ci", time.Minute)
	up := time.Now()

	status := []string{"exec", "-T", "ci", "/selfci", "status", "--store", "tcp://server:5640", "--go-in", "host", "--repo", "me/small"}
	row := func(commit, job, state string) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`(?m)^me/small/heads/master +%s +%s +%s `, commit[:7], job, state))
	}
	out := c.waitFor(2*time.Minute, row(first, "gofmt", "success"), status...)
	if !strings.Contains(out, "image") {
		t.Errorf("the status list lacks the image job:\n%s", out)
	}
	c.waitFor(time.Minute, regexp.MustCompile(`(?m) image +error +Docker is not available`), status...)
	t.Logf("statuses %v after up", time.Since(up).Round(time.Millisecond))

	// The store from a shell, in the client container: /db is the store.
	state := c.run("run", "--rm", "-T", "client", "cat", "branch/github-metadata/ro/me/small/commit/"+first+"/status/ci/datakit/gofmt/state")
	if strings.TrimSpace(lastLine(state)) != "success" {
		t.Errorf("the client read the gofmt status as %q", state)
	}

	// Restart the CI: it comes back, and tests a new commit.
	c.run("restart", "-t", "5", "ci")
	c.healthy("ci", time.Minute)
	second := repo.Commit("Second", map[string]string{"main.go": "package main\n\nfunc main() { println() }\n"})
	c.waitFor(2*time.Minute, row(second, "gofmt", "success"), status...)
	t.Logf("TestCompose: %v in all", time.Since(start).Round(time.Millisecond))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// checkNothingLeft fails the test if a container, network or volume of
// the project is left.
func checkNothingLeft(t *testing.T, project string) {
	t.Helper()
	label := "label=com.docker.compose.project=" + project
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
		{"volume", "ls", "-q", "--filter", label},
	} {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Errorf("docker %v: %v", args, err)
			continue
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("docker %s: left behind: %s", strings.Join(args[:2], " "), s)
		}
	}
}
