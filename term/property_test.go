package term_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dkgo/datakit/term"
)

// The property test builds random trees of combinators over leaves with
// random outcomes, evaluates them, and compares with a model written
// independently of the implementation: the outcome (state, message,
// value), the logs in order, and the keys of exactly the leaves that were
// evaluated (so Bind's and Gate's short-circuits are checked too).

type kind int

const (
	kLeaf kind = iota
	kZero      // the zero Term
	kMap
	kPair
	kAll
	kBind
	kJoin
	kWithoutLogs
	kCatch
	kStateOf
	kWaitFor
	kWaitForAll
	kGate
	kRetry
	nKinds
)

var kindNames = [...]string{"leaf", "zero", "Map", "Pair", "All", "Bind", "Join", "WithoutLogs", "Catch", "StateOf", "WaitFor", "WaitForAll", "Gate", "Retry"}

type node struct {
	kind   kind
	kids   []*node
	id     int
	st     term.State // leaves
	val    int        // leaves
	logged bool       // leaves: carries a log
}

func (n *node) String() string {
	switch n.kind {
	case kLeaf:
		return fmt.Sprintf("%s#%d(%d)", n.st, n.id, n.val)
	case kZero:
		return "zero"
	}
	var kids []string
	for _, k := range n.kids {
		kids = append(kids, k.String())
	}
	return kindNames[n.kind] + "(" + strings.Join(kids, ", ") + ")"
}

type gen struct {
	r    *rand.Rand
	next int
}

