// Package git fetches the commits a CI tests and runs commands in fresh
// checkouts of them, as cached steps (package cache): a fetch is kept on
// branch git-pull-of-<sha>, a command's result and log on
// shell-of-<label>-<digest>-on-<sha> (the digest of its commands and
// environment: a changed command does not take an old result for its
// own), so that a restart redoes nothing that finished.
//
//	src := git.NewRemote("https://github.com/me/p", "/var/lib/ci/git", git.Options{})
//	test := src.Command("test", git.CommandOptions{Options: cache.Options{Pool: p}}, []string{"make", "test"})
//	jobs := ci.Jobs{"test": term.Then(term.Bind(src.Fetch(t.Commit()), test), "Tests passed")}
//
// A saved fetch is trusted without looking at the mirror: a CI restarted
// with a new work directory finds its finished results at once, and a
// step that runs fetches its commit again when it checks it out.
//
// A Remote is safe for concurrent use; make one per repository, at the top
// of the program. Fetches into a mirror take a file lock beside it, so
// that two Remotes (or two processes) sharing a work directory and URL
// fetch one at a time.
//
// A fetch fetches every branch, tag and pull request (refs/pull/*) of the
// repository, then, if the commit is still missing, the commit by its hash
// (which servers allow for reachable commits). A commit still missing is
// an infrastructure error, not a cached failure: it may yet be pushed (the
// fetch result branch is named by the commit alone). A password (or an
// HTTP user name, often a token) in the URL is masked in logs and errors,
// and SSH host keys are accepted on first use (StrictHostKeyChecking
// accept-new), without prompting.
package git

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/livelog"
	"github.com/dkgo/datakit/ci/process"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

// Remote is a repository commits are fetched from (a URL or a local
// path), with a bare mirror of it in a work directory.
type Remote struct {
	url     string
	display string   // url without its credentials
	secrets []string // credentials in url
	mirror  string
	mu      sync.Mutex // one fetch into the mirror at a time (see lockFile)
	fetch   *cache.Cache[string, Commit]
	opts    Options
}

// Options tune a Remote. The zero value is useful.
type Options struct {
	// FetchTimeout bounds a fetch (default 10 minutes).
	FetchTimeout time.Duration
	// RetryAfter is how long a fetch that could not be made (an
	// unreachable repository, a commit not in it) is remembered before it
	// is tried again (default 1 minute).
	RetryAfter time.Duration
}

// Commit is a fetched commit. Its Checkout fetches it into the mirror
// again if the mirror lost it: a saved fetch result is trusted without
// looking at the mirror, so that a CI restarted with a new work directory
// finds its finished results, and reports nothing new, without fetching
// anything first.
type Commit struct {
	Hash string
	r    *Remote
}

// Repo is the repository the commit was fetched from: its URL without
// credentials, or its path; "" for a Commit that no Remote made.
func (c Commit) Repo() string {
	if c.r == nil {
		return ""
	}
	return c.r.display
}

// Short is the abbreviated hash.
func (c Commit) Short() string { return short(c.Hash) }

// NewRemote returns the repository at url (a URL git understands or a
// local path; a relative path is relative to the current directory, made
// absolute here), mirrored under workDir (created if missing).
func NewRemote(url, workDir string, opts Options) *Remote {
	url = absLocal(url)
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 10 * time.Minute
	}
	sum := sha256.Sum256([]byte(url))
	display, secrets := redact(url)
	r := &Remote{url: url, display: display, secrets: secrets, opts: opts,
		mirror: filepath.Join(workDir, ci.EscapeName(filepath.Base(strings.TrimSuffix(display, "/")))+"-"+hex.EncodeToString(sum[:6])+".git")}
	r.fetch = cache.New[string, Commit](fetcher{r}, cache.Options{Timeout: opts.FetchTimeout, Secrets: secrets, RetryAfter: opts.RetryAfter})
	return r
}

