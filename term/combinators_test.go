package term_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/dkgo/datakit/term"
)

func TestLeaves(t *testing.T) {
	tests := []struct {
		name string
		x    term.Term[int]
		st   term.State
		msg  string
	}{
		{"Return", term.Return(3), term.Success, ""},
		{"Failf", term.Failf[int]("%s failed with %d", "make", 2), term.Failure, "make failed with 2"},
		{"Errorf", term.Errorf[int]("daemon %s", "down"), term.Error, "daemon down"},
		{"Pendingf", term.Pendingf[int]("Waiting for %q", "x"), term.Pending, `Waiting for "x"`},
		{"Failf %%", term.Failf[int]("100%% broken"), term.Failure, "100% broken"},
		{"OfState", term.OfState(term.Result[int]{State: term.Pending, Msg: "later"}), term.Pending, "later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, d := term.Run(bg, nil, tt.x)
			check(t, tt.name, r, tt.st, tt.msg)
			if tt.st == term.Success && r.Value != 3 {
				t.Errorf("%s.Value = %d, want 3", tt.name, r.Value)
			}
			if len(r.Logs) != 0 || len(d.Keys) != 0 || len(d.Events) != 0 {
				t.Errorf("%s: logs %v, deps %+v; want none", tt.name, r.Logs, d)
			}
		})
	}
}

func TestPendingfDoesNotWake(t *testing.T) {
	_, d := term.Run(bg, nil, term.Pendingf[int]("forever"))
	if len(d.Events) != 0 {
		t.Errorf("Pendingf recorded events %v", d.Events)
	}
}

// Catch turns failures (and errors) into values but lets pending through;
// StateOf turns every outcome, pending included, into a value.
func TestCatchVsStateOf(t *testing.T) {
	tests := []struct {
		name  string
		inner term.Term[int]
		catch term.State // Catch's own state
	}{
		{"success", ok(5, "log"), term.Success},
		{"pending", pending[int]("Waiting", "log"), term.Pending},
		{"failure", failure[int]("boom", "log"), term.Success},
		{"error", infra[int]("daemon down", "log"), term.Success},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, _ := term.Run(bg, nil, tt.inner)

			c, _ := term.Run(bg, nil, term.Catch(tt.inner))
			if c.State != tt.catch {
				t.Errorf("Catch(%v).State = %v, want %v", inner, c.State, tt.catch)
			}
			if c.State == term.Pending && c.Msg != inner.Msg {
				t.Errorf("Catch(%v).Msg = %q, want the inner reason", inner, c.Msg)
			}
			if c.State == term.Success && !reflect.DeepEqual(c.Value, inner) {
				t.Errorf("Catch(%v).Value = %v, want the inner result", inner, c.Value)
			}
			if !reflect.DeepEqual(titles(c.Logs), []string{"log"}) {
				t.Errorf("Catch logs = %q, want the inner term's", titles(c.Logs))
			}

			s, _ := term.Run(bg, nil, term.StateOf(tt.inner))
			if s.State != term.Success || !reflect.DeepEqual(s.Value, inner) {
				t.Errorf("StateOf(%v) = %v, want success with the inner result", inner, s)
			}
			if !reflect.DeepEqual(titles(s.Logs), []string{"log"}) {
				t.Errorf("StateOf logs = %q, want the inner term's", titles(s.Logs))
			}
		})
	}
}

// A pending term inside StateOf still wakes the job: its events are
// recorded although StateOf itself succeeds.
func TestStateOfKeepsDeps(t *testing.T) {
	e := term.NewEvent()
	waiting := term.New(func(c *term.Ctx) term.Result[int] {
		c.Depend("k")
		c.WakeOn(e)
		return term.Result[int]{State: term.Pending, Msg: "waiting"}
	})
	r, d := term.Run(bg, nil, term.StateOf(waiting))
	if r.State != term.Success || len(d.Events) != 1 || d.Events[0] != e || !reflect.DeepEqual(d.Keys, []string{"k"}) {
		t.Errorf("StateOf(pending) = %v with deps %+v, want success with the inner term's deps", r, d)
	}
}

