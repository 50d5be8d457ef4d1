package github_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/internal/fakegithub"
)

// ghModel drives random changes on the stand-in and remembers the refs
// it made (the stand-in has no listing of them for tests).
type ghModel struct {
	e        *env
	rnd      *rand.Rand
	refs     map[string]string // "heads/x" -> commit
	next     int
	comments bool // AddComment is a change (webhooks do not carry it)
}

func newGHModel(e *env, seed uint64) *ghModel {
	m := &ghModel{e: e, rnd: rand.New(rand.NewPCG(seed, 7)), refs: map[string]string{}, next: 100}
	m.pushRef("heads/main", m.commit())
	return m
}

func (m *ghModel) commit() string { m.next++; return sha(m.next) }

func (m *ghModel) pushRef(name, commit string) {
	m.e.t.Helper()
	p := fakegithub.Push{Ref: "refs/" + name, SHA: commit}
	if commit != "" && m.rnd.IntN(3) == 0 && name[:5] == "tags/" {
		p.TagMessage = "Annotated"
	}
	if err := m.e.gh.Push(repoName, p); err != nil {
		m.e.t.Fatal(err)
	}
	if commit == "" {
		delete(m.refs, name)
	} else {
		m.refs[name] = commit
	}
}

// branches returns the branch names, sorted.
func (m *ghModel) branches() []string {
	var bs []string
	for name := range m.refs {
		if name[:6] == "heads/" {
			bs = append(bs, name[6:])
		}
	}
	sort.Strings(bs)
	return bs
}

// step makes one random change on GitHub.
func (m *ghModel) step() {
	e := m.e
	prs, _ := e.gh.PRs(repoName, "all")
	pick := func(xs []string) string { return xs[m.rnd.IntN(len(xs))] }
	switch m.rnd.IntN(9) {
	case 0: // new or moved branch
		m.pushRef(fmt.Sprintf("heads/b%d", m.rnd.IntN(6)), m.commit())
	case 1: // delete a branch (not main)
		if bs := m.branches(); len(bs) > 1 {
			if b := pick(bs); b != "main" {
				m.pushRef("heads/"+b, "")
			}
		}
	case 2: // a tag
		m.pushRef(fmt.Sprintf("tags/v%d", m.rnd.IntN(3)), m.refs["heads/main"])
	case 3: // open a PR
		bs := m.branches()
		if b := pick(bs); b != "main" {
			e.gh.OpenPR(repoName, fakegithub.NewPR{Title: fmt.Sprintf("PR from %s", b), Head: b, Body: "body " + b})
		}
	case 4: // edit a PR
		if len(prs) > 0 {
			title := fmt.Sprintf("title %d", m.rnd.IntN(100))
			e.gh.EditPR(repoName, prs[m.rnd.IntN(len(prs))], fakegithub.PREdit{Title: &title})
		}
	case 5: // close or reopen a PR
		if len(prs) > 0 {
			state := []string{"open", "closed"}[m.rnd.IntN(2)]
			e.gh.EditPR(repoName, prs[m.rnd.IntN(len(prs))], fakegithub.PREdit{State: &state})
		}
	case 6, 7: // a status of a head, by another CI
		var heads []string
		for _, c := range m.refs {
			heads = append(heads, c)
		}
		sort.Strings(heads)
		e.gh.SetStatus(repoName, pick(heads), fakegithub.Status{
			State:   []string{"pending", "success", "failure", "error"}[m.rnd.IntN(4)],
			Context: []string{"other/ci", "lint", "default"}[m.rnd.IntN(3)], Description: fmt.Sprint(m.rnd.IntN(10)),
		})
	case 8:
		if m.comments && len(prs) > 0 {
			e.gh.AddComment(repoName, prs[m.rnd.IntN(len(prs))], "", fmt.Sprintf("comment %d", m.rnd.IntN(100)))
		}
	}
}

// want is the metadata GitHub's state should give.
func (m *ghModel) want(withComments bool) (prs map[int]bridge.PR, refs map[string]string, statuses map[string]map[string]string) {
	e := m.e
	e.t.Helper()
	prs = map[int]bridge.PR{}
	open, _ := e.gh.PRs(repoName, "open")
	heads := map[string]bool{}
	for _, n := range open {
		p, _ := e.gh.PR(repoName, n)
		pr := bridge.PR{Repo: e.repo, Number: n, Head: p.HeadSHA, State: "open", Title: p.Title, Owner: p.User, Base: p.Base}
		if withComments {
			pr.Comments = []bridge.Comment{{ID: 0, User: p.User, Body: p.Body}}
			for _, c := range p.Comments {
				pr.Comments = append(pr.Comments, bridge.Comment{ID: c.ID, User: c.User, Body: c.Body})
			}
		}
		prs[n] = pr
		heads[p.HeadSHA] = true
	}
	refs = maps.Clone(m.refs)
	for _, c := range refs {
		heads[c] = true
	}
	statuses = map[string]map[string]string{}
	for c := range heads {
		if sts := e.ghStatuses(c); len(sts) > 0 {
			statuses[c] = sts
		}
	}
	return prs, refs, statuses
}