// absLocal makes a relative local path absolute, so that it names the same
// repository from the mirror's directory, where git runs, as from the
// program's ("." is the program's directory, not the mirror). A URL
// (scheme://...) or an scp-like address (host:path, a colon before any
// slash, as git reads it) is left as it is.
func absLocal(u string) string {
	if u == "" || filepath.IsAbs(u) || strings.Contains(u, "://") {
		return u
	}
	if i := strings.IndexByte(u, ':'); i >= 0 && !strings.Contains(u[:i], "/") {
		return u
	}
	if abs, err := filepath.Abs(u); err == nil {
		return abs
	}
	return u
}

// redact returns rawURL without the credentials in it, and those.
func redact(rawURL string) (string, []string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil || u.Host == "" {
		return rawURL, nil
	}
	var secrets []string
	if p, ok := u.User.Password(); ok && p != "" {
		secrets = append(secrets, p)
	} else if (u.Scheme == "http" || u.Scheme == "https") && u.User.Username() != "" {
		secrets = append(secrets, u.User.Username()) // a token as user name
	} else {
		return rawURL, nil
	}
	u.User = url.User("***")
	return strings.Replace(u.String(), "%2A%2A%2A", "***", 1), secrets
}

// Fetch is the term of commit c fetched into the mirror: cached as branch
// git-pull-of-<sha>.
func (r *Remote) Fetch(c ci.Commit) term.Term[Commit] { return r.fetch.Find(c.Hash) }

