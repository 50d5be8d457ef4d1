package term_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dkgo/datakit/term"
)

// step is a stand-in for a source of package ci (a fetch, a build): a term
// that succeeds with v and carries the log of one step titled title.
func step[T any](title string, v T) term.Term[T] {
	return term.New(func(*term.Ctx) term.Result[T] {
		return term.Result[T]{State: term.Success, Value: v, Logs: []term.Log{{Title: title}}}
	})
}

// waitAny blocks until one of the events a pending result waits for fires:
// what the engine does between two evaluations of a job.
func waitAny(events []*term.Event) {
	ch := make(chan struct{}, len(events))
	for _, e := range events {
		e.Subscribe(func() { ch <- struct{}{} })
	}
	<-ch
}

// A small job: build the commit, run the unit tests and vet in the image,
// and report a status once both passed. The build takes time: the job is
// pending until it is done, and the engine evaluates it again when it is.
func Example() {
	buildDone := make(chan struct{})
	build := func(commit string) term.Term[string] {
		return term.Async("build-"+commit, "Building "+commit, func(ctx context.Context) (string, error) {
			select {
			case <-buildDone: // the build finishes
				return "image-of-" + commit, nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		})
	}
	run := func(cmd string) func(string) term.Term[string] {
		return func(image string) term.Term[string] { return step(cmd+" in "+image, "ok") }
	}

	commit := step("Fetch", "abc123")
	image := term.Bind(commit, build)
	unit := term.Bind(image, run("go test"))
	vet := term.Bind(image, run("go vet"))
	job := term.Then(term.WaitForAll(term.Named("unit", unit), term.Named("vet", vet)), "All checks passed")

	env := term.NewEnv(context.Background()) // one per job and head
	defer env.Close(errors.New("job dropped"))

	r, deps := term.Run(context.Background(), env, job)
	fmt.Println(r)

	close(buildDone)
	waitAny(deps.Events) // the engine sleeps until the build has news
	r, _ = term.Run(context.Background(), env, job)
	fmt.Println(r)
	// Output:
	// pending: Waiting for unit, vet
	// success: All checks passed
}

func ExampleReturn() {
	job := term.Return("Success!")
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r.State, r.Value)
	// Output: success Success!
}

func ExampleFailf() {
	job := term.Failf[string]("%d tests failed", 3)
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output: failure: 3 tests failed
}

func ExampleErrorf() {
	// Errorf is for failures of the infrastructure, not of the code under
	// test: the status is "error".
	job := term.Errorf[string]("Docker daemon not reachable")
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r, r.State.Failed())
	// Output: error: Docker daemon not reachable true
}

func ExamplePendingf() {
	job := term.Pendingf[string]("Waiting for %s", "approval")
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output: pending: Waiting for approval
}

func ExampleStateOf() {
	// StateOf always succeeds: its value says how the term went.
	tests := term.Failf[int]("2 tests failed")
	report := term.Map(term.StateOf(tests), func(r term.Result[int]) string {
		return "tests: " + r.String()
	})
	r, _ := term.Run(context.Background(), nil, report)
	fmt.Println(r)
	// Output: success: tests: failure: 2 tests failed
}

func ExampleOfState() {
	// OfState is StateOf's inverse: after inspecting an outcome, give it back.
	tests := step("Run tests", 42)
	job := term.Bind(term.StateOf(tests), func(r term.Result[int]) term.Term[int] {
		return term.OfState(r)
	})
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r, term.Describe(r.Logs))
	// Output: success: 42 Run tests
}

func ExampleCatch() {
	// Catch lets a pipeline react to a failure; a pending term stays pending.
	flaky := term.Failf[string]("race detected")
	job := term.Map(term.Catch(flaky), func(r term.Result[string]) string {
		if r.State.Failed() {
			return "Known flaky test failed: " + r.Msg
		}
		return r.Value
	})
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)

	r2, _ := term.Run(context.Background(), nil, term.Catch(term.Pendingf[string]("Waiting for a runner")))
	fmt.Println(r2)
	// Output:
	// success: Known flaky test failed: race detected
	// pending: Waiting for a runner
}

func ExampleMap() {
	count := term.Return(17)
	job := term.Map(count, func(n int) string { return fmt.Sprintf("%d tests passed", n) })
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output: success: 17 tests passed
}

