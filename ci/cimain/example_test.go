package cimain_test

import (
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/term"
)

// A whole CI program: one project, one job. Run it with --help for its
// flags.
func ExampleMain() {
	cimain.Main(ci.Config{Projects: []ci.Project{{
		Repo: "me/my-project",
		Jobs: func(ci.Target) ci.Jobs { return ci.Jobs{"my-test": term.Return("Success!")} },
	}}})
}
