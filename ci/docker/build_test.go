package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/term"
)

// buildImage builds files (a context directory's contents) and removes the
// image when the test ends.
func buildImage(t *testing.T, c *Client, files map[string]string, o BuildOptions) (string, *logBuffer, error) {
	t.Helper()
	dir := t.TempDir()
	files["Dockerfile"] = strings.ReplaceAll(files["Dockerfile"], "BASE", baseImage)
	writeFiles(t, dir, files)
	o.ContextDir = dir
	log := newLogBuffer("")
	id, err := c.Build(context.Background(), o, log)
	if id != "" {
		t.Cleanup(func() {
			if err := c.RemoveImage(context.Background(), id); err != nil {
				t.Errorf("RemoveImage(%s): %v", id, err)
			}
		})
	}
	return id, log, err
}

// A multi-stage Dockerfile with a build argument builds up to its target
// stage (the stage after it would fail), and a test command run in the
// image passes, its output in the log in order.
func TestBuildAndRun(t *testing.T) {
	c := needDocker(t)
	dockerfile := `FROM BASE AS test
ARG GREETING=unset
RUN echo "greeting is $GREETING" && echo "$GREETING" > /greeting
COPY src/ /src/
FROM test AS broken
RUN echo "this stage must not be built"; exit 1
`
	id, log, err := buildImage(t, c, map[string]string{
		"Dockerfile":   dockerfile,
		"src/check.sh": "echo line 1\necho line 2\necho on stderr >&2\necho \"greeting: $(cat /greeting)\"\n",
	}, BuildOptions{
		BuildArgs: map[string]string{"GREETING": "hello"},
		Target:    "test",
		Labels:    map[string]string{"org.dkgo.datakit.test-image": "yes"},
	})
	if err != nil {
		t.Fatalf("Build = %v\n%s", err, log)
	}
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("Build = %q, want an image ID sha256:…", id)
	}
	if out := log.String(); !strings.Contains(out, "greeting is hello") || strings.Contains(out, "must not be built") {
		t.Errorf("build log does not show the build argument's value, or built past the target:\n%s", out)
	}
	if ok, err := c.ImageExists(context.Background(), id); !ok || err != nil {
		t.Errorf("ImageExists(%s) = %v, %v; want true, nil", id, ok, err)
	}

	runLog := newLogBuffer("")
	err = c.Run(context.Background(), RunOptions{
		Image:  id,
		Cmd:    []string{"sh", "/src/check.sh"},
		Labels: testLabels(),
	}, runLog)
	if err != nil {
		t.Fatalf("Run = %v\n%s", err, runLog)
	}
	// stdout and stderr come through separate pipes, so only the order
	// within stdout is certain.
	out := runLog.String()
	var stdout []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "on stderr" {
			stdout = append(stdout, l)
		}
	}
	if got, want := strings.Join(stdout, "|"), "line 1|line 2|greeting: hello"; got != want {
		t.Errorf("Run's stdout = %q, want %q (whole log %q)", got, want, out)
	}
	if !strings.Contains(out, "on stderr\n") {
		t.Errorf("Run's log %q lacks the stderr line", out)
	}
}

// A failing step fails the build with the daemon's message, as a plain
// error, the step's output kept in the log; no container is left.
func TestBuildFailingStep(t *testing.T) {
	c := needDocker(t)
	_, log, err := buildImage(t, c, map[string]string{
		"Dockerfile": "FROM BASE\nRUN echo before the failure; exit 3\n",
	}, BuildOptions{})
	if err == nil {
		t.Fatalf("Build = nil error, want a failure\n%s", log)
	}
	if term.IsInfra(err) || !strings.Contains(err.Error(), "returned a non-zero code: 3") {
		t.Errorf("Build = %v (infra %v), want a plain error with the daemon's message", err, term.IsInfra(err))
	}
	if !strings.Contains(log.String(), "before the failure") {
		t.Errorf("build log lacks the failing step's output:\n%s", log)
	}
}

