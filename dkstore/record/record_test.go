package record_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/record"
)

// TestReference follows the original bindings' TestConfig: values written
// to master reach typed fields, Wait reports changes field by field, an
// unparsable value counts as the default, and schema upgrades rewrite the
// defaults without touching master's values.
func TestReference(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		r := open(t, s.rec, testOptions)
		write(t, s.other, "master", map[string]string{"tests/name": "hello", "tests/ncpu": "1", "tests/running": "true"})

		nameF := stringField(t, r, "name", "hello")
		ncpuF := intField(t, r, "ncpu", 1)
		runningF := boolField(t, r, "running", true)
		seal(t, r)

		name, nameV := nameF.Get()
		ncpu, ncpuV := ncpuF.Get()
		running, runningV := runningF.Get()
		if name != "hello" || ncpu != 1 || !running {
			t.Fatalf("Get() = %q, %d, %t; want hello, 1, true", name, ncpu, running)
		}
		if nameF.HasChanged(nameV) || ncpuF.HasChanged(ncpuV) || runningF.HasChanged(runningV) {
			t.Fatal("a field has changed with nothing written")
		}

		write(t, s.other, "master", map[string]string{"tests/name": "there"})
		wait(t, r)
		if !nameF.HasChanged(nameV) {
			t.Fatal("name has not changed")
		}
		if name, _ = nameF.Get(); name != "there" {
			t.Errorf("name = %q, want there", name)
		}
		if ncpuF.HasChanged(ncpuV) || runningF.HasChanged(runningV) {
			t.Error("ncpu or running changed with name")
		}

		write(t, s.other, "master", map[string]string{"tests/ncpu": "5\n"})
		wait(t, r)
		if !ncpuF.HasChanged(ncpuV) {
			t.Fatal("ncpu has not changed")
		}
		if ncpu, ncpuV = ncpuF.Get(); ncpu != 5 {
			t.Errorf("ncpu = %d, want 5", ncpu)
		}

		// "rubbish" does not parse: running stays at its default, which
		// is no change, so only the second commit ends the Wait.
		write(t, s.other, "master", map[string]string{"tests/running": "rubbish"})
		write(t, s.other, "master", map[string]string{"tests/name": "again"})
		wait(t, r)
		if runningF.HasChanged(runningV) {
			running, _ = runningF.Get()
			t.Errorf("running changed to %t on an unparsable value", running)
		}
		if running, _ = runningF.Get(); !running {
			t.Error("running = false, want the default true")
		}
		if name, _ = nameF.Get(); name != "again" {
			t.Errorf("name = %q, want again", name)
		}

		// A no-op upgrade, then a real one: master's 5 stays.
		if up, err := r.Upgrade(ctx, 1); err != nil || up {
			t.Fatalf("Upgrade(1) = %t, %v; want false, nil", up, err)
		}
		v := r.Version()
		if up, err := r.Upgrade(ctx, 2); err != nil || !up {
			t.Fatalf("Upgrade(2) = %t, %v; want true, nil", up, err)
		}
		if got := r.SchemaVersion(); got != 2 {
			t.Errorf("SchemaVersion() = %d, want 2", got)
		}
		if ncpuF.HasChanged(ncpuV) {
			t.Error("ncpu changed by an upgrade though master sets it")
		}
		if got, ok := read(t, s.other, "defaults", "tests/schema-version"); got != "2" || !ok {
			t.Errorf("defaults: schema-version = %q, want 2", got)
		}
		if r.Version() == v {
			t.Error("the upgrade made no new version though schema-version changed")
		}
		if up, err := r.Upgrade(ctx, 2); err != nil || up {
			t.Fatalf("Upgrade(2) again = %t, %v; want false, nil", up, err)
		}

		// Without master's value, ncpu falls back to the default.
		write(t, s.other, "master", map[string]string{"tests/ncpu": ""})
		wait(t, r)
		if ncpu, _ = ncpuF.Get(); ncpu != 1 {
			t.Errorf("ncpu = %d after its removal from master, want the default 1", ncpu)
		}
	})
}

// TestChangeDefaults follows the original's TestChangeDefaults: a new
// default replaces the old one in the defaults branch, and Get returns it.
func TestChangeDefaults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		const key = "change-default-key"
		r := open(t, s.rec, testOptions)
		f := stringField(t, r, key, "hello")
		seal(t, r)
		if got, _ := read(t, s.other, "defaults", "tests/"+key); got != "hello" {
			t.Errorf("defaults: %s = %q, want hello", key, got)
		}
		if got, _ := f.Get(); got != "hello" {
			t.Errorf("Get() = %q, want hello", got)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}

		r = open(t, s.rec, testOptions)
		f = stringField(t, r, key, "there")
		seal(t, r)
		if got, _ := read(t, s.other, "defaults", "tests/"+key); got != "there" {
			t.Errorf("defaults: %s = %q, want there", key, got)
		}
		if got, _ := f.Get(); got != "there" {
			t.Errorf("Get() = %q, want there", got)
		}
	})
}

