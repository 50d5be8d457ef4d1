// Command hello is the smallest CI: one project, one job that succeeds.
//
//	go run ./examples/hello --local-repo me/my-project:/path/to/a/git/repo
//
// main_test.go beside it shows how to test a pipeline with ci/citest.
package main

import (
	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/term"
)

// config is the CI: main runs it, main_test.go tests it.
func config() ci.Config {
	return ci.Config{
		Projects: []ci.Project{{
			Repo: "me/my-project",
			Jobs: func(ci.Target) ci.Jobs {
				return ci.Jobs{"my-test": term.Return("Success!")}
			},
		}},
		CanRead:  ci.Everyone(),
		CanBuild: ci.User("admin"),
	}
}

func main() { cimain.Main(config) }