func TestOfStateRoundTrip(t *testing.T) {
	for _, inner := range []term.Term[int]{ok(1, "t"), pending[int]("p", "t"), failure[int]("f", "t"), infra[int]("e", "t")} {
		want, _ := term.Run(bg, nil, inner)
		got, _ := term.Run(bg, nil, term.Bind(term.StateOf(inner), term.OfState[int]))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Bind(StateOf(t), OfState) = %+v, want %+v (logs once)", got, want)
		}
		got, _ = term.Run(bg, nil, term.Join(term.Map(term.StateOf(inner), term.OfState[int])))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Join(Map(StateOf(t), OfState)) = %+v, want %+v", got, want)
		}
	}
}

func TestMapAndThen(t *testing.T) {
	calls := 0
	double := func(x int) int { calls++; return 2 * x }
	r, _ := term.Run(bg, nil, term.Map(ok(21, "a"), double))
	if r.State != term.Success || r.Value != 42 || !reflect.DeepEqual(titles(r.Logs), []string{"a"}) {
		t.Errorf("Map(21, double) = %v logs %q, want 42 with a's log", r, titles(r.Logs))
	}
	for _, inner := range []term.Term[int]{pending[int]("p", "a"), failure[int]("f", "a"), infra[int]("e", "a")} {
		calls = 0
		want, _ := term.Run(bg, nil, inner)
		r, _ := term.Run(bg, nil, term.Map(inner, double))
		check(t, "Map", r, want.State, want.Msg)
		if calls != 0 || !reflect.DeepEqual(titles(r.Logs), []string{"a"}) {
			t.Errorf("Map(%v): f called %d times, logs %q", want, calls, titles(r.Logs))
		}
	}
	s, _ := term.Run(bg, nil, term.Then(ok(1, ""), "done"))
	if s.Value != "done" {
		t.Errorf("Then(1, done) = %v", s)
	}
	s, _ = term.Run(bg, nil, term.Then(failure[int]("no", ""), "done"))
	check(t, "Then(failure)", s, term.Failure, "no")
}

func TestBind(t *testing.T) {
	called := 0
	next := func(x int) term.Term[string] {
		called++
		return term.New(func(c *term.Ctx) term.Result[string] {
			c.Depend("second")
			return term.Result[string]{State: term.Success, Value: fmt.Sprint(x + 1), Logs: []term.Log{{Title: "second"}}}
		})
	}
	first := func(st term.State) term.Term[int] {
		return term.New(func(c *term.Ctx) term.Result[int] {
			c.Depend("first")
			return term.Result[int]{State: st, Value: 1, Msg: "first " + st.String(), Logs: []term.Log{{Title: "first"}}}
		})
	}

	r, d := term.Run(bg, nil, term.Bind(first(term.Success), next))
	if r.Value != "2" || called != 1 || !reflect.DeepEqual(titles(r.Logs), []string{"first", "second"}) ||
		!reflect.DeepEqual(d.Keys, []string{"first", "second"}) {
		t.Errorf("Bind(success) = %v, f called %d, logs %q, keys %q", r, called, titles(r.Logs), d.Keys)
	}

	// Short-circuit: f is not called, its deps are not recorded, only the
	// first term's logs remain.
	for _, st := range []term.State{term.Pending, term.Failure, term.Error} {
		called = 0
		r, d := term.Run(bg, nil, term.Bind(first(st), next))
		check(t, "Bind(first "+st.String()+")", r, st, "first "+st.String())
		if called != 0 || !reflect.DeepEqual(d.Keys, []string{"first"}) || !reflect.DeepEqual(titles(r.Logs), []string{"first"}) {
			t.Errorf("Bind(%v): f called %d times, keys %q, logs %q", st, called, d.Keys, titles(r.Logs))
		}
	}

	// The continuation's outcome is the result, with both logs.
	r2, _ := term.Run(bg, nil, term.Bind(first(term.Success), func(int) term.Term[int] { return failure[int]("second failed", "second") }))
	check(t, "Bind(_, failure)", r2, term.Failure, "second failed")
	if !reflect.DeepEqual(titles(r2.Logs), []string{"first", "second"}) {
		t.Errorf("Bind(_, failure) logs = %q", titles(r2.Logs))
	}
}

