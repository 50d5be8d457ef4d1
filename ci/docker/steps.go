package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// Engine is the connection the cached steps use: made at first use (so a
// CI starts while the daemon is down; its steps then report status error
// and are tried again).
type Engine struct {
	opts    Options
	mu      sync.Mutex
	c       *Client
	cleaned bool // the leftovers of an earlier run were removed
}

// NewEngine returns a lazily connected Docker engine.
func NewEngine(opts Options) *Engine { return &Engine{opts: opts} }

func (e *Engine) client(ctx context.Context) (*Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c != nil {
		return e.c, nil
	}
	c, err := New(ctx, e.opts)
	if err != nil {
		return nil, err
	}
	if e.opts.Owner != "" && !e.cleaned {
		// Containers of ours that no Run of this process made: a CI killed
		// mid-run left them (still running, perhaps).
		n, err := c.RemoveContainers(ctx, map[string]string{CILabel: e.opts.Owner})
		if err != nil {
			c.Close()
			return nil, err
		}
		if n > 0 {
			log := e.opts.Logger
			if log == nil {
				log = slog.Default()
			}
			log.Info("docker: removed containers left by an earlier run of this CI", "count", n, "owner", e.opts.Owner)
		}
		e.cleaned = true
	}
	e.c = c
	return c, nil
}

// Close closes the connection, if one was made.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil
	}
	err := e.c.Close()
	e.c = nil
	return err
}

// Image is an image built by a BuildStep.
type Image struct{ ID string }