func (g *gen) tree(depth int) *node {
	g.next++
	id := g.next
	if depth == 0 || g.r.IntN(4) == 0 {
		if g.r.IntN(30) == 0 {
			return &node{kind: kZero, id: id}
		}
		return &node{kind: kLeaf, id: id, st: term.State(g.r.IntN(4)), val: g.r.IntN(14) - 3, logged: g.r.IntN(3) > 0}
	}
	k := kind(2 + g.r.IntN(int(nKinds)-2))
	arity := map[kind]int{kMap: 1, kWithoutLogs: 1, kCatch: 1, kStateOf: 1, kWaitFor: 1, kRetry: 1, kPair: 2, kBind: 2, kJoin: 2, kGate: 2}[k]
	if k == kAll || k == kWaitForAll {
		arity = g.r.IntN(5) // 0 to 4 children
		if k == kWaitForAll && g.r.IntN(8) == 0 {
			arity = 11 + g.r.IntN(2) // exercise "N tasks"
		}
	}
	n := &node{kind: k, id: id}
	for range arity {
		n.kids = append(n.kids, g.tree(depth-1))
	}
	return n
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// build makes the term a node describes.
func build(n *node) term.Term[int] {
	switch n.kind {
	case kZero:
		return term.Term[int]{}
	case kLeaf:
		return term.New(func(c *term.Ctx) term.Result[int] {
			c.Depend(fmt.Sprintf("k%03d", n.id))
			r := term.Result[int]{State: n.st, Value: n.val}
			if n.st != term.Success {
				r.Value, r.Msg = 0, fmt.Sprintf("%s %d", n.st, n.id)
			}
			if n.logged {
				r.Logs = []term.Log{{Title: fmt.Sprint("l", n.id)}}
			}
			return r
		})
	case kMap:
		return term.Map(build(n.kids[0]), func(x int) int { return x + 1 })
	case kPair:
		return term.Map(term.Pair(build(n.kids[0]), build(n.kids[1])), func(t term.Tuple[int, int]) int { return t.A + t.B })
	case kAll:
		var ts []term.Term[int]
		for _, k := range n.kids {
			ts = append(ts, build(k))
		}
		return term.Map(term.All(ts...), sum)
	case kBind:
		y := build(n.kids[1])
		return term.Bind(build(n.kids[0]), func(v int) term.Term[int] {
			return term.Map(y, func(w int) int { return v + w })
		})
	case kJoin:
		y := build(n.kids[1])
		return term.Join(term.Map(build(n.kids[0]), func(v int) term.Term[int] {
			return term.Map(y, func(w int) int { return v * w })
		}))
	case kWithoutLogs:
		return term.WithoutLogs(build(n.kids[0]))
	case kCatch:
		return term.Map(term.Catch(build(n.kids[0])), func(r term.Result[int]) int {
			if r.State == term.Success {
				return r.Value
			}
			return -100 * int(r.State)
		})
	case kStateOf:
		return term.Map(term.StateOf(build(n.kids[0])), func(r term.Result[int]) int { return 1000 * int(r.State) })
	case kWaitFor:
		return term.Then(term.WaitFor(build(n.kids[0]), "wait p", "wait f"), 7)
	case kWaitForAll:
		var ts []term.NamedTerm
		for _, k := range n.kids {
			ts = append(ts, term.Named(fmt.Sprint("n", k.id), build(k)))
		}
		return term.Then(term.WaitForAll(ts...), 8)
	case kGate:
		cond := term.Map(build(n.kids[0]), func(x int) bool { return x > 0 })
		return term.Gate(cond, "gate closed", build(n.kids[1]))
	case kRetry:
		return term.Retry(build(n.kids[0]), 2)
	}
	panic("unknown kind")
}

// want is the model's prediction of a node's result.
type want struct {
	st   term.State
	val  int
	msg  string
	logs []string
	keys []string // in evaluation order, with repeats
}

func (w want) failed(msg string) want {
	w.msg = msg
	return w
}

func model(n *node) want {
	switch n.kind {
	case kZero:
		return want{st: term.Failure, msg: "uninitialised term"}
	case kLeaf:
		w := want{st: n.st, keys: []string{fmt.Sprintf("k%03d", n.id)}}
		if n.st == term.Success {
			w.val = n.val
		} else {
			w.msg = fmt.Sprintf("%s %d", n.st, n.id)
		}
		if n.logged {
			w.logs = []string{fmt.Sprint("l", n.id)}
		}
		return w
	case kMap:
		w := model(n.kids[0])
		if w.st == term.Success {
			w.val++
		}
		return w
	case kPair, kAll:
		// Every child evaluated; the first non-success, in order, wins.
		var out want
		var first *want
		var vals []int
		for _, k := range n.kids {
			w := model(k)
			out.logs = append(out.logs, w.logs...)
			out.keys = append(out.keys, w.keys...)
			vals = append(vals, w.val)
			if w.st != term.Success && first == nil {
				first = &w
			}
		}
		if first != nil {
			out.st, out.msg = first.st, first.msg
		} else {
			out.val = sum(vals)
		}
		return out
	case kBind, kJoin:
		x := model(n.kids[0])
		if x.st != term.Success {
			return x
		}
		y := model(n.kids[1])
		y.logs = append(slices.Clone(x.logs), y.logs...)
		y.keys = append(slices.Clone(x.keys), y.keys...)
		if y.st == term.Success {
			if n.kind == kBind {
				y.val += x.val
			} else {
				y.val *= x.val
			}
		}
		return y
	case kWithoutLogs:
		w := model(n.kids[0])
		w.logs = nil
		return w
	case kCatch:
		w := model(n.kids[0])
		switch w.st {
		case term.Pending:
		case term.Success:
		default:
			w.st, w.val, w.msg = term.Success, -100*int(w.st), ""
		}
		return w
	case kStateOf:
		w := model(n.kids[0])
		w.st, w.val, w.msg = term.Success, 1000*int(w.st), ""
		return w
	case kWaitFor:
		w := model(n.kids[0])
		switch w.st {
		case term.Success:
			w.val = 7
		case term.Pending:
			w.msg = "wait p"
		default:
			w.msg = "wait f"
		}
		return w
	case kWaitForAll:
		var out want
		var pend, fail []string
		allInfra := true
		for _, k := range n.kids {
			w := model(k)
			out.logs = append(out.logs, w.logs...)
			out.keys = append(out.keys, w.keys...)
			name := fmt.Sprint("n", k.id)
			switch w.st {
			case term.Pending:
				pend = append(pend, name)
			case term.Failure:
				allInfra = false
				fail = append(fail, name)
			case term.Error:
				fail = append(fail, name)
			}
		}
		list := func(ns []string) string {
			if len(ns) > 10 {
				return fmt.Sprint(len(ns), " tasks")
			}
			return strings.Join(ns, ", ")
		}
		switch {
		case len(pend) == 0 && len(fail) == 0:
			out.val = 8
		case len(fail) == 0:
			out.st, out.msg = term.Pending, "Waiting for "+list(pend)
		case len(pend) == 0:
			out.st, out.msg = term.Failure, list(fail)+" failed"
			if allInfra {
				out.st = term.Error
			}
		default:
			out.st, out.msg = term.Pending, list(fail)+" failed (still waiting for "+list(pend)+")"
		}
		return out
	case kGate:
		c := model(n.kids[0])
		if c.st != term.Success {
			return c
		}
		if c.val <= 0 { // the condition is child > 0
			return want{st: term.Pending, msg: "gate closed", logs: c.logs, keys: c.keys}
		}
		b := model(n.kids[1])
		b.logs = append(slices.Clone(c.logs), b.logs...)
		b.keys = append(slices.Clone(c.keys), b.keys...)
		return b
	case kRetry:
		w := model(n.kids[0])
		if w.st != term.Error {
			return w
		}
		// Leaves are deterministic: the second attempt errs the same way.
		w.logs = append(slices.Clone(w.logs), w.logs...)
		w.keys = append(slices.Clone(w.keys), w.keys...)
		return w.failed(w.msg + " (attempt 2 of 2)")
	}
	panic("unknown kind")
}

func TestRandomTrees(t *testing.T) {
	trees := 3000
	if testing.Short() {
		trees = 300
	}
	for seed := range uint64(trees) {
		g := &gen{r: rand.New(rand.NewPCG(seed, 42))}
		n := g.tree(5)
		x := build(n)
		w := model(n)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("seed %d: %v panicked: %v", seed, n, p)
				}
			}()
			for round := range 2 { // evaluating twice gives the same
				r, d := term.Run(bg, newEnv(t), x)
				if r.State != w.st || (w.st == term.Success && r.Value != w.val) || (w.st != term.Success && r.Msg != w.msg) {
					t.Fatalf("seed %d round %d: %v\n= %v (value %d)\nwant %v %q (value %d)", seed, round, n, r, r.Value, w.st, w.msg, w.val)
				}
				if got := titles(r.Logs); !reflect.DeepEqual(got, append([]string{}, w.logs...)) {
					t.Fatalf("seed %d: %v\nlogs %q\nwant %q", seed, n, got, w.logs)
				}
				keys := slices.Compact(slices.Sorted(slices.Values(w.keys)))
				if !reflect.DeepEqual(d.Keys, keys) && (len(d.Keys) != 0 || len(keys) != 0) {
					t.Fatalf("seed %d: %v\nkeys %q\nwant %q", seed, n, d.Keys, keys)
				}
			}
		}()
	}
}