// git runs git with args, its output into log; mask lists what to hide
// where the command is displayed.
func git(ctx context.Context, log *livelog.Log, mask []string, dir string, args ...string) error {
	env := []string{"GIT_TERMINAL_PROMPT=0", "GIT_SSH_COMMAND=ssh -o StrictHostKeyChecking=accept-new -o BatchMode=yes"}
	for _, k := range []string{"GIT_SSH_COMMAND", "GIT_SSH", "SSH_AUTH_SOCK"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return process.Run(ctx, process.Cmd{Argv: append([]string{"git"}, args...), Dir: dir, Env: env, Mask: mask}, log, log)
}

// gitOut runs git and returns its standard output.
func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := process.Run(ctx, process.Cmd{Argv: append([]string{"git"}, args...), Dir: dir}, &out, &errb)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// has reports whether the mirror has commit sha.
func (r *Remote) has(ctx context.Context, sha string) bool {
	_, err := gitOut(ctx, r.mirror, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// fetcher is the builder of fetches.
type fetcher struct{ r *Remote }

func (f fetcher) Name() string             { return "git-fetch" }
func (f fetcher) Branch(sha string) string { return "git-pull-of-" + sha }
func (f fetcher) Title(sha string) string  { return "Fetch " + short(sha) }

func (f fetcher) Generate(ctx context.Context, log *livelog.Log, _ dkstore.Transaction, sha string) (Commit, error) {
	if !isHash(sha) {
		return Commit{}, fmt.Errorf("%q is not a commit hash", sha)
	}
	if err := f.r.ensure(ctx, log, sha); err != nil {
		return Commit{}, err
	}
	return Commit{Hash: sha, r: f.r}, nil
}

// ensure fetches commit sha into the mirror, unless it is there already.
// Its errors are infrastructure errors (or the context's cause): not
// cached as failures, since the commit may yet be pushed.
func (r *Remote) ensure(ctx context.Context, log *livelog.Log, sha string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(r.mirror), 0o755); err != nil {
		return term.Infra(err)
	}
	unlock, err := lockFile(ctx, r.mirror+".lock", func() { log.Printf("Waiting for another fetch into %s", filepath.Base(r.mirror)) })
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(r.mirror, "HEAD")); err != nil {
		if err := git(ctx, log, nil, "", "init", "--quiet", "--bare", r.mirror); err != nil {
			return term.Infra(err)
		}
	}
	if r.has(ctx, sha) {
		return nil
	}
	log.Printf("Fetching %s from %s", short(sha), r.display)
	err = git(ctx, log, r.secrets, r.mirror, "fetch", "--quiet", "--force", "--no-tags", r.url,
		"+refs/heads/*:refs/mirror/heads/*", "+refs/tags/*:refs/mirror/tags/*", "+refs/pull/*:refs/mirror/pull/*")
	if err != nil {
		return term.Infra(fmt.Errorf("fetching %s: %w", r.display, err))
	}
	if r.has(ctx, sha) {
		return nil
	}
	log.Printf("No branch, tag or pull request of %s has %s: fetching it by its hash", r.display, short(sha))
	if err := git(ctx, log, r.secrets, r.mirror, "fetch", "--quiet", "--no-tags", r.url, "+"+sha+":refs/mirror/commits/"+sha); err == nil && r.has(ctx, sha) {
		return nil
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return term.Infra(fmt.Errorf("commit %s is not in %s", short(sha), r.display))
}

// isHash reports whether s is a full hexadecimal commit hash.
func isHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Load trusts the saved fetch without looking at the mirror: a commit the
// mirror lost (a new work directory) is fetched again when it is checked
// out, which only a step that runs does. So a restart with a new work
// directory finds every finished result, and its statuses stay, without a
// fetch first.
func (f fetcher) Load(_ context.Context, _ dkstore.Tree, sha string) (Commit, error) {
	if !isHash(sha) {
		return Commit{}, fmt.Errorf("%q is not a commit hash", sha)
	}
	return Commit{Hash: sha, r: f.r}, nil
}

// CommandOptions tune a command step: how it runs as a cached step (its
// pool and priority, its timeout once it holds its pool slot, the
// secrets masked in its log: cache.Options, which Docker steps take too)
// and its commands' environment.
type CommandOptions struct {
	cache.Options
	// Env is added to the commands' environment (KEY=value entries).
	Env []string
}

// Command returns a step that checks a commit out into a fresh directory
// and runs the commands there in order. Each command's output goes to the
// log after a line `Running "argv"...`; the first that fails fails the
// step with `Command … exited with status N: <the last line of its
// output>`, the command abbreviated so that the message fits in a status
// (livelog.Explain).
//
// The step is cached per commit as branch
// shell-of-<label>-<digest>-on-<sha>: the label escaped by ci.EscapeName
// (so distinct labels never share a branch), and a digest
// (cache.Digest) of the commands and Env, so that a step whose commands
// or environment changed does not take the old result for its own (it
// runs, on a branch of its own), while an unchanged one finds its result
// after a restart. The pool, the priority, the timeout and the secrets
// are not part of the step's identity: a new timeout does not run a
// finished step again (a failure by timeout can be rebuilt).
func (r *Remote) Command(label string, opts CommandOptions, argvs ...[]string) func(Commit) term.Term[struct{}] {
	digest := cache.Digest(commandInputs{Argv: argvs, Env: opts.Env})
	c := cache.New[string, struct{}](&commander{r: r, label: label, digest: digest, opts: opts, argvs: argvs}, opts.Options)
	return func(cm Commit) term.Term[struct{}] { return c.Find(cm.Hash) }
}

// commandInputs are what decides a command step's result, besides the
// commit: its identity (cache.Digest).
type commandInputs struct {
	Argv [][]string
	Env  []string
}

type commander struct {
	r      *Remote
	label  string
	digest string
	opts   CommandOptions
	argvs  [][]string
}

func (c *commander) Name() string { return "shell-" + c.label }
func (c *commander) Branch(sha string) string {
	return string(ci.JoinBranch("shell", "of", ci.EscapeName(c.label), c.digest, "on", sha))
}
func (c *commander) Title(sha string) string { return "Run " + c.label + " on " + short(sha) }

func (c *commander) Generate(ctx context.Context, log *livelog.Log, _ dkstore.Transaction, sha string) (struct{}, error) {
	dir, cleanup, err := Commit{Hash: sha, r: c.r}.Checkout(ctx, log)
	if err != nil {
		return struct{}{}, err
	}
	defer cleanup()
	for _, argv := range c.argvs {
		cmd := process.Cmd{Argv: argv, Dir: dir, Env: c.opts.Env, Mask: c.opts.Secrets}
		fmt.Fprintf(log, "Running %s...\n", cmd)
		var tail livelog.Tail
		out := io.MultiWriter(log, &tail)
		if err := process.Run(ctx, cmd, out, out); err != nil {
			var exit *process.ExitError
			if errors.As(err, &exit) {
				// The reason last, the command abbreviated if need be.
				// (A timeout or a cancellation keeps its own text.)
				what := func(c string) string { e := *exit; e.Command = c; return e.Error() }
				err = livelog.Explain(err, what, exit.Command, tail.Line())
			}
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
}

// Checkout checks the commit out into a fresh temporary directory (git's
// output goes to log); cleanup removes it. A commit that the mirror lost
// (its work directory is new) is fetched into it again first, the fetch
// logged to log. Errors are infrastructure errors. Its .git reads the
// mirror's objects (git's alternates): the whole history is there, but
// only on this machine.
func (c Commit) Checkout(ctx context.Context, log *livelog.Log) (dir string, cleanup func(), err error) {
	return c.checkout(ctx, log, false)
}

// CheckoutShallow is Checkout with a .git of its own that holds only the
// commit (a shallow repository, as clone --depth 1 makes): the directory
// can be copied elsewhere, e.g. into a Docker image, and git still works
// there.
func (c Commit) CheckoutShallow(ctx context.Context, log *livelog.Log) (dir string, cleanup func(), err error) {
	return c.checkout(ctx, log, true)
}

func (c Commit) checkout(ctx context.Context, log *livelog.Log, shallow bool) (dir string, cleanup func(), err error) {
	if c.r == nil {
		return "", nil, term.Infra(fmt.Errorf("commit %s was not fetched: fetch it first", short(c.Hash)))
	}
	if !c.r.has(ctx, c.Hash) {
		log.Printf("Commit %s is not in the mirror (a new work directory?): fetching it again", short(c.Hash))
		if err := c.r.ensure(ctx, log, c.Hash); err != nil {
			return "", nil, err
		}
	}
	sweepCheckouts.Do(func() { removeDeadCheckouts(os.TempDir()) })
	dir, err = os.MkdirTemp("", fmt.Sprintf("%s%d-", checkoutPrefix, os.Getpid()))
	if err != nil {
		return "", nil, term.Infra(err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	// As clone --shared (the objects stay in the mirror, through git's
	// alternates), without its warning about the mirror having no refs.
	err = git(ctx, log, nil, "", "init", "--quiet", dir)
	if err == nil {
		var objects string
		if objects, err = filepath.Abs(filepath.Join(c.r.mirror, "objects")); err == nil {
			err = os.WriteFile(filepath.Join(dir, ".git", "objects", "info", "alternates"), []byte(objects+"\n"), 0o644)
		}
	}
	if err == nil {
		err = git(ctx, log, nil, dir, "checkout", "--quiet", "--detach", c.Hash)
	}
	if err == nil && shallow {
		// The commit as a shallow boundary: repack copies its objects and
		// no others; then the mirror is not needed any more.
		err = os.WriteFile(filepath.Join(dir, ".git", "shallow"), []byte(c.Hash+"\n"), 0o644)
		if err == nil {
			err = git(ctx, log, nil, dir, "repack", "-a", "-d", "-q")
		}
		if err == nil {
			err = os.Remove(filepath.Join(dir, ".git", "objects", "info", "alternates"))
		}
	}
	if err != nil {
		cleanup()
		return "", nil, term.Infra(fmt.Errorf("checking out %s: %w", short(c.Hash), err))
	}
	return dir, cleanup, nil
}

// checkoutPrefix starts the name of every checkout directory, followed by
// the process id of the CI that made it.
const checkoutPrefix = "datakit-ci-checkout-"

var sweepCheckouts sync.Once

// removeDeadCheckouts removes the checkouts in dir left by CI processes
// that are gone (killed in the middle of a step: their cleanup never ran).
func removeDeadCheckouts(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), checkoutPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, ok := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n <= 0 || n == os.Getpid() {
			continue
		}
		if err := syscall.Kill(n, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func (c *commander) Load(context.Context, dkstore.Tree, string) (struct{}, error) {
	return struct{}{}, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