// Short is the image id without "sha256:", abbreviated.
func (i Image) Short() string {
	id := strings.TrimPrefix(i.ID, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// StepOptions tune a build or run step as a cached step: its pool and
// priority, its timeout once it holds its pool slot (as in the original,
// time spent queued does not count), the secrets masked in its log...
// They are cache.Options, which ci/git's command steps take too.
type StepOptions = cache.Options

// BuildStep builds an image from a commit's Dockerfile, cached as branch
// docker-build-<label>-<digest>-of-<sha>[-from-<base image>]: the label
// escaped by ci.EscapeName, and a digest (cache.Digest) of the build
// options that decide the image (Dockerfile, BuildArgs, Target, Tags,
// Labels, NoCache), so that a step whose options changed builds again
// instead of taking the old image, while an unchanged one finds its image
// after a restart.
type BuildStep struct {
	e      *Engine
	label  string
	digest string
	build  BuildOptions
	opts   StepOptions
	c      *cache.Cache[buildKey, Image]
}

// buildInputs are what decides a build step's image, besides the commit
// and the base image: its identity (cache.Digest). Not in it: the build's
// Timeout and the StepOptions (a new limit does not rebuild a finished
// image).
type buildInputs struct {
	Dockerfile string
	BuildArgs  map[string]string
	Target     string
	Tags       []string
	Labels     map[string]string
	NoCache    bool
}

type buildKey struct {
	commit git.Commit
	from   string // a base image id the Dockerfile is built FROM (build arg BASE), or ""
}

// NewBuild returns the step building the Dockerfile given in o (relative
// to the checkout; ContextDir is set by the step), labelled label in
// branch names and titles.
func NewBuild(e *Engine, label string, o BuildOptions, opts StepOptions) *BuildStep {
	dockerfile := o.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	digest := cache.Digest(buildInputs{Dockerfile: dockerfile, BuildArgs: o.BuildArgs, Target: o.Target, Tags: o.Tags, Labels: o.Labels, NoCache: o.NoCache})
	b := &BuildStep{e: e, label: label, digest: digest, build: o, opts: opts}
	b.c = cache.New[buildKey, Image](buildBuilder{b}, opts)
	return b
}

// Of is the term of the image built from commit c.
func (b *BuildStep) Of(c git.Commit) term.Term[Image] { return b.c.Find(buildKey{commit: c}) }

// OfFrom is the image built from commit c with the build argument BASE
// set to image from (for a Dockerfile that starts `ARG BASE` / `FROM
// $BASE`): the original's build ?from.
func (b *BuildStep) OfFrom(c git.Commit, from Image) term.Term[Image] {
	return b.c.Find(buildKey{commit: c, from: from.ID})
}

type buildBuilder struct{ b *BuildStep }

func (bb buildBuilder) Name() string { return "docker-build" }

func (bb buildBuilder) Branch(k buildKey) string {
	parts := []string{"docker", "build", ci.EscapeName(bb.b.label), bb.b.digest, "of", k.commit.Hash}
	if k.from != "" {
		parts = append(parts, "from", ci.EscapeName(k.from))
	}
	return string(ci.JoinBranch(parts...))
}

func (bb buildBuilder) Title(k buildKey) string {
	return fmt.Sprintf("Build %s of %s", bb.b.label, k.commit.Short())
}

func (bb buildBuilder) Generate(ctx context.Context, log *livelog.Log, tx dkstore.Transaction, k buildKey) (Image, error) {
	c, err := bb.b.e.client(ctx)
	if err != nil {
		return Image{}, err
	}
	dir, cleanup, err := k.commit.CheckoutShallow(ctx, log) // its .git works in the image
	if err != nil {
		return Image{}, err
	}
	defer cleanup()
	o := bb.b.build
	o.ContextDir = dir
	o.Labels = maps.Clone(o.Labels)
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	if owner := bb.b.e.opts.Owner; owner != "" {
		// as on the run steps' containers: so that the CI's images can be
		// told from others, and pruned (docs/ci.md)
		o.Labels[CILabel] = owner
	}
	if repo := k.commit.Repo(); repo != "" {
		o.Labels[SourceLabel] = repo + " " + cmp.Or(bb.b.build.Dockerfile, "Dockerfile")
	}
	if k.from != "" {
		args := map[string]string{}
		for n, v := range o.BuildArgs {
			args[n] = v
		}
		args["BASE"] = k.from
		o.BuildArgs = args
	}
	id, err := c.Build(ctx, o, log)
	if err != nil {
		return Image{}, err
	}
	if err := tx.WriteFile(ctx, "value", []byte(id+"\n"), dkstore.KindFile); err != nil {
		return Image{}, term.Infra(fmt.Errorf("saving the image id: %w", err))
	}
	return Image{ID: id}, nil
}

// Load checks that the saved image is still there: one that is gone (e.g.
// pruned) is built again. A daemon that cannot be asked is an
// infrastructure error (term.Infra), so that a restart while the daemon is
// down does not rebuild every image.
func (bb buildBuilder) Load(ctx context.Context, tree dkstore.Tree, _ buildKey) (Image, error) {
	b, err := tree.ReadFile(ctx, "value")
	if err != nil {
		return Image{}, err
	}
	id := strings.TrimSpace(string(b))
	c, err := bb.b.e.client(ctx)
	if err != nil {
		return Image{}, err // term.Infra
	}
	ok, err := c.ImageExists(ctx, id)
	if term.IsInfra(err) {
		return Image{}, err
	}
	if err != nil || !ok {
		return Image{}, fmt.Errorf("image %s is gone", id) // build it again
	}
	return Image{ID: id}, nil
}

// RunStep runs a command in an image, cached as branch
// docker-run-<label>-<digest>-in-<image id>: the label escaped by
// ci.EscapeName, and a digest (cache.Digest) of the run options that
// decide the result (Cmd, Entrypoint, Env, User, WorkDir, Mounts,
// Network, Init), so that a step whose command changed runs again instead of
// taking the old result, while an unchanged one finds its result after a
// restart. The contents of a mounted directory are not part of it.
type RunStep struct {
	e      *Engine
	label  string
	digest string
	run    RunOptions
	opts   StepOptions
	c      *cache.Cache[string, struct{}]
}

// runInputs are what decides a run step's result, besides the image: its
// identity (cache.Digest). Not in it: the run's Timeout and Labels, and
// the StepOptions.
type runInputs struct {
	Cmd        []string
	Entrypoint []string
	Env        []string
	User       string
	WorkDir    string
	Mounts     []Mount
	Network    string
	Init       bool
}

// NewRun returns the step running o (its Image is set by the step: In)
// labelled label.
func NewRun(e *Engine, label string, o RunOptions, opts StepOptions) *RunStep {
	network := o.Network
	if network == "" {
		network = "none"
	}
	digest := cache.Digest(runInputs{Cmd: o.Cmd, Entrypoint: o.Entrypoint, Env: o.Env, User: o.User, WorkDir: o.WorkDir, Mounts: o.Mounts, Network: network, Init: o.Init})
	r := &RunStep{e: e, label: label, digest: digest, run: o, opts: opts}
	r.c = cache.New[string, struct{}](runBuilder{r}, opts)
	return r
}

// In is the term of the command's run in image img. A failure's message
// ends with the last line of the command's output, the command
// abbreviated so that the message fits in a status (livelog.Explain).
func (r *RunStep) In(img Image) term.Term[struct{}] { return r.c.Find(img.ID) }

type runBuilder struct{ r *RunStep }

func (rb runBuilder) Name() string { return "docker-run" }
func (rb runBuilder) Branch(id string) string {
	return string(ci.JoinBranch("docker", "run", ci.EscapeName(rb.r.label), rb.r.digest, "in", ci.EscapeName(id)))
}
func (rb runBuilder) Title(id string) string {
	return fmt.Sprintf("Run %s in %s", rb.r.label, Image{ID: id}.Short())
}

func (rb runBuilder) Generate(ctx context.Context, log *livelog.Log, _ dkstore.Transaction, id string) (struct{}, error) {
	c, err := rb.r.e.client(ctx)
	if err != nil {
		return struct{}{}, err
	}
	o := rb.r.run
	o.Image = id
	o.Labels = maps.Clone(o.Labels)
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	o.Labels[StepLabel] = rb.Branch(id)
	if owner := rb.r.e.opts.Owner; owner != "" {
		o.Labels[CILabel] = owner
	}
	var x Executor = c
	if rb.r.e.opts.Executor != nil {
		x = rb.r.e.opts.Executor
	}
	var tail livelog.Tail
	err = x.Run(ctx, o, stepLog{io.MultiWriter(log, &tail), log})
	var exit *ExitError
	if errors.As(err, &exit) {
		// The reason last, the command abbreviated if need be. (A
		// timeout or a cancellation keeps its own text.)
		what := func(cmd string) string { return exitMessage(cmd, exit.Status) }
		err = livelog.Explain(err, what, exit.command(), tail.Line())
	}
	return struct{}{}, err
}

// stepLog is a run step's log as its executor sees it: the output goes to
// the live log and to the tail; PushReason and Printf to the live log
// alone.
type stepLog struct {
	io.Writer
	log *livelog.Log
}

func (s stepLog) PushReason(reason string) (pop func()) { return s.log.PushReason(reason) }
func (s stepLog) Printf(format string, args ...any)     { s.log.Printf(format, args...) }

func (rb runBuilder) Load(context.Context, dkstore.Tree, string) (struct{}, error) {
	return struct{}{}, nil
}