// TestPriority: a key is read from the first lookup branch that has it;
// a change hidden by a higher-priority branch changes nothing.
func TestPriority(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		r := open(t, s.rec, record.Options{
			Lookup:   []dkstore.BranchName{"user", "admin", "defaults"},
			Defaults: "defaults",
			Dir:      "app",
		})
		mode := stringField(t, r, "mode", "fast")
		other := intField(t, r, "other", 0)
		_, v0 := mode.Get()
		steps := []struct {
			branch dkstore.BranchName
			value  string // "" removes it
			want   string
		}{
			{"admin", "safe", "safe"},
			{"user", "turbo", "turbo"},
			{"user", "", "safe"},
			{"admin", "", "fast"},
		}
		for _, st := range steps {
			write(t, s.other, st.branch, map[string]string{"app/mode": st.value})
			wait(t, r)
			got, v := mode.Get()
			if got != st.want || v <= v0 {
				t.Fatalf("after %s/mode=%q: Get() = %q, version %d; want %q, a version above %d", st.branch, st.value, got, v, st.want, v0)
			}
			v0 = v
		}

		// Hidden by user's value, admin's change is no change; the next
		// visible one (other) ends the Wait.
		write(t, s.other, "user", map[string]string{"app/mode": "turbo"})
		wait(t, r)
		_, v0 = mode.Get()
		write(t, s.other, "admin", map[string]string{"app/mode": "safe"})
		write(t, s.other, "user", map[string]string{"app/other": "7"})
		wait(t, r)
		if mode.HasChanged(v0) {
			t.Error("mode changed with a value hidden by a higher-priority branch")
		}
		if got, _ := other.Get(); got != 7 {
			t.Errorf("other = %d, want 7", got)
		}
	})
}

// TestState: the state branch mirrors the effective values, as Get
// returns them, with one commit per evaluation that changes something.
func TestState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		r := open(t, s.rec, testOptions)
		write(t, s.other, "master", map[string]string{"tests/ncpu": " 4 \n", "tests/running": "maybe", "tests/name": "  spaced\n"})
		intField(t, r, "ncpu", 1)
		boolField(t, r, "running", true)
		stringField(t, r, "name", "x")
		hello := "hello"
		opt, err := r.StringRefField(ctx, "opt", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.StringRefField(ctx, "greeting", &hello); err != nil {
			t.Fatal(err)
		}
		seal(t, r)
		for p, want := range map[string]string{"ncpu": "4", "running": "true", "name": "spaced", "greeting": "hello", "schema-version": "1"} {
			if got, ok := read(t, s.other, "state", "tests/"+p); got != want || !ok {
				t.Errorf("state: %s = %q (present: %t), want %q", p, got, ok, want)
			}
		}
		if got, ok := read(t, s.other, "state", "tests/opt"); ok {
			t.Errorf("state: opt = %q, want no file", got)
		}
		if got, _ := opt.Get(); got != nil {
			t.Errorf("opt = %q, want nil", *got)
		}

		h := head(t, s.other, "state")
		seal(t, r)
		if got := head(t, s.other, "state"); got != h {
			t.Errorf("Seal with no change committed to state: %s, want %s", got, h)
		}

		write(t, s.other, "master", map[string]string{"tests/opt": "set\n", "tests/ncpu": "8"})
		wait(t, r)
		if got, _ := opt.Get(); got == nil || *got != "set" {
			t.Errorf("opt = %v, want set", got)
		}
		for p, want := range map[string]string{"ncpu": "8", "opt": "set"} {
			if got, _ := read(t, s.other, "state", "tests/"+p); got != want {
				t.Errorf("state: %s = %q, want %q", p, got, want)
			}
		}
		c, err := s.other.Commit(ctx, head(t, s.other, "state"))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Parents) != 1 || c.Parents[0] != h {
			t.Errorf("state after one change: parents %v, want one commit on %s", c.Parents, h)
		}
	})
}

