package selfci

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

// Repo is the project the self-CI tests (the metadata's USER/REPO).
const Repo = "dkgo/datakit"

// A Group is a Go job: a command run in a fresh checkout of the commit,
// in the Go image or on the host.
type Group struct {
	Job     string   // the job's name, e.g. "test-store"
	Success string   // its status when the command succeeds
	Cmd     []string // the command, run in the checkout's root
}

// Tests is the Go job of `go test -race` of the given packages.
func Tests(job string, pkgs ...string) Group {
	return Group{Job: job, Success: "Tests passed", Cmd: append([]string{"go", "test", "-race", "-timeout", "20m"}, pkgs...)}
}

// Groups are the self-CI's Go jobs: the unit tests split by area (so that a
// failure points at its area), vet, gofmt, the examples and the tutorial.
// Every package of the module is in one test group (selfci's tests check it).
var Groups = []Group{
	Tests("test-store", "./dkstore/...", "./term/...", "./bridge/...", "./internal/..."),
	Tests("test-ninep", "./ninep/...", "./cmd/..."),
	Tests("test-ci", "./ci", "./ci/cache/...", "./ci/cimain/...", "./ci/citest/...", "./ci/docker/...", "./ci/swarm/...",
		"./ci/git/...", "./ci/livelog/...", "./ci/pool/...", "./ci/process/...", "./selfci/...", "./deploy/..."),
	Tests("test-web", "./ci/web/..."),
	Tests("examples", ".", "./examples/..."),
	{Job: "tutorial", Success: "The tutorial works", Cmd: []string{"go", "test", "-count=1", "-timeout", "10m", "./docs/..."}},
	{Job: "vet", Success: "Vet passed", Cmd: []string{"go", "vet", "./..."}},
	{Job: "gofmt", Success: "Formatted", Cmd: []string{"sh", "-c", `out=$(gofmt -l $(git ls-files '*.go')) && test -z "$out" || { echo "gofmt needed:"; echo "$out"; exit 1; }`}},
}

// Placement says where the Go jobs run.
type Placement string

const (
	// Auto runs the Go jobs in the Go image when Docker answers at start,
	// else on the host.
	Auto Placement = "auto"
	// InDocker runs the Go jobs in the Go image, made from the host's
	// toolchain (FindToolchain).
	InDocker Placement = "docker"
	// OnHost runs the Go jobs on the host, in fresh checkouts.
	OnHost Placement = "host"
)

// Options configure the self-CI. The zero value tests "." on the host's
// number of CPUs, its Go jobs placed by Auto.
type Options struct {
	// Src is where commits are fetched from: the repository's path or URL.
	Src string
	// WorkDir holds the Git mirror, the Go jobs' build cache and the
	// Go image's build context while it is built. It must be the same at
	// every start (it names the CI's containers for their clean-up).
	WorkDir string
	// Repo is the project in the metadata (default Repo).
	Repo string
	// GoIn says where the Go jobs run (default Auto).
	GoIn Placement
	// Heavy is how many heavy jobs (Go tests, vet, builds) run at once:
	// default 1 for every 4 CPUs, at least 1, so that on a small machine
	// two never run together.
	Heavy int
	// GoCache is the Go jobs' build cache in the Go image (default
	// WORK-DIR/gocache): kept across runs, so that a job compiles only
	// what changed. (On the host the jobs use the user's own.)
	GoCache string
	// Groups are the Go jobs (default Groups).
	Groups []Group
	// Docker is how to reach the Docker daemon (default: DOCKER_HOST, else
	// the local socket).
	Docker docker.Options
	// Timeout bounds each job's run (default 30 minutes).
	Timeout time.Duration
	// Logger receives what the self-CI decides at start (default
	// slog.Default()).
	Logger *slog.Logger
}