func TestJoin(t *testing.T) {
	r, _ := term.Run(bg, nil, term.Join(ok(ok(7, "inner"), "outer")))
	if r.Value != 7 || !reflect.DeepEqual(titles(r.Logs), []string{"outer", "inner"}) {
		t.Errorf("Join = %v logs %q", r, titles(r.Logs))
	}
	r, _ = term.Run(bg, nil, term.Join(failure[term.Term[int]]("outer failed", "")))
	check(t, "Join(failure)", r, term.Failure, "outer failed")
}

// outcomes are the leaves Pair and All are tested over.
var outcomes = []struct {
	name string
	st   term.State
}{{"ok", term.Success}, {"pending", term.Pending}, {"failed", term.Failure}, {"errored", term.Error}}

func outcome(i int, name string) term.Term[int] {
	return leaf(outcomes[i].st, 10+i, outcomes[i].name+" "+name, name)
}

func TestPairPrecedence(t *testing.T) {
	for i, a := range outcomes {
		for j, b := range outcomes {
			t.Run(a.name+"/"+b.name, func(t *testing.T) {
				pa, pb := &probe{key: "a"}, &probe{key: "b"}
				r, d := term.Run(bg, nil, term.Pair(probed(pa, outcome(i, "a")), probed(pb, outcome(j, "b"))))
				switch {
				case a.st != term.Success:
					check(t, "Pair", r, a.st, a.name+" a")
				case b.st != term.Success:
					check(t, "Pair", r, b.st, b.name+" b")
				default:
					if r.State != term.Success || r.Value != (term.Tuple[int, int]{A: 10 + i, B: 10 + j}) {
						t.Errorf("Pair = %v, want success (%d, %d)", r, 10+i, 10+j)
					}
				}
				// Both sides are always evaluated, and both logs kept in order.
				if pa.evals.Load() != 1 || pb.evals.Load() != 1 {
					t.Errorf("Pair evaluated a %d times, b %d times, want 1 and 1", pa.evals.Load(), pb.evals.Load())
				}
				if !reflect.DeepEqual(titles(r.Logs), []string{"a", "b"}) || !reflect.DeepEqual(d.Keys, []string{"a", "b"}) {
					t.Errorf("Pair logs %q keys %q, want [a b] for both", titles(r.Logs), d.Keys)
				}
			})
		}
	}
}

func TestAllPrecedence(t *testing.T) {
	// Every combination of three outcomes: the first non-success in order
	// wins; every term is evaluated; all logs are kept in order.
	for i := range outcomes {
		for j := range outcomes {
			for k := range outcomes {
				idx := []int{i, j, k}
				names := []string{"x", "y", "z"}
				var probes []*probe
				var ts []term.Term[int]
				for n, o := range idx {
					p := &probe{key: names[n]}
					probes = append(probes, p)
					ts = append(ts, probed(p, outcome(o, names[n])))
				}
				r, d := term.Run(bg, nil, term.All(ts...))
				wantState, wantMsg := term.Success, ""
				for n, o := range idx {
					if outcomes[o].st != term.Success {
						wantState, wantMsg = outcomes[o].st, outcomes[o].name+" "+names[n]
						break
					}
				}
				what := fmt.Sprintf("All(%s, %s, %s)", outcomes[i].name, outcomes[j].name, outcomes[k].name)
				check(t, what, r, wantState, wantMsg)
				if wantState == term.Success && !reflect.DeepEqual(r.Value, []int{10 + i, 10 + j, 10 + k}) {
					t.Errorf("%s.Value = %v", what, r.Value)
				}
				for n, p := range probes {
					if p.evals.Load() != 1 {
						t.Errorf("%s evaluated %s %d times", what, names[n], p.evals.Load())
					}
				}
				if !reflect.DeepEqual(titles(r.Logs), names) || !reflect.DeepEqual(d.Keys, names) {
					t.Errorf("%s logs %q keys %q, want %q", what, titles(r.Logs), d.Keys, names)
				}
			}
		}
	}
}

func TestAllEmpty(t *testing.T) {
	r, _ := term.Run(bg, nil, term.All[int]())
	if r.State != term.Success || len(r.Value) != 0 {
		t.Errorf("All() = %v, want success with no values", r)
	}
	r2, _ := term.Run(bg, nil, term.MapList(nil, func(string) term.Term[int] { return term.Failf[int]("never") }))
	if r2.State != term.Success || len(r2.Value) != 0 {
		t.Errorf("MapList(nil) = %v, want success with no values", r2)
	}
}