// TestSet: Set and SetMultiple write into the first lookup branch (one
// commit for SetMultiple), and the fields see the values at the next Wait.
func TestSet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		r := open(t, s.rec, testOptions)
		name := stringField(t, r, "name", "a")
		ncpu := intField(t, r, "ncpu", 1)
		debug := boolField(t, r, "debug", false)
		opt, err := r.StringRefField(ctx, "sub/opt", nil)
		if err != nil {
			t.Fatal(err)
		}
		seal(t, r)

		before := head(t, s.other, "master")
		x := "x"
		if err := r.SetMultiple(ctx, "Resize", name.To("b"), ncpu.To(4), debug.To(true), opt.To(&x)); err != nil {
			t.Fatalf("SetMultiple() = %v", err)
		}
		after := head(t, s.other, "master")
		c, err := s.other.Commit(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Parents) != 1 || c.Parents[0] != before || c.Message != "Resize" {
			t.Errorf("SetMultiple made commit %q with parents %v, want one commit \"Resize\" on %s", c.Message, c.Parents, before)
		}
		changes, err := s.other.Diff(ctx, before, after)
		if err != nil || len(changes) != 4 {
			t.Errorf("Diff() = %v, %v; want the four fields", changes, err)
		}
		v := wait(t, r)
		gotName, vn := name.Get()
		gotNcpu, vc := ncpu.Get()
		gotDebug, vd := debug.Get()
		gotOpt, vo := opt.Get()
		if gotName != "b" || gotNcpu != 4 || !gotDebug || gotOpt == nil || *gotOpt != "x" {
			t.Errorf("after SetMultiple: %q, %d, %t, %v", gotName, gotNcpu, gotDebug, gotOpt)
		}
		if vn != v || vc != v || vd != v || vo != v {
			t.Errorf("versions %d, %d, %d, %d; want all %d", vn, vc, vd, vo, v)
		}

		if err := ncpu.Set(ctx, "more", 6); err != nil {
			t.Fatalf("Set() = %v", err)
		}
		c, err = s.other.Commit(ctx, head(t, s.other, "master"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Message != "Unconditionally set ncpu: more" {
			t.Errorf("Set's commit message = %q", c.Message)
		}
		if err := opt.Set(ctx, "unset", nil); err != nil {
			t.Fatalf("Set(nil) = %v", err)
		}
		if _, ok := read(t, s.other, "master", "tests/sub/opt"); ok {
			t.Error("Set(nil) left the key in master")
		}
		// Two commits: a Wait may end at the first; Seal sees both.
		seal(t, r)
		if got, _ := ncpu.Get(); got != 6 {
			t.Errorf("ncpu = %d, want 6", got)
		}
		if got, _ := opt.Get(); got != nil {
			t.Errorf("opt = %q, want nil", *got)
		}

		// Setting the current value makes no commit.
		h := head(t, s.other, "master")
		if err := ncpu.Set(ctx, "same", 6); err != nil {
			t.Fatal(err)
		}
		if got := head(t, s.other, "master"); got != h {
			t.Error("Set of the current value made a commit")
		}
	})
}

// TestRestart: a second start of the program finds its branches and
// schema version, and makes no commit when nothing changed.
func TestRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		r := open(t, s.rec, testOptions)
		for _, b := range []dkstore.BranchName{"master", "defaults", "state"} {
			if _, ok := read(t, s.other, b, record.BranchCreated); !ok {
				t.Errorf("branch %s has no %s", b, record.BranchCreated)
			}
		}
		intField(t, r, "ncpu", 2)
		seal(t, r)
		if up, err := r.Upgrade(ctx, 3); err != nil || !up {
			t.Fatalf("Upgrade(3) = %t, %v", up, err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		heads := map[dkstore.BranchName]dkstore.CommitID{}
		for _, b := range []dkstore.BranchName{"master", "defaults", "state"} {
			heads[b] = head(t, s.other, b)
		}

		r = open(t, s.rec, testOptions)
		intField(t, r, "ncpu", 2)
		seal(t, r)
		if got := r.SchemaVersion(); got != 3 {
			t.Errorf("SchemaVersion() after a restart = %d, want 3", got)
		}
		if up, err := r.Upgrade(ctx, 3); err != nil || up {
			t.Errorf("Upgrade(3) after a restart = %t, %v; want false, nil", up, err)
		}
		for b, h := range heads {
			if got := head(t, s.other, b); got != h {
				t.Errorf("a restart with nothing changed moved %s", b)
			}
		}
	})
}

