package selfci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/process"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// The steps of the self-CI are cached steps (package ci/cache) of its own,
// written as a user would write theirs: a Builder names a result branch
// from everything that decides the result, and Generate does the work,
// writing to the step's log.

// dockerConn is the self-CI's connection to Docker, made at first use. Its
// first connection removes the containers a killed run of this CI left.
type dockerConn struct {
	opts  docker.Options
	owner string
	mu    sync.Mutex
	c     *docker.Client
}

func newDockerConn(o docker.Options, owner string) *dockerConn {
	return &dockerConn{opts: o, owner: owner}
}

// client connects, or says clearly that Docker is not available (an
// infrastructure error: the jobs that need Docker report status error).
func (d *dockerConn) client(ctx context.Context) (*docker.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		return d.c, nil
	}
	c, err := docker.New(ctx, d.opts)
	if err != nil {
		return nil, term.Infra(fmt.Errorf("Docker is not available: %w", err))
	}
	if n, err := c.RemoveContainers(ctx, d.labels()); err != nil {
		c.Close()
		return nil, term.Infra(err)
	} else if n > 0 {
		d.opts.Logger.Info("selfci: removed containers left by an earlier run", "count", n)
	}
	d.c = c
	return c, nil
}

func (d *dockerConn) ping(ctx context.Context) error {
	_, err := d.client(ctx)
	return err
}

// labels mark this CI's containers and images.
func (d *dockerConn) labels() map[string]string { return map[string]string{docker.CILabel: d.owner} }

func (d *dockerConn) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		return nil
	}
	err := d.c.Close()
	d.c = nil
	return err
}

// goImageBuilder builds the Go image from the host's toolchain. Its key is
// the image's tag, which names its content: the image is built once per
// toolchain, and found again after a restart (or when another CI of the
// machine built it).
type goImageBuilder struct{ p *Pipeline }

func (b goImageBuilder) Name() string { return "selfci-go-image" }

func (b goImageBuilder) Branch(tag string) string {
	_, digest, _ := strings.Cut(tag, ":")
	return string(ci.JoinBranch("selfci", "go", "image", digest))
}

func (b goImageBuilder) Title(tag string) string { return "Build the Go image " + tag }

func (b goImageBuilder) Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, tag string) (docker.Image, error) {
	c, err := b.p.docker.client(ctx)
	if err != nil {
		return docker.Image{}, err
	}
	tc := b.p.toolchain
	ok, err := c.ImageExists(ctx, tag)
	if err != nil {
		return docker.Image{}, err
	}
	if ok {
		log.Printf("Image %s is there already\n", tag)
	} else {
		log.Printf("Copying %d files (%d MB) of the host: %s, its C compiler, git, busybox\n", tc.Set.Len(), tc.Set.Size()>>20, tc.GoVersion)
		if err := buildGoImage(ctx, c, tc, b.p.opts.WorkDir, log); err != nil {
			// Not the code under test's fault: an error, tried again later.
			return docker.Image{}, term.Infra(fmt.Errorf("building the Go image: %w", err))
		}
	}
	if err := tx.WriteFile(ctx, "value", []byte(tag+"\n"), dkstore.KindFile); err != nil {
		return docker.Image{}, term.Infra(err)
	}
	return docker.Image{ID: tag}, nil
}

// Load finds the image again; one that is gone (pruned) is built again.
func (b goImageBuilder) Load(ctx context.Context, tree dkstore.Tree, tag string) (docker.Image, error) {
	c, err := b.p.docker.client(ctx)
	if err != nil {
		return docker.Image{}, err
	}
	ok, err := c.ImageExists(ctx, tag)
	if term.IsInfra(err) {
		return docker.Image{}, err
	}
	if err != nil || !ok {
		return docker.Image{}, fmt.Errorf("image %s is gone", tag)
	}
	return docker.Image{ID: tag}, nil
}

