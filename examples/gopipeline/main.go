// Command gopipeline is a realistic CI for a Go project: for every target it
// checks the commit out, then builds, vets and checks the formatting, with
// at most one Go command at a time, and reports an overall job that waits
// for the three. `make run` runs it on this very checkout:
//
//	go run ./examples/gopipeline --src . --local-repo dkgo/datakit:.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/term"
)

// src is a flag of this program's own: cimain.Main parses it with its
// flags (jobs read it when they run).
var (
	src  = flag.String("src", ".", "where commits are fetched from: a local Git repository or a URL")
	pool = make(chan struct{}, 1) // one Go command at a time
)

func jobs(t ci.Target) ci.Jobs {
	dir := checkout(t.Commit())
	build := term.Bind(dir, run("build", "go", "build", "./..."))
	vet := term.Bind(dir, run("vet", "go", "vet", "./..."))
	gofmt := term.Bind(dir, run("gofmt", "sh", "-c", `test -z "$(gofmt -l .)" || { gofmt -l .; exit 1; }`))
	return ci.Jobs{
		"build": term.Then(build, "Build succeeded"),
		"vet":   term.Then(vet, "Vet passed"),
		"gofmt": term.Then(gofmt, "Formatted"),
		"all": term.Then(term.WaitForAll(term.Named("build", build), term.Named("vet", vet),
			term.Named("gofmt", gofmt)), "All checks passed"),
	}
}

func main() {
	cimain.Main(ci.Config{
		Name:     "gopipeline",
		Projects: []ci.Project{{Repo: "dkgo/datakit", Jobs: jobs}},
		CanRead:  ci.Everyone(),
		CanBuild: ci.User("admin"),
	})
}

// checkout clones the commit into a temporary directory, removed when the
// target's work ends (its head moved, or it went away).
func checkout(c ci.Commit) term.Term[string] {
	return term.Async("checkout", "Checking out "+c.Short(), func(ctx context.Context) (string, error) {
		dir, err := os.MkdirTemp("", "gopipeline-"+c.Short()+"-")
		if err != nil {
			return "", term.Infra(err)
		}
		context.AfterFunc(ctx, func() { os.RemoveAll(dir) })
		if _, err := git(ctx, "", "clone", "--quiet", "--no-checkout", *src, dir); err != nil {
			return "", term.Infra(err)
		}
		if _, err := git(ctx, dir, "checkout", "--quiet", "--detach", c.Hash); err != nil {
			return "", term.Infra(err)
		}
		return dir, nil
	})
}

// run runs a command in the checkout, once per target head.
func run(label string, argv ...string) func(dir string) term.Term[string] {
	return func(dir string) term.Term[string] {
		return term.Async(label, "Running "+label, func(ctx context.Context) (string, error) {
			select {
			case pool <- struct{}{}:
				defer func() { <-pool }()
			case <-ctx.Done():
				return "", ctx.Err()
			}
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Dir = dir
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("%s failed: %s", label, lastLine(out.String(), err))
			}
			return out.String(), nil
		})
	}
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %s", args[0], lastLine(string(out), err))
	}
	return string(out), nil
}

func lastLine(out string, err error) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}