func ExampleThen() {
	build := step("Build", "sha256:1234")
	job := term.Then(build, "Build succeeded")
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output: success: Build succeeded
}

func ExampleBind() {
	// Bind feeds one step's value to the next: test the image that the
	// build produced. If the build fails, the tests are not evaluated.
	build := step("Build", "img1")
	test := func(image string) term.Term[string] { return step("Test in "+image, "PASS") }
	job := term.Bind(build, test)
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r, "|", term.Describe(r.Logs))

	broken := term.Bind(term.Failf[string]("Dockerfile: syntax error"), test)
	r, _ = term.Run(context.Background(), nil, broken)
	fmt.Println(r)
	// Output:
	// success: PASS | Build, Test in img1
	// failure: Dockerfile: syntax error
}

func ExampleJoin() {
	// Join flattens a term whose value is itself a term, e.g. a step
	// chosen from the configuration read from the commit.
	choose := term.Map(term.Return("make"), func(tool string) term.Term[string] {
		return step(tool+" test", tool+" test passed")
	})
	r, _ := term.Run(context.Background(), nil, term.Join(choose))
	fmt.Println(r)
	// Output: success: make test passed
}

func ExamplePair() {
	// Both sides are evaluated every time, so their work goes on in
	// parallel. If either is not a success, the first one's outcome wins.
	unit := step("Unit tests", 120)
	lint := step("Lint", "clean")
	r, _ := term.Run(context.Background(), nil, term.Pair(unit, lint))
	fmt.Println(r.Value.A, r.Value.B, "|", term.Describe(r.Logs))

	r2, _ := term.Run(context.Background(), nil, term.Pair(term.Pendingf[int]("Waiting for a runner"), term.Failf[string]("lint errors")))
	fmt.Println(r2)
	// Output:
	// 120 clean | Unit tests, Lint
	// pending: Waiting for a runner
}

func ExampleAll() {
	platforms := term.All(step("linux", "linux ok"), step("darwin", "darwin ok"), step("windows", "windows ok"))
	r, _ := term.Run(context.Background(), nil, platforms)
	fmt.Println(strings.Join(r.Value, ", "))
	// Output: linux ok, darwin ok, windows ok
}

func ExampleMapList() {
	test := func(goVersion string) term.Term[string] {
		if goVersion == "1.20" {
			return term.Failf[string]("go %s: build failed", goVersion)
		}
		return step("go "+goVersion, goVersion+" ok")
	}
	r, _ := term.Run(context.Background(), nil, term.MapList([]string{"1.25", "1.26"}, test))
	fmt.Println(r)
	r, _ = term.Run(context.Background(), nil, term.MapList([]string{"1.20", "1.26"}, test))
	fmt.Println(r)
	// Output:
	// success: [1.25 ok 1.26 ok]
	// failure: go 1.20: build failed
}

func ExampleWithoutLogs() {
	// The "all" job waits for "unit", whose logs unit's own job shows
	// already.
	unit := step("Unit tests", "ok")
	all := term.WithoutLogs(term.Then(unit, "All passed"))
	r, _ := term.Run(context.Background(), nil, all)
	fmt.Println(r, len(r.Logs))
	// Output: success: All passed 0
}

func ExampleWaitFor() {
	build := term.Pendingf[string]("Building abc123")
	job := term.WaitFor(build, "Waiting for the build job", "The build job failed")
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)

	job = term.WaitFor(term.Failf[string]("exit status 2"), "Waiting for the build job", "The build job failed")
	r, _ = term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output:
	// pending: Waiting for the build job
	// failure: The build job failed
}

func ExampleWaitForAll() {
	unit := term.Return("ok")
	vet := term.Pendingf[string]("Running go vet")
	lint := term.Pendingf[int]("Running lint")
	job := term.WaitForAll(term.Named("unit", unit), term.Named("vet", vet), term.Named("lint", lint))
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)

	job = term.WaitForAll(term.Named("unit", term.Failf[string]("boom")), term.Named("vet", vet))
	r, _ = term.Run(context.Background(), nil, job)
	fmt.Println(r)

	job = term.WaitForAll(term.Named("unit", term.Failf[string]("boom")), term.Named("vet", term.Failf[int]("bad")))
	r, _ = term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output:
	// pending: Waiting for vet, lint
	// pending: unit failed (still waiting for vet)
	// failure: unit, vet failed
}