// TestUpgradeRemoves: an upgrade writes every default, and removes a key
// whose default is nil from the defaults branch.
func TestUpgradeRemoves(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		r := open(t, s.rec, testOptions)
		opt, err := r.StringRefField(ctx, "opt", nil)
		if err != nil {
			t.Fatal(err)
		}
		n := intField(t, r, "n", 3)
		seal(t, r)
		// Someone edits the defaults branch by hand.
		write(t, s.other, "defaults", map[string]string{"tests/opt": "stale", "tests/n": "9"})
		wait(t, r)
		if got, _ := opt.Get(); got == nil || *got != "stale" {
			t.Fatalf("opt = %v, want stale", got)
		}
		if up, err := r.Upgrade(ctx, 2); err != nil || !up {
			t.Fatalf("Upgrade(2) = %t, %v", up, err)
		}
		if got, _ := opt.Get(); got != nil {
			t.Errorf("opt = %q after the upgrade, want nil", *got)
		}
		if got, _ := n.Get(); got != 3 {
			t.Errorf("n = %d after the upgrade, want its default 3", got)
		}
		if _, ok := read(t, s.other, "defaults", "tests/opt"); ok {
			t.Error("the upgrade left opt in the defaults branch")
		}
	})
}

// TestRootDir: a record at the root of its branches.
func TestRootDir(t *testing.T) {
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	r := open(t, s, record.Options{Lookup: []dkstore.BranchName{"config"}, Defaults: "config"})
	f := intField(t, r, "port", 5640)
	if got, _ := read(t, s, "config", "port"); got != "5640" {
		t.Errorf("config: port = %q, want 5640", got)
	}
	write(t, s, "config", map[string]string{"port": "80"})
	wait(t, r)
	if got, _ := f.Get(); got != 80 {
		t.Errorf("port = %d, want 80", got)
	}
}