// goKey is what a Go job runs on: a commit, in the Go image (or on the
// host when image is "").
type goKey struct {
	commit git.Commit
	image  string
}

// goRunBuilder runs a Go job's command in a fresh checkout of a commit:
// in a container of the Go image, the checkout mounted at /src, with no
// network, the host's module cache mounted read-only and a build cache of
// the CI's own; or on the host.
type goRunBuilder struct {
	p      *Pipeline
	group  Group
	digest string
}

// goInputs decide a Go job's result besides its commit and image.
type goInputs struct {
	Cmd       []string
	GoVersion string // on the host: the toolchain
	Init      bool   // in a container: under the daemon's init
}

func newGoRunBuilder(p *Pipeline, g Group, goVersion string) *goRunBuilder {
	in := goInputs{Cmd: g.Cmd}
	if p.placement == OnHost {
		in.GoVersion = goVersion
	} else {
		in.Init = true
	}
	return &goRunBuilder{p: p, group: g, digest: cache.Digest(in)}
}

func (b *goRunBuilder) Name() string { return "selfci-go" }

func (b *goRunBuilder) Branch(k goKey) string {
	parts := []string{"selfci", ci.EscapeName(b.group.Job), b.digest, "on", k.commit.Hash}
	if k.image != "" {
		_, digest, _ := strings.Cut(k.image, ":")
		parts = append(parts, "in", ci.EscapeName(digest))
	} else {
		parts = append(parts, "on", "host")
	}
	return string(ci.JoinBranch(parts...))
}

func (b *goRunBuilder) Title(k goKey) string {
	where := "on the host"
	if k.image != "" {
		where = "in the Go image"
	}
	return fmt.Sprintf("%s of %s %s", b.group.Job, k.commit.Short(), where)
}

func (b *goRunBuilder) Generate(ctx context.Context, log *livelog.Log, _ dkstore.Transaction, k goKey) (struct{}, error) {
	var tail livelog.Tail
	var fails TestFailures
	out := io.MultiWriter(log, &tail, &fails)
	log.Printf("Running %s\n", process.Cmd{Argv: b.group.Cmd})
	var err error
	if k.image != "" {
		err = b.inDocker(ctx, log, k, out)
	} else {
		err = b.onHost(ctx, log, k, out)
	}
	if err == nil || term.IsInfra(err) || ctx.Err() != nil {
		return struct{}{}, err
	}
	reason := fails.Summary()
	if reason == "" {
		reason = tail.Line()
	}
	cmd := process.Cmd{Argv: b.group.Cmd}.String()
	status := -1
	var dexit *docker.ExitError
	var pexit *process.ExitError
	switch {
	case errors.As(err, &dexit):
		status = dexit.Status
	case errors.As(err, &pexit):
		status = pexit.Status
	default:
		return struct{}{}, err // a timeout keeps its own text
	}
	return struct{}{}, livelog.Explain(err, func(c string) string {
		return fmt.Sprintf("Command %s exited with status %d", c, status)
	}, cmd, reason)
}

func (b *goRunBuilder) inDocker(ctx context.Context, log *livelog.Log, k goKey, out io.Writer) error {
	c, err := b.p.docker.client(ctx)
	if err != nil {
		return err
	}
	dir, cleanup, err := k.commit.CheckoutShallow(ctx, log) // a .git of its own: it works in the container
	if err != nil {
		return err
	}
	defer cleanup()
	return c.Run(ctx, b.p.runOptions(k.image, dir, b.group.Cmd, nil), out)
}

func (b *goRunBuilder) onHost(ctx context.Context, log *livelog.Log, k goKey, out io.Writer) error {
	dir, cleanup, err := k.commit.Checkout(ctx, log)
	if err != nil {
		return err
	}
	defer cleanup()
	return process.Run(ctx, process.Cmd{Argv: b.group.Cmd, Dir: dir, Env: hostEnv()}, out, out)
}