// have is the store's metadata, in the same form.
func (e *env) have(withComments bool) (prs map[int]bridge.PR, refs map[string]string, statuses map[string]map[string]string) {
	prs = e.storePRs()
	if !withComments {
		for n, pr := range prs {
			pr.Comments = nil
			prs[n] = pr
		}
	}
	refs = e.storeRefs()
	statuses = map[string]map[string]string{}
	es, _ := e.snapshot().ReadDir(context.Background(), e.repo.Path().Join("commit"))
	for _, c := range es {
		if sts := e.storeStatuses(c.Name); len(sts) > 0 {
			statuses[c.Name] = sts
		}
	}
	return prs, refs, statuses
}

func (e *env) agrees(m *ghModel, withComments bool) error {
	wp, wr, ws := m.want(withComments)
	hp, hr, hs := e.have(withComments)
	switch {
	case !reflect.DeepEqual(wp, hp):
		return fmt.Errorf("PRs:\n have %+v\n want %+v", hp, wp)
	case !reflect.DeepEqual(wr, hr):
		return fmt.Errorf("refs:\n have %v\n want %v", hr, wr)
	case !reflect.DeepEqual(ws, hs):
		return fmt.Errorf("statuses:\n have %v\n want %v", hs, ws)
	}
	return nil
}

// Random changes on GitHub reach the store, by resyncs (polling) and
// by webhooks.
func TestConvergenceFromGitHub(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("resync/seed%d", seed), func(t *testing.T) {
			e := newEnv(t)
			m := newGHModel(e, seed)
			m.comments = true
			b := e.newBridge(github.Options{})
			for round := range 15 {
				for range 1 + m.rnd.IntN(6) {
					m.step()
				}
				b.Resync()
				e.sync(b)
				if err := e.agrees(m, true); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		})
		t.Run(fmt.Sprintf("webhooks/seed%d", seed), func(t *testing.T) {
			e := newEnv(t)
			m := newGHModel(e, seed)
			e.run(github.Options{})
			waitFor(t, "the webhook", func() bool { hs, _ := e.gh.Hooks(repoName); return len(hs) == 1 })
			for round := range 15 {
				for range 1 + m.rnd.IntN(6) {
					m.step()
				}
				e.flush()
				var err error
				waitFor(t, fmt.Sprintf("round %d to converge", round), func() bool { err = e.agrees(m, false); return err == nil })
			}
		})
	}
}

// Random changes in the store (statuses of the CI, PR titles, closed
// PRs) reach GitHub, each status exactly once.
func TestConvergenceFromStore(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			e := newEnv(t)
			m := newGHModel(e, seed)
			for range 6 {
				m.pushRef(fmt.Sprintf("heads/b%d", len(m.refs)), m.commit())
			}
			for _, br := range m.branches()[1:] {
				e.gh.OpenPR(repoName, fakegithub.NewPR{Title: "PR " + br, Head: br})
			}
			b := e.newBridge(github.Options{})
			e.sync(b)
			rnd := m.rnd
			written := 0
			for round := range 15 {
				prs := e.storePRs()
				var open []int
				for n := range prs {
					open = append(open, n)
				}
				sort.Ints(open)
				var heads []string
				for _, c := range e.storeRefs() {
					heads = append(heads, c)
				}
				sort.Strings(heads)
				keys := map[string]bool{} // statuses written this round: the last value of each is sent
				for range 1 + rnd.IntN(5) {
					switch rnd.IntN(4) {
					case 0, 1:
						c := heads[rnd.IntN(len(heads))]
						job := fmt.Sprintf("ci/datakit/job%d", rnd.IntN(3))
						e.writeStatus(c, job, []string{"pending", "success", "failure"}[rnd.IntN(3)], fmt.Sprint(round, len(keys)))
						keys[c+job] = true
					case 2:
						if len(open) > 0 {
							n := open[rnd.IntN(len(open))]
							e.write(func(ctx context.Context, tx dkstore.Transaction) error {
								return tx.WriteFile(ctx, bridge.PRPath(e.repo, n).Join("title"), []byte(fmt.Sprintf("store title %d\n", rnd.IntN(100))), dkstore.KindFile)
							})
						}
					case 3:
						if len(open) > 2 && rnd.IntN(3) == 0 {
							n := open[rnd.IntN(len(open))]
							e.write(func(ctx context.Context, tx dkstore.Transaction) error {
								return tx.WriteFile(ctx, bridge.PRPath(e.repo, n).Join("state"), []byte("closed\n"), dkstore.KindFile)
							})
						}
					}
				}
				written += len(keys)
				want := e.storePRs()
				e.sync(b)
				for n, pr := range want {
					g, _ := e.gh.PR(repoName, n)
					if g.State != pr.State || g.Title != pr.Title {
						t.Fatalf("round %d: PR %d on GitHub is %s %q, want %s %q", round, n, g.State, g.Title, pr.State, pr.Title)
					}
				}
				for _, c := range heads {
					st := e.storeStatuses(c)
					gs := e.ghStatuses(c)
					for ctx, v := range st {
						if gs[ctx] != v {
							t.Fatalf("round %d: status %s of %s: GitHub %q, store %q", round, ctx, c[:8], gs[ctx], v)
						}
					}
				}
				if err := e.agrees(m, true); err != nil {
					t.Fatalf("round %d: the store does not agree with GitHub: %v", round, err)
				}
			}
			if got := e.gh.Count("POST /repos/{owner}/{repo}/statuses/{sha}"); got != written {
				t.Errorf("%d statuses written to the store, %d sent to GitHub", written, got)
			}
		})
	}
}