// TestErrors: bad options and keys, a key declared twice, a closed record,
// a cancelled Wait.
func TestErrors(t *testing.T) {
	ctx := t.Context()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	for name, opts := range map[string]record.Options{
		"no lookup":      {Defaults: "d"},
		"bad branch":     {Lookup: []dkstore.BranchName{"a..b"}, Defaults: "d"},
		"no defaults":    {Lookup: []dkstore.BranchName{"a"}},
		"bad state":      {Lookup: []dkstore.BranchName{"a"}, Defaults: "d", State: "/x"},
		"bad dir":        {Lookup: []dkstore.BranchName{"a"}, Defaults: "d", Dir: "a//b"},
		"dir with a dot": {Lookup: []dkstore.BranchName{"a"}, Defaults: "d", Dir: "../b"},
	} {
		if _, err := record.New(ctx, s, opts); !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("New(%s) = %v, want ErrInvalid", name, err)
		}
	}

	r, err := record.New(ctx, s, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "/a", "a/", "a//b", "..", "a/./b", "a\x00"} {
		if _, err := r.IntField(ctx, key, 1); !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("IntField(%q) = %v, want ErrInvalid", key, err)
		}
	}
	intField(t, r, "a/b", 1)
	if _, err := r.StringField(ctx, "a/b", "x"); !errors.Is(err, dkstore.ErrExist) {
		t.Errorf("a key declared twice: %v, want ErrExist", err)
	}
	if _, err := r.StringField(ctx, record.SchemaKey, "x"); !errors.Is(err, dkstore.ErrExist) {
		t.Errorf("declaring %s: %v, want ErrExist", record.SchemaKey, err)
	}

	r2 := open(t, s, testOptions)
	f2 := intField(t, r2, "n", 1)
	if err := r.SetMultiple(ctx, "wrong", f2.To(2)); !errors.Is(err, dkstore.ErrInvalid) {
		t.Errorf("SetMultiple with another record's field = %v, want ErrInvalid", err)
	}
	if err := r.SetMultiple(ctx, "zero", record.Assignment{}); !errors.Is(err, dkstore.ErrInvalid) {
		t.Errorf("SetMultiple with a zero Assignment = %v, want ErrInvalid", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait() with nothing changing = %v, want DeadlineExceeded", err)
	}

	blocked := make(chan error, 1)
	go func() {
		_, err := r.Wait(ctx)
		blocked <- err
	}()
	if err := r.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := <-blocked; !errors.Is(err, dkstore.ErrClosed) {
		t.Errorf("a blocked Wait after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Wait(ctx); !errors.Is(err, dkstore.ErrClosed) {
		t.Errorf("Wait() after Close = %v, want ErrClosed", err)
	}
	if _, err := r.IntField(ctx, "late", 1); !errors.Is(err, dkstore.ErrClosed) {
		t.Errorf("IntField() after Close = %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
}

// flakyStore fails the transactions on one branch while fail is set.
type flakyStore struct {
	dkstore.Store
	branch dkstore.BranchName
	fail   atomic.Bool
}

type flakyBranch struct {
	dkstore.Branch
	s *flakyStore
}

func (s *flakyStore) Branch(name dkstore.BranchName) (dkstore.Branch, error) {
	b, err := s.Store.Branch(name)
	if err != nil || name != s.branch {
		return b, err
	}
	return flakyBranch{b, s}, nil
}

func (b flakyBranch) Transaction(ctx context.Context, opts dkstore.TxOptions) (dkstore.Transaction, error) {
	if b.s.fail.Load() {
		return nil, errors.New("injected failure")
	}
	return b.Branch.Transaction(ctx, opts)
}

// TestStateWriteFailure: a change whose state write fails is written to
// the state branch by the next Wait, though no value changes then.
func TestStateWriteFailure(t *testing.T) {
	mem := dkstore.NewMemory(dkstore.Options{})
	defer mem.Close()
	s := &flakyStore{Store: mem, branch: "state"}
	r := open(t, s, testOptions)
	n := intField(t, r, "n", 1)
	seal(t, r)

	s.fail.Store(true)
	write(t, mem, "master", map[string]string{"tests/n": "2"})
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if _, err := r.Wait(ctx); err == nil {
		t.Fatal("Wait() succeeded though the state branch cannot be written")
	}
	if got, _ := n.Get(); got != 2 {
		t.Errorf("n = %d, want 2", got)
	}
	s.fail.Store(false)
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait() with nothing new = %v, want DeadlineExceeded", err)
	}
	if got, _ := read(t, mem, "state", "tests/n"); got != "2" {
		t.Errorf("state: n = %q after the failure, want 2", got)
	}
}

// TestDefaultsNotLookedUp: with a defaults branch that is not a lookup
// branch, the defaults are written there and Get falls back to the
// program's own defaults; an upgrade still takes effect.
func TestDefaultsNotLookedUp(t *testing.T) {
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	r := open(t, s, record.Options{Lookup: []dkstore.BranchName{"master"}, Defaults: "defaults", Dir: "app"})
	f := intField(t, r, "n", 4)
	seal(t, r)
	if got, _ := read(t, s, "defaults", "app/n"); got != "4" {
		t.Errorf("defaults: n = %q, want 4", got)
	}
	if got, _ := f.Get(); got != 4 {
		t.Errorf("n = %d, want 4", got)
	}
	v := r.Version()
	if up, err := r.Upgrade(t.Context(), 5); err != nil || !up {
		t.Fatalf("Upgrade(5) = %t, %v", up, err)
	}
	if got := r.SchemaVersion(); got != 5 || r.Version() == v {
		t.Errorf("SchemaVersion() = %d at version %d, want 5 at a version above %d", got, r.Version(), v)
	}
}

// TestLogUnparsable: a value that does not parse is logged, with its key
// and text, and the field keeps its default.
func TestLogUnparsable(t *testing.T) {
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	var buf bytes.Buffer
	opts := testOptions
	opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	write(t, s, "master", map[string]string{"tests/ncpu": "lots"})
	r := open(t, s, opts)
	if got, _ := intField(t, r, "ncpu", 3).Get(); got != 3 {
		t.Errorf("ncpu = %d, want the default 3", got)
	}
	if log := buf.String(); !strings.Contains(log, "does not parse") || !strings.Contains(log, "key=ncpu") || !strings.Contains(log, "value=lots") {
		t.Errorf("log = %q, want a warning naming ncpu and lots", log)
	}
}

// TestLogUnparsableOnce: a value that does not parse is logged once, not
// at each evaluation (a program printed the same warning six times at
// start, and again at every commit to the branch); once it parses again,
// a new bad value is logged again.
func TestLogUnparsableOnce(t *testing.T) {
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	var buf bytes.Buffer
	opts := testOptions
	opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	write(t, s, "master", map[string]string{"tests/ncpu": "lots"})
	r := open(t, s, opts)
	f := intField(t, r, "ncpu", 3)
	intField(t, r, "other", 1)
	seal := func() {
		t.Helper()
		if err := r.Seal(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	seal()
	write(t, s, "master", map[string]string{"tests/other": "2"})
	seal()
	if n := strings.Count(buf.String(), "does not parse"); n != 1 {
		t.Errorf("%d warnings for one bad value, want 1:\n%s", n, &buf)
	}
	write(t, s, "master", map[string]string{"tests/ncpu": "4"})
	seal()
	if got, _ := f.Get(); got != 4 {
		t.Fatalf("ncpu = %d, want 4", got)
	}
	write(t, s, "master", map[string]string{"tests/ncpu": "lots"})
	seal()
	if n := strings.Count(buf.String(), "does not parse"); n != 2 {
		t.Errorf("%d warnings after a bad, a good and a bad value, want 2:\n%s", n, &buf)
	}
}
