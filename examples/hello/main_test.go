package main

import (
	"testing"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/citest"
)

// A pipeline is tested with go test: an in-memory store, no Docker, no
// GitHub.
func TestPipeline(t *testing.T) {
	h := citest.New(t, config())
	h.OpenPR("me/my-project", 7, "abc1230000000000000000000000000000000000", "Fix the thing")
	h.Settle() // run the engine until nothing changes
	h.WantStatus("me/my-project", "abc1230000000000000000000000000000000000", "my-test", ci.Success, "Success!")
	h.MoveHead("me/my-project", 7, "def4560000000000000000000000000000000000")
	h.Settle()
	h.WantStatus("me/my-project", "def4560000000000000000000000000000000000", "my-test", ci.Success, "Success!")
}
