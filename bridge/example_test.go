package bridge_test

import (
	"context"
	"fmt"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// A bridge writes a PR and a branch; the CI reads them and reports a
// status.
func Example() {
	ctx := context.Background()
	s := dkstore.NewMemory(dkstore.Options{})
	defer s.Close()
	if err := bridge.Init(ctx, s, bridge.DefaultBranch); err != nil {
		panic(err)
	}
	repo, _ := bridge.ParseRepo("docker/datakit")
	head := "0123456789abcdef0123456789abcdef01234567"

	b, _ := s.Branch(bridge.DefaultBranch)
	tx, _ := b.Transaction(ctx, dkstore.TxOptions{})
	bridge.SetMonitored(ctx, tx, repo)
	bridge.WritePR(ctx, tx, bridge.PR{Repo: repo, Number: 7, Head: head, State: "open", Title: "Fix it", Owner: "alice", Base: "master"})
	bridge.WriteRef(ctx, tx, bridge.Ref{Repo: repo, Name: "heads/master", Head: head})
	bridge.WriteStatus(ctx, tx, bridge.Status{Repo: repo, Commit: head, Context: "ci/datakit/test", State: "success"})
	if _, err := tx.Commit(ctx, "example"); err != nil {
		panic(err)
	}

	r, _, _ := bridge.Snapshot(ctx, s, bridge.DefaultBranch)
	repos, _ := bridge.Monitored(ctx, r)
	for _, repo := range repos {
		prs, _ := bridge.ReadPRs(ctx, r, repo)
		for _, pr := range prs {
			fmt.Printf("%s#%d %s %q by %s into %s\n", repo, pr.Number, pr.State, pr.Title, pr.Owner, pr.Base)
		}
		refs, _ := bridge.ReadRefs(ctx, r, repo)
		for _, ref := range refs {
			fmt.Printf("%s %s at %.7s\n", repo, ref.Name, ref.Head)
			sts, _ := bridge.ReadStatuses(ctx, r, repo, ref.Head)
			for _, st := range sts {
				fmt.Printf("  %s: %s\n", st.Context, st.State)
			}
		}
	}
	loc, _ := bridge.Locate(bridge.StatusPath(repo, head, "ci/datakit/test").Join("state"))
	fmt.Println(loc.Kind, loc.Context)
	// Output:
	// docker/datakit#7 open "Fix it" by alice into master
	// docker/datakit heads/master at 0123456
	//   ci/datakit/test: success
	// status ci/datakit/test
}
