package ci

import (
	"context"
	"fmt"
	"testing"
	"time"

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