func TestMapList(t *testing.T) {
	var seen []string
	f := func(s string) term.Term[string] {
		seen = append(seen, s)
		if strings.HasPrefix(s, "bad") {
			return failure[string](s+" failed", s)
		}
		return ok(strings.ToUpper(s), s)
	}
	r, _ := term.Run(bg, nil, term.MapList([]string{"a", "b", "c"}, f))
	if !reflect.DeepEqual(r.Value, []string{"A", "B", "C"}) || !reflect.DeepEqual(titles(r.Logs), []string{"a", "b", "c"}) {
		t.Errorf("MapList = %v logs %q", r, titles(r.Logs))
	}
	seen = nil
	r, _ = term.Run(bg, nil, term.MapList([]string{"a", "bad1", "bad2"}, f))
	check(t, "MapList(a, bad1, bad2)", r, term.Failure, "bad1 failed")
	if !reflect.DeepEqual(seen, []string{"a", "bad1", "bad2"}) || !reflect.DeepEqual(titles(r.Logs), []string{"a", "bad1", "bad2"}) {
		t.Errorf("MapList applied f to %q, logs %q; want all three", seen, titles(r.Logs))
	}
}

func TestWithoutLogs(t *testing.T) {
	for _, inner := range []term.Term[int]{ok(1, "a"), pending[int]("p", "a"), failure[int]("f", "a")} {
		want, _ := term.Run(bg, nil, inner)
		r, d := term.Run(bg, nil, term.WithoutLogs(term.Pair(probed(&probe{key: "k"}, inner), ok(2, "b"))))
		check(t, "WithoutLogs", r, want.State, want.Msg)
		if len(r.Logs) != 0 {
			t.Errorf("WithoutLogs(%v) logs = %q", want, titles(r.Logs))
		}
		if !reflect.DeepEqual(d.Keys, []string{"k"}) {
			t.Errorf("WithoutLogs dropped deps: %q", d.Keys)
		}
	}
	// Logs around a WithoutLogs are kept.
	r, _ := term.Run(bg, nil, term.Pair(ok(1, "a"), term.Pair(term.WithoutLogs(ok(2, "hidden")), ok(3, "c"))))
	if !reflect.DeepEqual(titles(r.Logs), []string{"a", "c"}) {
		t.Errorf("logs = %q, want [a c]", titles(r.Logs))
	}
}

func TestLogsOrder(t *testing.T) {
	// A pipeline: fetch, then build, then test and vet in parallel.
	fetch := ok("abc", "fetch")
	build := term.Bind(fetch, func(c string) term.Term[string] { return ok("img-"+c, "build") })
	test := term.Bind(build, func(string) term.Term[int] { return ok(1, "test") })
	vet := term.Bind(build, func(string) term.Term[int] { return ok(2, "vet") })
	r, _ := term.Run(bg, nil, term.All(test, vet))
	want := []string{"fetch", "build", "test", "fetch", "build", "vet"}
	if !reflect.DeepEqual(titles(r.Logs), want) {
		t.Errorf("logs = %q, want %q", titles(r.Logs), want)
	}
	// Logs are copied, not shared: appending to one result does not show
	// in another.
	a := []term.Log{{Title: "a"}}
	shared := term.New(func(*term.Ctx) term.Result[int] { return term.Result[int]{Logs: a[:1:1]} })
	r1, _ := term.Run(bg, nil, term.Pair(shared, ok(1, "x")))
	r2, _ := term.Run(bg, nil, term.Pair(shared, ok(1, "y")))
	if !reflect.DeepEqual(titles(r1.Logs), []string{"a", "x"}) || !reflect.DeepEqual(titles(r2.Logs), []string{"a", "y"}) {
		t.Errorf("logs %q and %q, want [a x] and [a y]", titles(r1.Logs), titles(r2.Logs))
	}
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		inner term.Term[int]
		st    term.State
		msg   string
	}{
		{ok(1, "l"), term.Success, ""},
		{pending[int]("Building", "l"), term.Pending, "Waiting for build"},
		{failure[int]("exit 1", "l"), term.Failure, "Build failed"},
		{infra[int]("daemon down", "l"), term.Error, "Build failed"},
	}
	for _, tt := range tests {
		r, _ := term.Run(bg, nil, term.WaitFor(tt.inner, "Waiting for build", "Build failed"))
		check(t, "WaitFor", r, tt.st, tt.msg)
		if !reflect.DeepEqual(titles(r.Logs), []string{"l"}) {
			t.Errorf("WaitFor logs = %q, want the inner term's", titles(r.Logs))
		}
	}
}

