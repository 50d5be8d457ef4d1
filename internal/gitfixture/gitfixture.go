// Package gitfixture makes Git repositories for tests with the git command
// and serves them on the loopback interface: with git daemon (git://) and
// with git's smart HTTP protocol (git http-backend behind net/http/cgi).
// Its repositories are the public ci/citest/gitrepo's (which a user's tests
// use); this package adds what only our own tests need: servers, bare
// repositories, read-only trees and listings.
//
// Every git it runs ignores the user's and the system's configuration and
// commits as "gitrepo <gitrepo@example.com>" at a fixed date, so commit
// ids are reproducible. Servers listen on 127.0.0.1 only and stop at the
// test's cleanup.
//
// When git (or one of its helper programs) is missing, the functions skip
// the test, or fail it when the environment variable CI is "true", so that
// a CI machine cannot pass by skipping.
//
// The functions may be called from several tests at once; a Repo is for
// one goroutine.
package gitfixture

import (
	"bytes"
	"fmt"
	"net"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/citest/gitrepo"
)

// The identity and date of the commits git makes here (gitrepo's).
const (
	Name  = gitrepo.Name
	Email = gitrepo.Email
	Date  = gitrepo.Date
)

// Env returns the environment the git commands run with: the process's,
// without GIT_* variables, plus a fixed identity and date and no user or
// system configuration.
func Env() []string { return gitrepo.Env() }

// missing skips tb, or fails it on CI, because what is unavailable.
func missing(tb testing.TB, what string, err error) {
	tb.Helper()
	gitrepo.Missing(tb, what+" (make deps installs it)", err)
}

// Need skips tb (fails it on CI) unless the git command is installed.
func Need(tb testing.TB) {
	tb.Helper()
	gitrepo.Need(tb)
}

// Run runs git with args in dir ("" for the current directory) and returns
// its standard output with surrounding space trimmed. The error includes
// git's standard error.
func Run(dir string, args ...string) (string, error) { return gitrepo.Run(dir, args...) }

// Git is Run that fails tb when git fails.
func Git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	Need(tb)
	out, err := Run(dir, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// RevParse returns the commit id rev names in the Git directory gitdir, or
// false if it names none (e.g. a branch that does not exist).
func RevParse(tb testing.TB, gitdir, rev string) (string, bool) {
	tb.Helper()
	Need(tb)
	out, err := Run("", "--git-dir", gitdir, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	return out, err == nil
}

// InitBare creates a bare repository at dir (made if missing), whose HEAD
// names master.
func InitBare(tb testing.TB, dir string) {
	tb.Helper()
	Git(tb, "", "init", "-q", "--bare", "--initial-branch=master", dir)
}

// Repo is a repository with a work tree, for making commits: the public
// ci/citest/gitrepo's.
type Repo = gitrepo.Repo

// NewRepo creates a repository at dir (made if missing) on branch master.
func NewRepo(tb testing.TB, dir string) *Repo {
	tb.Helper()
	return gitrepo.NewAt(tb, dir)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on at the
// moment (and, so, a port where connections are refused).
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// Daemon serves the repositories below root with git daemon on 127.0.0.1
// and returns the base URL ("git://127.0.0.1:PORT"): the repository
// root/a.git is at URL+"/a.git". Every repository is exported; with push,
// they also accept pushes. The daemon is stopped at tb's cleanup.
func Daemon(tb testing.TB, root string, push bool) string {
	tb.Helper()
	Need(tb)
	// The git-daemon program itself, not "git daemon": git would run it as
	// a child that outlives a killed parent.
	daemon := filepath.Join(execPath(tb), "git-daemon")
	if _, err := os.Stat(daemon); err != nil {
		missing(tb, "git daemon", err)
	}
	var lastErr error
	for range 5 { // the free port can be taken before the daemon binds it
		port := FreePort(tb)
		args := []string{"--export-all", "--reuseaddr", "--informative-errors",
			"--base-path=" + root, "--listen=127.0.0.1", "--port=" + strconv.Itoa(port)}
		if push {
			args = append(args, "--enable=receive-pack")
		}
		cmd := exec.Command(daemon, args...)
		cmd.Env = Env()
		var stderr bytes.Buffer // read only once the daemon has exited
		cmd.Stderr = &stderr
		// The daemon's children (one per connection) share its stderr;
		// do not wait for them.
		cmd.WaitDelay = time.Second
		if err := cmd.Start(); err != nil {
			missing(tb, "git daemon", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitListening(addr, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
			continue
		}
		tb.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return "git://" + addr
	}
	tb.Fatalf("gitfixture: starting git daemon: %v", lastErr)
	return ""
}

// waitListening waits until addr accepts connections, the process exits
// or ten seconds pass.
func waitListening(addr string, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("git daemon exited: %v", werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("git daemon not listening on %s: %v", addr, err)
		}
	}
}

// execPath returns git's directory of helper programs.
func execPath(tb testing.TB) string {
	tb.Helper()
	return Git(tb, "", "--exec-path")
}

// HTTP serves the repositories below root with git's smart HTTP protocol
// (git http-backend run by net/http/cgi) on 127.0.0.1 and returns the base
// URL ("http://127.0.0.1:PORT"): the repository root/a.git is at
// URL+"/a.git". Every repository is exported; with push, they also accept
// pushes, without authentication. The server is closed at tb's cleanup.
func HTTP(tb testing.TB, root string, push bool) string {
	tb.Helper()
	Need(tb)
	git, err := exec.LookPath("git")
	if err != nil {
		missing(tb, "git", err)
	}
	if git, err = filepath.Abs(git); err != nil {
		tb.Fatal(err)
	}
	backend := filepath.Join(execPath(tb), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		missing(tb, "git http-backend", err)
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + root,
		"GIT_HTTP_EXPORT_ALL=1",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"HOME=" + tb.TempDir(),
	}
	if push {
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true")
	}
	h := &cgi.Handler{Path: git, Args: []string{"http-backend"}, Env: env, Stderr: logWriter{tb, "git http-backend: "}}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// logWriter logs what a server's programs write to their standard error
// (as "Not a git repository" for a missing one) in the test's log.
type logWriter struct {
	tb     testing.TB
	prefix string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(w.prefix + strings.TrimSpace(string(p)))
	return len(p), nil
}