// Pipeline is the self-CI: its steps, made once by New, and the jobs of
// every target, which use them.
type Pipeline struct {
	opts      Options
	placement Placement // InDocker or OnHost
	why       string    // why the Go jobs run where they do
	heavy     *pool.Pool
	light     *pool.Pool
	remote    *git.Remote
	docker    *dockerConn
	toolchain *Toolchain // in InDocker placement
	goImage   *cache.Cache[string, docker.Image]
	goSteps   map[string]func(git.Commit) term.Term[struct{}]
	image     *cache.Cache[imageKey, docker.Image]
}

// New makes the self-CI's steps. With GoIn Auto it asks the Docker daemon
// whether it answers (for at most a few seconds) and gathers the Go
// image's content from the host; it starts nothing.
func New(ctx context.Context, o Options) *Pipeline {
	if o.Src == "" {
		o.Src = "."
	}
	if o.WorkDir == "" {
		o.WorkDir = filepath.Join(os.TempDir(), "datakit-selfci")
	}
	if abs, err := filepath.Abs(o.WorkDir); err == nil {
		o.WorkDir = abs
	}
	if o.Repo == "" {
		o.Repo = Repo
	}
	if o.GoIn == "" {
		o.GoIn = Auto
	}
	if o.Heavy <= 0 {
		o.Heavy = max(1, runtime.NumCPU()/4)
	}
	if o.Groups == nil {
		o.Groups = Groups
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Docker.Logger == nil {
		o.Docker.Logger = o.Logger
	}
	p := &Pipeline{
		opts:    o,
		heavy:   pool.New("heavy", o.Heavy, nil),
		light:   pool.New("light", 2, nil),
		remote:  git.NewRemote(o.Src, filepath.Join(o.WorkDir, "git"), git.Options{}),
		docker:  newDockerConn(o.Docker, "selfci:"+o.WorkDir),
		goSteps: map[string]func(git.Commit) term.Term[struct{}]{},
	}
	p.placement, p.why = p.place(ctx)
	heavy := cache.Options{Pool: p.heavy, Timeout: o.Timeout}
	light := cache.Options{Pool: p.light, Timeout: o.Timeout}
	if p.placement == InDocker {
		p.goImage = cache.New[string, docker.Image](goImageBuilder{p}, heavy)
	}
	goVersion := runtime.Version() // the go command's, better:
	if p.toolchain != nil {
		goVersion = p.toolchain.GoVersion
	} else if env, err := goEnv(ctx, "GOVERSION"); err == nil {
		goVersion = env["GOVERSION"]
	}
	for _, g := range o.Groups {
		opts := heavy
		if g.Job == "gofmt" {
			opts = light
		}
		c := cache.New[goKey, struct{}](newGoRunBuilder(p, g, goVersion), opts)
		if p.placement == InDocker {
			p.goSteps[g.Job] = func(commit git.Commit) term.Term[struct{}] {
				return term.Bind(p.goImageTerm(), func(img docker.Image) term.Term[struct{}] {
					return c.Find(goKey{commit: commit, image: img.ID})
				})
			}
		} else {
			p.goSteps[g.Job] = func(commit git.Commit) term.Term[struct{}] { return c.Find(goKey{commit: commit}) }
		}
	}
	p.image = cache.New[imageKey, docker.Image](imageBuilder{p}, heavy)
	return p
}

// place decides where the Go jobs run, and says why.
func (p *Pipeline) place(ctx context.Context) (Placement, string) {
	o := p.opts
	if o.GoIn == OnHost {
		return OnHost, "asked for (--go-in host)"
	}
	if o.GoIn == Auto {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.docker.ping(pctx)
		cancel()
		if err != nil {
			return OnHost, fmt.Sprintf("Docker does not answer (%v)", err)
		}
	}
	tc, err := FindToolchain(ctx)
	if err != nil {
		if o.GoIn == InDocker {
			// Asked for: the Go jobs will report why they cannot run.
			p.toolchain = nil
			return InDocker, fmt.Sprintf("the Go image cannot be made: %v", err)
		}
		return OnHost, fmt.Sprintf("the Go image cannot be made from this host (%v)", err)
	}
	p.toolchain = tc
	return InDocker, fmt.Sprintf("in image %s (%s, %d MB, from the host's toolchain)", tc.Tag(), tc.GoVersion, tc.Set.Size()>>20)
}

// goImageTerm is the Go image, built from the host's toolchain (or an
// error saying why it cannot be).
func (p *Pipeline) goImageTerm() term.Term[docker.Image] {
	if p.toolchain == nil {
		return term.Errorf[docker.Image]("%s", p.why)
	}
	return p.goImage.Find(p.toolchain.Tag())
}

// Placement says where the Go jobs run (InDocker or OnHost) and why.
func (p *Pipeline) Placement() (Placement, string) { return p.placement, p.why }

// Toolchain is the Go image's content, or nil when the Go jobs run on the
// host.
func (p *Pipeline) Toolchain() *Toolchain { return p.toolchain }

// Steps are what the self-CI's jobs are made of, as functions of a commit:
// the real ones (Pipeline.Steps) or a test's fakes.
type Steps struct {
	// Fetch is the commit fetched.
	Fetch func(ci.Commit) term.Term[git.Commit]
	// Go are the Go jobs' steps, by job name.
	Go map[string]func(git.Commit) term.Term[struct{}]
	// Image is the server's Docker image built from the commit.
	Image func(git.Commit) term.Term[docker.Image]
}

// Steps returns the pipeline's steps.
func (p *Pipeline) Steps() Steps {
	return Steps{
		Fetch: p.remote.Fetch,
		Go:    p.goSteps,
		Image: func(c git.Commit) term.Term[docker.Image] {
			if p.placement == InDocker {
				return term.Bind(p.goImageTerm(), func(img docker.Image) term.Term[docker.Image] {
					return p.image.Find(imageKey{commit: c, goImage: img.ID})
				})
			}
			return p.image.Find(imageKey{commit: c})
		},
	}
}

// Jobs returns the jobs of a target, made of s: a job per Go group (in
// the order of groups), "image" (the server's image, built with Docker),
// and "all", which waits for every other.
func Jobs(groups []Group, s Steps) func(ci.Target) ci.Jobs {
	return func(t ci.Target) ci.Jobs {
		src := s.Fetch(t.Commit())
		jobs := ci.Jobs{}
		var all []term.NamedTerm
		for _, g := range groups {
			run := term.Bind(src, s.Go[g.Job])
			jobs[g.Job] = term.Then(run, g.Success)
			all = append(all, term.Named(g.Job, run))
		}
		image := term.Bind(src, s.Image)
		jobs["image"] = term.Map(image, func(i docker.Image) string { return "Built the server image " + i.Short() })
		all = append(all, term.Named("image", image))
		jobs["all"] = term.Then(term.WaitForAll(all...), "All checks passed")
		return jobs
	}
}

// Config is the self-CI's configuration, for cimain.Main.
func (p *Pipeline) Config() ci.Config {
	return ci.Config{
		Name:     "selfci",
		Projects: []ci.Project{{Repo: p.opts.Repo, Jobs: Jobs(p.opts.Groups, p.Steps())}},
		Pools:    []*pool.Pool{p.heavy, p.light},
		CanRead:  ci.Everyone(),
		CanBuild: ci.User("admin"),
	}
}

// Close releases the connection to Docker, if one was made.
func (p *Pipeline) Close() error { return p.docker.close() }

// String describes the pipeline in a line, for its start-up message.
func (p *Pipeline) String() string {
	var names []string
	for _, g := range p.opts.Groups {
		names = append(names, g.Job)
	}
	return fmt.Sprintf("self-CI of %s (%s): jobs %s, image, all; Go jobs %s: %s; %d heavy job(s) at a time",
		p.opts.Repo, p.opts.Src, strings.Join(names, ", "), p.placement, p.why, p.opts.Heavy)
}