func TestWaitForAllMessages(t *testing.T) {
	many := func(n int, mk func(string) term.NamedTerm) []term.NamedTerm {
		var ts []term.NamedTerm
		for i := range n {
			ts = append(ts, mk(fmt.Sprintf("t%d", i)))
		}
		return ts
	}
	p := func(n string) term.NamedTerm { return term.Named(n, pending[int]("inner reason", n)) }
	f := func(n string) term.NamedTerm { return term.Named(n, failure[string]("inner message", n)) }
	e := func(n string) term.NamedTerm { return term.Named(n, infra[struct{}]("inner error", n)) }
	s := func(n string) term.NamedTerm { return term.Named(n, ok(1.5, n)) }

	tests := []struct {
		name string
		ts   []term.NamedTerm
		st   term.State
		msg  string
	}{
		{"none", nil, term.Success, ""},
		{"all ok", []term.NamedTerm{s("a"), s("b")}, term.Success, ""},
		{"pending", []term.NamedTerm{p("a"), s("x"), p("b")}, term.Pending, "Waiting for a, b"},
		{"failed", []term.NamedTerm{f("a"), s("x"), f("b")}, term.Failure, "a, b failed"},
		{"failed and pending", []term.NamedTerm{f("a"), p("b"), s("x")}, term.Pending, "a failed (still waiting for b)"},
		{"order kept", []term.NamedTerm{p("z"), f("y"), p("x"), f("w")}, term.Pending, "y, w failed (still waiting for z, x)"},
		{"errored only", []term.NamedTerm{e("a"), e("b")}, term.Error, "a, b failed"},
		{"error and failure", []term.NamedTerm{e("a"), f("b")}, term.Failure, "a, b failed"},
		{"error and pending", []term.NamedTerm{e("a"), p("b")}, term.Pending, "a failed (still waiting for b)"},
		{"10 pending", many(10, p), term.Pending, "Waiting for t0, t1, t2, t3, t4, t5, t6, t7, t8, t9"},
		{"11 pending", many(11, p), term.Pending, "Waiting for 11 tasks"},
		{"11 failed", many(11, f), term.Failure, "11 tasks failed"},
		{"11 failed, 2 pending", append(many(11, f), p("x"), p("y")), term.Pending, "11 tasks failed (still waiting for x, y)"},
		{"1 failed, 12 pending", append([]term.NamedTerm{f("x")}, many(12, p)...), term.Pending, "x failed (still waiting for 12 tasks)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := term.Run(bg, nil, term.WaitForAll(tt.ts...))
			check(t, "WaitForAll", r, tt.st, tt.msg)
			// All terms evaluated; all logs kept in order.
			var want []string
			for _, nt := range tt.ts {
				want = append(want, nt.Name)
			}
			if got := titles(r.Logs); len(want) > 0 && !reflect.DeepEqual(got, want) {
				t.Errorf("WaitForAll logs = %q, want %q", got, want)
			}
		})
	}
}

func TestWaitForAllEvaluatesAll(t *testing.T) {
	pa, pb, pc := &probe{key: "a"}, &probe{key: "b"}, &probe{key: "c"}
	_, d := term.Run(bg, nil, term.WaitForAll(
		term.Named("a", probed(pa, failure[int]("x", ""))),
		term.Named("b", probed(pb, pending[string]("y", ""))),
		term.Named("c", probed(pc, ok(true, ""))),
	))
	if pa.evals.Load() != 1 || pb.evals.Load() != 1 || pc.evals.Load() != 1 || !reflect.DeepEqual(d.Keys, []string{"a", "b", "c"}) {
		t.Errorf("WaitForAll evaluated a %d, b %d, c %d times, keys %q", pa.evals.Load(), pb.evals.Load(), pc.evals.Load(), d.Keys)
	}
}

