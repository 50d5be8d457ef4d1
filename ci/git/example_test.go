package git_test

import (
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/term"
)

// A job that fetches each target's head and runs make test in a fresh
// checkout of it. The Remote is made once, at the top of the program.
func ExampleRemote() {
	src := git.NewRemote("https://github.com/me/my-project", "/var/lib/ci/git", git.Options{})
	test := src.Command("test", git.CommandOptions{}, []string{"make", "test"})
	config := ci.Config{Projects: []ci.Project{{
		Repo: "me/my-project",
		Jobs: func(t ci.Target) ci.Jobs {
			return ci.Jobs{"test": term.Then(term.Bind(src.Fetch(t.Commit()), test), "Tests passed")}
		},
	}}}
	_ = config // cimain.Main(config)
}
