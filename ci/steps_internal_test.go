package ci

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/term"
)

type nopStep struct{}

func (nopStep) RebuildBranch(context.Context, dkstore.Store, string) (bool, error) { return false, nil }
func (nopStep) Cancel(string) bool                                                 { return false }

// The engine forgets steps no evaluation has used for an hour.
func TestStepsForgotten(t *testing.T) {
	now := time.Unix(0, 0)
	s := &steps{m: map[string]stepEntry{}, clock: func() time.Time { return now }}
	ctx := context.WithValue(context.Background(), stepsKey{}, s)
	c, _ := term.Run(ctx, nil, term.New(func(c *term.Ctx) term.Result[*term.Ctx] {
		return term.Result[*term.Ctx]{State: term.Success, Value: c}
	}))
	RegisterStep(c.Value, "old", nopStep{})
	now = now.Add(2 * time.Hour)
	for i := 0; i < 1100; i++ {
		RegisterStep(c.Value, fmt.Sprint("b", i%10), nopStep{})
	}
	if s.get("old") != nil {
		t.Error("a step unused for two hours is still registered")
	}
	if s.get("b3") == nil {
		t.Error("a step in use was dropped")
	}
}

// A status the store refuses is dropped with an error logged; the other
// statuses of the round are written all the same.
func TestInvalidStatusDropped(t *testing.T) {
	ctx := context.Background()
	repo := Repo{User: "me", Name: "p"}
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	w := newStatusWriter(bridge.DefaultBranch, slog.Default(), nil)
	good := statusKey{repo, "1111111111111111111111111111111111111111", "build"}
	bad := statusKey{repo, "not-a-sha", "build"}
	w.set(good, write{value: statusValue{state: "success", descr: "ok"}})
	w.set(bad, write{value: statusValue{state: "success", descr: "ok"}})
	if w.flush(ctx, store) {
		t.Fatal("the writer retries a round that can never succeed")
	}
	if !w.idle() {
		t.Errorf("writes left queued: %v", w.queued)
	}
	if _, ok := w.written[bad]; ok {
		t.Error("the refused status is recorded as written")
	}
	br, _ := store.Branch(bridge.DefaultBranch)
	head, err := br.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := store.Commit(ctx, head)
	tree, _ := store.Tree(ctx, c.Tree)
	st, ok, err := bridge.ReadStatus(ctx, tree, repo, good.commit, StatusContextPrefix+"build")
	if err != nil || !ok || st.State != "success" {
		t.Errorf("good status: %+v %v %v", st, ok, err)
	}
}

func TestTrimDescr(t *testing.T) {
	for in, want := range map[string]string{
		"Built":                        "Built",
		"  two\nlines ":                "two…",
		"exited: \x1b[31mred\x1b[0m\r": "exited: red",
		"\x1b]0;title\x07bell\x07 and \x1b[2Kclear": "bell and clear",
		"tab\there":              "tab\there",
		strings.Repeat("é", 200): strings.Repeat("é", 40) + "…" + strings.Repeat("é", 99),
		// A failure keeps its reason whole; the command is abbreviated.
		`Command "sh" "-c" "` + strings.Repeat("x", 150) + `" exited with status 1: no license header in ./extra.go`: `Command "sh" "-c" "` +
			strings.Repeat("x", 139-len(`Command "sh" "-c" "`)-len(": no license header in ./extra.go")) + "…: no license header in ./extra.go",
		// A reason with colons of its own is kept whole.
		`Command "` + strings.Repeat("x", 150) + `" exited with status 1: ./extra.go:3: no license header`: `Command "` +
			strings.Repeat("x", 139-len(`Command "`)-len(": ./extra.go:3: no license header")) + "…: ./extra.go:3: no license header",
		// A reason too long to keep whole keeps its end.
		"Failed: " + strings.Repeat("a", 100) + strings.Repeat("b", 100): "Failed: " + strings.Repeat("a", 32) + "…" + strings.Repeat("b", 99),
	} {
		if got := trimDescr(in); got != want {
			t.Errorf("trimDescr(%q) = %q, want %q", in, got, want)
		}
		if n := utf8.RuneCountInString(trimDescr(in)); n > maxDescr {
			t.Errorf("trimDescr(%q) has %d characters, want at most %d", in, n, maxDescr)
		}
	}
}

// namedStep is a step with a size, so that its pointers differ.
type namedStep struct {
	nopStep
	name string
}

// funcStep is a step of a type that == cannot compare.
type funcStep struct{ f func() }

func (funcStep) RebuildBranch(context.Context, dkstore.Store, string) (bool, error) {
	return false, nil
}
func (funcStep) Cancel(string) bool { return false }

// A second step on a branch that another step used within the hour is
// reported, once per branch; the same step again, a step of a type that
// cannot be compared, or an owner unused for longer are not.
func TestStepsDuplicate(t *testing.T) {
	now := time.Unix(0, 0)
	s := &steps{m: map[string]stepEntry{}, clock: func() time.Time { return now }}
	// Distinct pointers (pointers to zero-size values may be equal).
	a, b, c := &namedStep{name: "a"}, &namedStep{name: "b"}, &namedStep{name: "c"}
	for _, r := range []struct {
		branch string
		step   Step
		later  time.Duration
		want   bool
	}{
		{"x", a, 0, false},
		{"x", a, 0, false},
		{"x", b, 0, true},
		{"x", c, 0, false}, // reported already
		{"y", funcStep{}, 0, false},
		{"y", funcStep{}, 0, false},
		{"z", a, 0, false},
		{"z", b, 2 * stepTTL, false}, // a has not used it for two hours
	} {
		now = now.Add(r.later)
		if got := s.register(r.branch, r.step); got != r.want {
			t.Errorf("register(%s, %p) = %v, want %v", r.branch, r.step, got, r.want)
		}
	}
}