func TestGate(t *testing.T) {
	cond := func(st term.State, open bool) term.Term[bool] {
		return term.New(func(c *term.Ctx) term.Result[bool] {
			c.Depend("cond")
			return term.Result[bool]{State: st, Value: open, Msg: "cond " + st.String(), Logs: []term.Log{{Title: "cond"}}}
		})
	}
	tests := []struct {
		name     string
		cond     term.Term[bool]
		st       term.State
		msg      string
		bodyRuns bool
	}{
		{"open", cond(term.Success, true), term.Success, "", true},
		{"closed", cond(term.Success, false), term.Pending, "Only on master", false},
		{"cond pending", cond(term.Pending, true), term.Pending, "cond pending", false},
		{"cond failed", cond(term.Failure, true), term.Failure, "cond failure", false},
		{"cond errored", cond(term.Error, true), term.Error, "cond error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{key: "body"}
			started := false
			body := probed(p, term.New(func(c *term.Ctx) term.Result[int] {
				c.Memo("work", func() any { started = true; return nil })
				return term.Result[int]{State: term.Success, Value: 9, Logs: []term.Log{{Title: "body"}}}
			}))
			r, d := term.Run(bg, newEnv(t), term.Gate(tt.cond, "Only on master", body))
			check(t, "Gate", r, tt.st, tt.msg)
			wantKeys, wantLogs := []string{"cond"}, []string{"cond"}
			if tt.bodyRuns {
				wantKeys, wantLogs = []string{"body", "cond"}, []string{"cond", "body"}
				if r.Value != 9 {
					t.Errorf("Gate(open).Value = %d, want 9", r.Value)
				}
			}
			if got := p.evals.Load() == 1; got != tt.bodyRuns || started != tt.bodyRuns {
				t.Errorf("body evaluated %d times, work started %v; want evaluated and started: %v", p.evals.Load(), started, tt.bodyRuns)
			}
			if !reflect.DeepEqual(d.Keys, wantKeys) || !reflect.DeepEqual(titles(r.Logs), wantLogs) {
				t.Errorf("Gate keys %q logs %q, want %q and %q", d.Keys, titles(r.Logs), wantKeys, wantLogs)
			}
		})
	}
}

func TestGateClosedStartsNoAsync(t *testing.T) {
	env := newEnv(t)
	started := make(chan struct{}, 1)
	build := term.Async("deploy", "Deploying", func(context.Context) (int, error) { started <- struct{}{}; return 1, nil })
	r, d := term.Run(bg, env, term.Gate(term.Return(false), "Deploys only from master", build))
	check(t, "Gate(closed, Async)", r, term.Pending, "Deploys only from master")
	if len(d.Events) != 0 {
		t.Errorf("closed gate recorded events %v", d.Events)
	}
	select {
	case <-started:
		t.Error("closed gate started the Async work")
	default:
	}
}

// A step that two parts of a job share is listed once in the job's logs
// (the tutorial's job "all" listed "Fetch 1c2d3e4" twice, the self-CI's
// eight times, once per job it waits for); steps without a branch (titles
// only) are kept as they are.
func TestSharedStepLoggedOnce(t *testing.T) {
	step := func(title, branch string) term.Term[int] {
		return term.New(func(c *term.Ctx) term.Result[int] {
			return term.Result[int]{State: term.Success, Value: 1, Logs: []term.Log{{Title: title, Branch: branch}}}
		})
	}
	fetch := step("Fetch", "git-pull-of-1")
	test := term.Bind(fetch, func(int) term.Term[int] { return step("Test", "test-of-1") })
	vet := term.Bind(fetch, func(int) term.Term[int] { return step("Vet", "vet-of-1") })
	note := step("Note", "")
	all := term.WaitForAll(term.Named("test", test), term.Named("vet", vet), term.Named("n1", note), term.Named("n2", note))
	r, _ := term.Run(bg, nil, all)
	if got, want := titles(r.Logs), []string{"Fetch", "Test", "Vet", "Note", "Note"}; !reflect.DeepEqual(got, want) {
		t.Errorf("WaitForAll logs %q, want %q", got, want)
	}
	r2, _ := term.Run(bg, nil, term.Pair(test, vet))
	if got, want := titles(r2.Logs), []string{"Fetch", "Test", "Vet"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Pair logs %q, want %q", got, want)
	}
}
