package citest_test

import (
	"testing"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
)

// A step can go through any sequence of outcomes, finished ones included
// (a rebuild), and the job's status follows.
func TestStepSequence(t *testing.T) {
	step := citest.NewStep[string]("Building")
	h := citest.New(t, ci.Config{Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
		return ci.Jobs{"build": step.Term()}
	}}}})
	h.SetBranch("me/p", "master", sha1)
	h.Settle()
	for _, c := range []struct {
		change func()
		state  ci.State
		descr  string
	}{
		{func() {}, ci.Pending, "Building"},
		{func() { step.Succeed("Built") }, ci.Success, "Built"},
		{func() { step.Pend("Rebuilding") }, ci.Pending, "Rebuilding"},
		{func() { step.Fail("Compile error") }, ci.Failure, "Compile error"},
		{func() { step.Error("Docker is down") }, ci.Error, "Docker is down"},
		{func() { step.Succeed("Built again") }, ci.Success, "Built again"},
	} {
		c.change()
		h.Settle()
		h.WantStatus("me/p", sha1, "build", c.state, c.descr)
	}
	if n := step.Evals(); n != 6 {
		t.Errorf("step evaluated %d times, want 6 (once per change)", n)
	}
}
