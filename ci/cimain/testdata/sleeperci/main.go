// Command sleeperci is a CI for the tests of package cimain: one job runs
// a long-lived command (with a child in the background) through ci/git's
// Command step, in a pool of capacity 1. Its settings come from the
// environment:
//
//	SLEEPERCI_SRC    the Git repository of project me/app (a path or URL)
//	SLEEPERCI_WORK   the work directory of the mirror
//	SLEEPERCI_TOKEN  a value put in the command's environment as
//	                 SLEEPERCI_MARK, by which a test finds its processes
package main

import (
	"os"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cache"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/ci/git"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

func main() { cimain.Main(config) }

func config() ci.Config {
	sleepers := pool.New("sleepers", 1, nil)
	remote := git.NewRemote(os.Getenv("SLEEPERCI_SRC"), os.Getenv("SLEEPERCI_WORK"), git.Options{})
	sleep := remote.Command("sleep", git.CommandOptions{Options: cache.Options{Pool: sleepers}, Env: []string{"SLEEPERCI_MARK=" + os.Getenv("SLEEPERCI_TOKEN")}},
		[]string{"sh", "-c", "sleep 300 & sleep 300"})
	return ci.Config{
		Name:  "sleeperci",
		Pools: []*pool.Pool{sleepers},
		Projects: []ci.Project{{Repo: "me/app", Jobs: func(t ci.Target) ci.Jobs {
			return ci.Jobs{"sleep": term.Then(term.Bind(remote.Fetch(t.Commit()), sleep), "Slept")}
		}}},
	}
}