func ExampleNamed() {
	// Named terms may have different value types.
	job := term.Then(term.WaitForAll(
		term.Named("image", term.Return("sha256:1234")),
		term.Named("tests", term.Return(120)),
	), "Release ready")
	r, _ := term.Run(context.Background(), nil, job)
	fmt.Println(r)
	// Output: success: Release ready
}

func ExampleGate() {
	// Deploy only from master: while the gate is closed, the deployment is
	// not evaluated at all, so none of its work starts.
	deploy := func(branch string) term.Term[string] {
		isMaster := term.Return(branch == "master")
		return term.Gate(isMaster, "Deploys only from master", step("Deploy", "Deployed"))
	}
	r, _ := term.Run(context.Background(), nil, deploy("feature"))
	fmt.Println(r)
	r, _ = term.Run(context.Background(), nil, deploy("master"))
	fmt.Println(r)
	// Output:
	// pending: Deploys only from master
	// success: Deployed
}

func ExampleRetry() {
	// A fetch whose first try hits a network outage (an infrastructure
	// error). Each attempt runs in a scope of its own, so the second
	// attempt starts the fetch anew.
	tries := 0
	answer := make(chan struct{}, 1) // the network answers once we have looked
	fetch := term.Async("fetch", "Fetching", func(context.Context) (string, error) {
		<-answer
		tries++
		if tries == 1 {
			return "", term.Infra(errors.New("connection refused"))
		}
		return "abc123", nil
	})
	job := term.Retry(fetch, 3)

	env := term.NewEnv(context.Background())
	defer env.Close(nil)
	for {
		r, deps := term.Run(context.Background(), env, job)
		fmt.Println(r)
		if r.State != term.Pending {
			break
		}
		answer <- struct{}{}
		waitAny(deps.Events)
	}
	// Output:
	// pending: Fetching
	// pending: Fetching (attempt 2 of 3)
	// success: abc123
}

func ExampleRetryIf() {
	// Retry a known-flaky failure of the code under test too.
	runs := 0
	flaky := term.New(func(*term.Ctx) term.Result[string] {
		runs++
		if runs < 3 {
			return term.Result[string]{State: term.Failure, Msg: "TestNetwork timed out"}
		}
		return term.Result[string]{State: term.Success, Value: "PASS"}
	})
	timedOut := func(r term.Result[string]) bool { return strings.HasSuffix(r.Msg, "timed out") }
	r, _ := term.Run(context.Background(), nil, term.RetryIf(flaky, 5, timedOut))
	fmt.Println(r, "after", runs, "runs")
	// Output: success: PASS after 3 runs
}

func ExampleAsync() {
	// Async runs slow work in the background, once per job: evaluation
	// never blocks. The term is pending until the work is done; the event
	// in the result's dependencies tells the engine when to look again.
	release := make(chan struct{})
	build := term.Async("docker-build", "Building image", func(ctx context.Context) (string, error) {
		<-release
		return "sha256:1234", nil
	})

	env := term.NewEnv(context.Background())
	defer env.Close(nil)
	r, deps := term.Run(context.Background(), env, build)
	fmt.Println(r, len(deps.Events))

	close(release)
	<-deps.Events[0].Done()
	r, deps = term.Run(context.Background(), env, build)
	fmt.Println(r, len(deps.Events))
	// Output:
	// pending: Building image 1
	// success: sha256:1234 0
}