func (b *goRunBuilder) Load(context.Context, dkstore.Tree, goKey) (struct{}, error) {
	return struct{}{}, nil
}

// hostEnv is what the Go jobs on the host add to their minimal
// environment (process.Cmd): the Go settings of the CI's user.
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GO") || strings.HasPrefix(kv, "CGO_") {
			env = append(env, kv)
		}
	}
	return env
}

// runOptions run cmd in the Go image with the checkout dir at /src.
func (p *Pipeline) runOptions(image, dir string, cmd, env []string) docker.RunOptions {
	mounts := []docker.Mount{{Source: dir, Target: "/src"}, {Source: p.goCache(), Target: "/gocache"}}
	if p.toolchain != nil && p.toolchain.GoModCache != "" {
		mounts = append(mounts, docker.Mount{Source: p.toolchain.GoModCache, Target: "/gomod", ReadOnly: true})
	}
	var user string
	if uid := os.Getuid(); uid != 0 {
		// The container writes to the checkout and the build cache as the
		// CI's user, who can then remove them; its home is /tmp.
		user = fmt.Sprintf("%d:%d", uid, os.Getgid())
		env = append(slices.Clip(env), "HOME=/tmp")
	}
	return docker.RunOptions{
		Image:   image,
		Cmd:     cmd,
		Env:     env,
		User:    user,
		WorkDir: "/src",
		Mounts:  mounts,
		// Tests start processes and check that none outlives them: an init
		// reaps what they orphan.
		Init:   true,
		Labels: p.docker.labels(),
	}
}

// goCache is the Go jobs' build cache in the Go image (Options.GoCache:
// shared by the jobs, kept across restarts).
func (p *Pipeline) goCache() string {
	d := p.opts.GoCache
	if d == "" {
		d = filepath.Join(p.opts.WorkDir, "gocache")
	}
	os.MkdirAll(d, 0o755)
	return d
}

// imageKey is what the server image is built from: a commit, its binary
// built in the Go image (or on the host when goImage is "").
type imageKey struct {
	commit  git.Commit
	goImage string
}

// imageBuilder builds the server's image as `make image` does: the static
// binary, then the repository's Dockerfile, FROM scratch; and runs it once
// (datakit --version).
type imageBuilder struct{ p *Pipeline }

// serverBuild is the command that builds the server's static binary.
var serverBuild = []string{"go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "bin/datakit-static", "./cmd/datakit"}

func (b imageBuilder) Name() string { return "selfci-image" }

func (b imageBuilder) Branch(k imageKey) string {
	parts := []string{"selfci", "image", cache.Digest(serverBuild), "of", k.commit.Hash}
	if k.goImage != "" {
		_, digest, _ := strings.Cut(k.goImage, ":")
		parts = append(parts, "with", ci.EscapeName(digest))
	}
	return string(ci.JoinBranch(parts...))
}

func (b imageBuilder) Title(k imageKey) string {
	return "Build the server image of " + k.commit.Short()
}

func (b imageBuilder) Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, k imageKey) (docker.Image, error) {
	c, err := b.p.docker.client(ctx)
	if err != nil {
		return docker.Image{}, err
	}
	dir, cleanup, err := k.commit.CheckoutShallow(ctx, log)
	if err != nil {
		return docker.Image{}, err
	}
	defer cleanup()
	log.Printf("Building the static binary: %s\n", process.Cmd{Argv: serverBuild})
	env := []string{"CGO_ENABLED=0"}
	if k.goImage != "" {
		err = c.Run(ctx, b.p.runOptions(k.goImage, dir, serverBuild, env), log)
	} else {
		err = process.Run(ctx, process.Cmd{Argv: serverBuild, Dir: dir, Env: append(hostEnv(), env...)}, log, log)
	}
	if err != nil {
		return docker.Image{}, err
	}
	id, err := c.Build(ctx, docker.BuildOptions{ContextDir: dir, Labels: b.p.docker.labels()}, log)
	if err != nil {
		return docker.Image{}, err
	}
	log.Printf("Running the image: datakit --version\n")
	var version bytes.Buffer
	if err := c.Run(ctx, docker.RunOptions{Image: id, Cmd: []string{"--version"}, Labels: b.p.docker.labels()}, io.MultiWriter(log, &version)); err != nil {
		return docker.Image{}, err
	}
	if !strings.Contains(version.String(), "datakit") {
		return docker.Image{}, fmt.Errorf("the image's datakit --version printed %q", strings.TrimSpace(version.String()))
	}
	if err := tx.WriteFile(ctx, "value", []byte(id+"\n"), dkstore.KindFile); err != nil {
		return docker.Image{}, term.Infra(err)
	}
	return docker.Image{ID: id}, nil
}