// A Dockerfile FROM an image that is not here fails at once (there is no
// registry to pull from), as a plain error.
func TestBuildMissingBaseImage(t *testing.T) {
	c := needDocker(t)
	start := time.Now()
	_, log, err := buildImage(t, c, map[string]string{
		"Dockerfile": "FROM dkgo-datakit-no-such-image:1\nRUN true\n",
	}, BuildOptions{Timeout: 30 * time.Second})
	if err == nil || term.IsInfra(err) {
		t.Fatalf("Build = %v (infra %v), want a plain error\n%s", err, term.IsInfra(err), log)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Build took %v to fail", d)
	}
}

// .dockerignore leaves files out of the context, except what a "!"
// pattern brings back; the Dockerfile is always sent (the daemon needs it).
func TestBuildDockerignore(t *testing.T) {
	c := needDocker(t)
	id, log, err := buildImage(t, c, map[string]string{
		"Dockerfile":      "FROM BASE\nCOPY . /ctx/\n",
		".dockerignore":   "secret.txt\nlogs/\n*.tmp\n!keep.tmp\nDockerfile\n",
		"secret.txt":      "s",
		"logs/a.log":      "a",
		"x.tmp":           "x",
		"keep.tmp":        "k",
		"src/main.go":     "package main",
		"src/deep/a.txt":  "a",
		"src/deep/b.tmp":  "b",
		"src/deep/keep.c": "c",
	}, BuildOptions{})
	if err != nil {
		t.Fatalf("Build = %v\n%s", err, log)
	}
	runLog := newLogBuffer("")
	if err := c.Run(context.Background(), RunOptions{Image: id, Cmd: []string{"sh", "-c", "cd /ctx && find . -type f | sort"}, Labels: testLabels()}, runLog); err != nil {
		t.Fatalf("Run = %v\n%s", err, runLog)
	}
	// "*.tmp" matches at the top only, as in docker build; the daemon
	// itself drops an ignored Dockerfile once it has read it.
	want := "./.dockerignore\n./keep.tmp\n./src/deep/a.txt\n./src/deep/b.tmp\n./src/deep/keep.c\n./src/main.go\n"
	if got := runLog.String(); got != want {
		t.Errorf("files in the image:\n%s\nwant:\n%s", got, want)
	}
}

// The Dockerfile path must name a regular file inside the context, with no
// "..", no symbolic link and no absolute path (checked before any request).
func TestBuildDockerfilePath(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "sub/Dockerfile.ci": "FROM scratch\n"})
	os.Symlink("sub", filepath.Join(dir, "link"))
	os.Symlink("Dockerfile", filepath.Join(dir, "Dockerfile.link"))
	for _, tc := range []struct{ path, want string }{
		{"Dockerfile", ""},
		{"sub/Dockerfile.ci", ""},
		{"../Dockerfile", "'..' in Dockerfile path"},
		{"sub/../Dockerfile", "'..' in Dockerfile path"},
		{"/etc/passwd", "Empty path component"},
		{"missing", "Dockerfile does not exist"},
		{"link/Dockerfile.ci", "Not a regular file or directory"},
		{"Dockerfile.link", "Not a regular file or directory"},
		{"sub", "Not a regular file or directory"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got := checkDockerfile(dir, tc.path)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("checkDockerfile(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
	// Build refuses before talking to any daemon.
	c := &Client{host: "unix:///nonexistent"}
	if _, err := c.Build(context.Background(), BuildOptions{ContextDir: dir, Dockerfile: "../x"}, nil); err == nil || term.IsInfra(err) {
		t.Errorf("Build with Dockerfile ../x = %v, want a plain error", err)
	}
	if _, err := c.Build(context.Background(), BuildOptions{ContextDir: filepath.Join(dir, "nope")}, nil); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Build of a missing context = %v, want an error", err)
	}
}
