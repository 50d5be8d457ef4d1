package github_test

import (
	"context"
	"fmt"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

func ExampleParseCapabilities() {
	caps, err := github.ParseCapabilities("*:r,status[ci/datakit]:x,webhook:rw")
	if err != nil {
		panic(err)
	}
	fmt.Println(caps)
	fmt.Println(caps.Check(github.Write, github.Status("ci/datakit/test")), caps.Check(github.Excl, github.Status("ci/datakit/test")))
	fmt.Println(caps.Check(github.Write, github.Status("other/ci")), caps.Check(github.Write, github.PR))
	// Output:
	// *:r,webhook:rw,status[ci/datakit]:x
	// true true
	// false false
}

// A bridge between an in-memory store and the GitHub stand-in: one sync
// brings the repository's branches into the store, and sends the status
// the CI wrote there to GitHub.
func Example() {
	gh := fakegithub.New(fakegithub.Options{})
	defer gh.Close()
	token, _ := gh.AddUser("alice")
	gh.CreateRepo("alice/proj", fakegithub.RepoOptions{})
	head := "1111111111111111111111111111111111111111"
	gh.Push("alice/proj", fakegithub.Push{Ref: "refs/heads/main", SHA: head})

	ctx := context.Background()
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	repo := bridge.Repo{User: "alice", Name: "proj"}
	b, err := github.New(store, github.GitHub{URL: gh.URL(), Token: token}, github.Options{Monitor: []bridge.Repo{repo}})
	if err != nil {
		panic(err)
	}
	b.Sync(ctx)
	r, _, _ := bridge.Snapshot(ctx, store, bridge.DefaultBranch)
	ref, _, _ := bridge.ReadRef(ctx, r, repo, "heads/main")
	fmt.Println("main:", ref.Head[:7])

	// The CI writes a status.
	br, _ := store.Branch(bridge.DefaultBranch)
	tx, _ := br.Transaction(ctx, dkstore.TxOptions{})
	bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: head, Context: "ci/datakit/test", State: "success", Description: "Passed"})
	tx.Commit(ctx, "CI")
	b.Sync(ctx)
	sts, _ := gh.Statuses("alice/proj", head)
	fmt.Println("on GitHub:", sts[0].Context, sts[0].State, sts[0].Description)
	// Output:
	// main: 1111111
	// on GitHub: ci/datakit/test success Passed
}