func ExampleEnv_Close() {
	// Closing the environment (the job was dropped, its head moved on)
	// cancels its background work; the cause becomes the message.
	build := term.Async("build", "Building", func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	env := term.NewEnv(context.Background())
	_, deps := term.Run(context.Background(), env, build)

	env.Close(errors.New("head moved to def456"))
	<-deps.Events[0].Done()
	r, _ := term.Run(context.Background(), env, build)
	fmt.Println(r)
	// Output: error: Cancelled: head moved to def456
}

func ExampleRun() {
	// Run is what the engine does once per job and round: evaluate, and
	// learn what the result depended on.
	branchHead := func(branch string) term.Term[string] {
		return term.New(func(c *term.Ctx) term.Result[string] {
			c.Depend("heads/" + branch)
			return term.Result[string]{State: term.Success, Value: "abc123"}
		})
	}
	job := term.Map(term.Pair(branchHead("master"), branchHead("dev")), func(t term.Tuple[string, string]) string {
		return "master at " + t.A + ", dev at " + t.B
	})
	r, deps := term.Run(context.Background(), term.NewEnv(context.Background()), job)
	fmt.Println(r)
	fmt.Println(deps.Keys)
	// Output:
	// success: master at abc123, dev at abc123
	// [heads/dev heads/master]
}

func ExampleCtx_Depend() {
	// A source records the inputs it read, so that the engine re-evaluates
	// the job when, and only when, one of them changes.
	prs := map[int]string{7: "abc123"}
	prHead := func(n int) term.Term[string] {
		return term.New(func(c *term.Ctx) term.Result[string] {
			c.Depend(fmt.Sprintf("me/repo/pr/%d/head", n))
			head, ok := prs[n]
			if !ok {
				return term.Result[string]{State: term.Failure, Msg: fmt.Sprintf("PR %d does not exist", n)}
			}
			return term.Result[string]{State: term.Success, Value: head}
		})
	}
	_, deps := term.Run(context.Background(), nil, prHead(7))
	fmt.Println(deps.Keys)
	// Output: [me/repo/pr/7/head]
}

func ExampleCtx_WakeOn() {
	// A source waiting for something outside the engine (an approval, a
	// webhook) returns Pending and records an event to be woken by.
	approved := term.NewEvent()
	approval := term.New(func(c *term.Ctx) term.Result[string] {
		if approved.Fired() {
			return term.Result[string]{State: term.Success, Value: "Approved"}
		}
		c.WakeOn(approved)
		return term.Result[string]{State: term.Pending, Msg: "Waiting for approval"}
	})
	r, deps := term.Run(context.Background(), nil, approval)
	fmt.Println(r, deps.Events[0] == approved)
	approved.Fire()
	r, _ = term.Run(context.Background(), nil, approval)
	fmt.Println(r)
	// Output:
	// pending: Waiting for approval true
	// success: Approved
}

func ExampleCtx_Memo() {
	// Memo keeps state for a job across evaluations, per environment.
	evaluations := term.New(func(c *term.Ctx) term.Result[int] {
		n := c.Memo("count", func() any { return new(int) }).(*int)
		*n++
		return term.Result[int]{State: term.Success, Value: *n}
	})
	env := term.NewEnv(context.Background())
	defer env.Close(nil)
	for range 3 {
		r, _ := term.Run(context.Background(), env, evaluations)
		fmt.Print(r.Value, " ")
	}
	fmt.Println()
	// Output: 1 2 3
}

func ExampleEvent() {
	e := term.NewEvent()
	woken := make(chan string, 1)
	e.Subscribe(func() { woken <- "recalculate" })
	e.Fire()
	fmt.Println(<-woken, e.Fired())
	e.Fire() // a second Fire does nothing
	<-e.Done()
	// Output: recalculate true
}

func ExampleNew() {
	// New makes a source. It must not block: see Async for slow work.
	env := func(name string) term.Term[string] {
		return term.New(func(c *term.Ctx) term.Result[string] {
			c.Depend("config/" + name)
			v, ok := map[string]string{"GOOS": "linux"}[name]
			if !ok {
				return term.Result[string]{State: term.Failure, Msg: name + " is not set"}
			}
			return term.Result[string]{State: term.Success, Value: v}
		})
	}
	r, _ := term.Run(context.Background(), nil, env("GOOS"))
	fmt.Println(r)
	r, _ = term.Run(context.Background(), nil, env("GOARCH"))
	fmt.Println(r)
	// Output:
	// success: linux
	// failure: GOARCH is not set
}

func ExampleFromError() {
	fmt.Println(term.FromError("abc123", nil))
	fmt.Println(term.FromError("", errors.New("exit status 1")))
	fmt.Println(term.FromError("", term.Infra(errors.New("no space left on device"))))
	// Output:
	// success: abc123
	// failure: exit status 1
	// error: no space left on device
}

func ExampleInfra() {
	err := fmt.Errorf("clone me/repo: %w", term.Infra(errors.New("connection reset")))
	fmt.Println(term.IsInfra(err), term.IsInfra(errors.New("tests failed")))
	// Output: true false
}

func ExampleDescribe() {
	r, _ := term.Run(context.Background(), nil, term.Pair(step("Build", 1), step("Test", 2)))
	fmt.Println(term.Describe(r.Logs))
	// Output: Build, Test
}