// Load checks that the image is still there; one that is gone is built
// again.
func (b imageBuilder) Load(ctx context.Context, tree dkstore.Tree, _ imageKey) (docker.Image, error) {
	data, err := tree.ReadFile(ctx, "value")
	if err != nil {
		return docker.Image{}, err
	}
	id := strings.TrimSpace(string(data))
	c, err := b.p.docker.client(ctx)
	if err != nil {
		return docker.Image{}, err
	}
	ok, err := c.ImageExists(ctx, id)
	if term.IsInfra(err) {
		return docker.Image{}, err
	}
	if err != nil || !ok {
		return docker.Image{}, fmt.Errorf("image %s is gone", id)
	}
	return docker.Image{ID: id}, nil
}

// TestFailures reads the output of go test and keeps what failed: the
// packages (FAIL lines) and the tests (--- FAIL lines), for a status that
// points at the failure. It is safe for use by one writer at a time.
type TestFailures struct {
	partial []byte
	pkgs    []string
	tests   []string
}

// maxLine is how much of a line TestFailures reads: the start of a line
// says whether it reports a failure.
const maxLine = 512

// Write reads output, line by line.
func (f *TestFailures) Write(p []byte) (int, error) {
	data := p
	for len(data) > 0 {
		seg, rest, nl := bytes.Cut(data, []byte{'\n'})
		if room := maxLine - len(f.partial); room > 0 {
			f.partial = append(f.partial, seg[:min(room, len(seg))]...)
		}
		if !nl {
			break
		}
		f.line(string(f.partial))
		f.partial = f.partial[:0]
		data = rest
	}
	return len(p), nil
}

func (f *TestFailures) line(l string) {
	l = strings.TrimRight(l, "\r")
	trimmed := strings.TrimSpace(l)
	switch {
	case strings.HasPrefix(trimmed, "--- FAIL: "):
		name := strings.Fields(strings.TrimPrefix(trimmed, "--- FAIL: "))
		if len(name) > 0 && !strings.Contains(name[0], "/") && len(f.tests) < 20 {
			f.tests = append(f.tests, name[0])
		}
	case strings.HasPrefix(l, "FAIL\t"):
		fields := strings.Fields(l)
		if len(fields) >= 2 {
			f.pkgs = append(f.pkgs, shortPackage(fields[1]))
		}
	}
}

// shortPackage is a package path without the module's prefix.
func shortPackage(p string) string {
	if r, ok := strings.CutPrefix(p, "github.com/dkgo/datakit/"); ok {
		return r
	}
	if p == "github.com/dkgo/datakit" {
		return "."
	}
	return p
}

// Summary says what failed, e.g. "FAIL ci/web (TestCancelAndWhy)", or ""
// when the output shows no failed package.
func (f *TestFailures) Summary() string {
	if len(f.pkgs) == 0 {
		return ""
	}
	s := "FAIL " + strings.Join(f.pkgs, ", ")
	if len(f.tests) > 0 {
		s += " (" + strings.Join(f.tests, ", ") + ")"
	}
	return s
}
