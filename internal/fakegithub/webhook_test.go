package fakegithub_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
)

const zeros = "0000000000000000000000000000000000000000"

// TestWebhookEvents drives the server as users would and checks that the
// events arrive, signed, in order, and that go-github parses them into
// what happened.
func TestWebhookEvents(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	cx := ctx(t)
	rc := newReceiver(t)
	form := newReceiver(t)
	must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: rc.URL, ContentType: "json", Secret: "s3cret", Events: []string{"*"}}))
	must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: form.URL, Secret: "form-secret", Events: []string{"push"}}))

	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/new", SHA: sha3c, Message: "Start new"}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/main", SHA: sha4d, Sender: "bob"}))
	n := must(w.s.OpenPR("alice/hello", fakegithub.NewPR{Title: "New", Head: "new", Body: "Body"}))
	check(t, w.s.EditPR("alice/hello", n, fakegithub.PREdit{Title: github.String("Newer")}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/new", SHA: sha1a}))
	check(t, w.s.EditPR("alice/hello", n, fakegithub.PREdit{State: github.String("closed")}))
	check(t, w.s.EditPR("alice/hello", n, fakegithub.PREdit{State: github.String("open")}))
	check(t, w.s.SetStatus("alice/hello", sha1a, fakegithub.Status{State: "failure", Context: "ci/x", Description: "Broken"}))
	// A pull request edited through the API sends the same events.
	_, _, err := w.client(w.alice).PullRequests.Edit(cx, "alice", "hello", n, &github.PullRequest{State: github.String("closed")})
	check(t, err)
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/new"}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/tags/v1", SHA: sha4d, TagMessage: "One"}))
	check(t, w.s.FlushHooks(cx))

	want := []string{
		"ping",
		"create", "push",
		"push",
		"pull_request/opened",
		"pull_request/edited",
		"push", "pull_request/synchronize",
		"pull_request/closed",
		"pull_request/reopened",
		"status",
		"pull_request/closed",
		"push", "delete",
		"create", "push",
	}
	if got := rc.events(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events =\n%v\nwant\n%v", got, want)
	}
	var events []any
	for i, r := range rc.all() {
		if r.header.Get("Content-Type") != "application/json" || r.header.Get("X-GitHub-Delivery") == "" ||
			!strings.HasPrefix(r.header.Get("User-Agent"), "GitHub-Hookshot/") || r.header.Get("X-GitHub-Hook-ID") == "" {
			t.Errorf("delivery %d headers = %v", i, r.header)
		}
		body, err := github.ValidatePayload(r.req, []byte("s3cret"))
		if err != nil {
			t.Fatalf("delivery %d: ValidatePayload: %v", i, err)
		}
		m := hmac.New(sha1.New, []byte("s3cret"))
		m.Write(r.body)
		if r.header.Get("X-Hub-Signature") != "sha1="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("delivery %d: X-Hub-Signature = %q, not the HMAC-SHA1 of the body", i, r.header.Get("X-Hub-Signature"))
		}
		ev, err := github.ParseWebHook(github.WebHookType(r.req), body)
		if err != nil {
			t.Fatalf("delivery %d: ParseWebHook: %v", i, err)
		}
		events = append(events, ev)
	}
	// The signature check can fail: a wrong secret.
	if _, err := github.ValidatePayload(rc.all()[1].req, []byte("wrong")); err == nil {
		t.Error("ValidatePayload with a wrong secret passed")
	}

	create := events[1].(*github.CreateEvent)
	if create.GetRef() != "new" || create.GetRefType() != "branch" || create.GetRepo().GetFullName() != "alice/hello" || create.GetSender().GetLogin() != "alice" {
		t.Errorf("create = %v", create)
	}
	push := events[2].(*github.PushEvent)
	if push.GetRef() != "refs/heads/new" || push.GetBefore() != zeros || push.GetAfter() != sha3c || !push.GetCreated() ||
		push.GetHeadCommit().GetID() != sha3c || push.GetHeadCommit().GetMessage() != "Start new" || push.GetRepo().GetFullName() != "alice/hello" {
		t.Errorf("push (created) = %v", push)
	}
	push = events[3].(*github.PushEvent)
	if push.GetBefore() != sha1a || push.GetAfter() != sha4d || push.GetCreated() || push.GetSender().GetLogin() != "bob" || push.GetPusher().GetName() != "bob" {
		t.Errorf("push (moved) = %v", push)
	}
	opened := events[4].(*github.PullRequestEvent)
	if opened.GetNumber() != n || opened.GetPullRequest().GetTitle() != "New" || opened.GetPullRequest().GetHead().GetSHA() != sha3c ||
		opened.GetPullRequest().GetBody() != "Body" || opened.GetPullRequest().GetBase().GetRef() != "main" {
		t.Errorf("opened = %v", opened)
	}
	edited := events[5].(*github.PullRequestEvent)
	if edited.GetChanges().GetTitle().GetFrom() != "New" || edited.GetPullRequest().GetTitle() != "Newer" {
		t.Errorf("edited = %v", edited)
	}
	sync := events[7].(*github.PullRequestEvent)
	if sync.GetBefore() != sha3c || sync.GetAfter() != sha1a || sync.GetPullRequest().GetHead().GetSHA() != sha1a {
		t.Errorf("synchronize = %v", sync)
	}
	if ev := events[8].(*github.PullRequestEvent); ev.GetPullRequest().GetState() != "closed" {
		t.Errorf("closed = %v", ev)
	}
	st := events[10].(*github.StatusEvent)
	if st.GetSHA() != sha1a || st.GetState() != "failure" || st.GetContext() != "ci/x" || st.GetDescription() != "Broken" ||
		len(st.Branches) != 1 || st.Branches[0].GetName() != "new" || st.GetName() != "alice/hello" {
		t.Errorf("status = %v", st)
	}
	if ev := events[11].(*github.PullRequestEvent); ev.GetSender().GetLogin() != "alice" {
		t.Errorf("closed through the API = %v", ev)
	}
	push = events[12].(*github.PushEvent)
	if !push.GetDeleted() || push.GetAfter() != zeros || push.GetBefore() != sha1a || push.HeadCommit != nil || len(push.Commits) != 0 {
		t.Errorf("push (deleted) = %v", push)
	}
	if del := events[13].(*github.DeleteEvent); del.GetRef() != "new" || del.GetRefType() != "branch" {
		t.Errorf("delete = %v", del)
	}
	tagObj, _ := w.s.Ref("alice/hello", "refs/tags/v1")
	push = events[15].(*github.PushEvent)
	if push.GetAfter() != tagObj || push.GetHeadCommit().GetID() != sha4d || len(push.Commits) != 0 {
		t.Errorf("push (annotated tag) = %v", push)
	}

	// The form hook gets only pushes, form-encoded, which go-github decodes.
	got := form.all()
	if len(got) != 6 { // ping and 5 pushes
		t.Fatalf("form hook got %d deliveries, want 6", len(got))
	}
	for _, r := range got[1:] {
		if r.header.Get("Content-Type") != "application/x-www-form-urlencoded" || !strings.HasPrefix(string(r.body), "payload=") {
			t.Errorf("form delivery: %s %.20q", r.header.Get("Content-Type"), r.body)
		}
		body, err := github.ValidatePayload(r.req, []byte("form-secret"))
		if err != nil {
			t.Fatalf("form: ValidatePayload: %v", err)
		}
		if _, err := github.ParseWebHook("push", body); err != nil {
			t.Errorf("form: ParseWebHook: %v", err)
		}
	}
}

// TestClosedPullRequest: a closed pull request keeps its head when its
// branch moves (no synchronize) and takes the branch's head when reopened.
func TestClosedPullRequest(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	rc := newReceiver(t)
	must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: rc.URL, ContentType: "json", Events: []string{"pull_request"}}))
	check(t, w.s.EditPR("alice/hello", 1, fakegithub.PREdit{State: github.String("closed")}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/feature/x", SHA: sha4d}))
	if pr := must(w.s.PR("alice/hello", 1)); pr.HeadSHA != sha2b {
		t.Errorf("closed PR head = %s, want %s", pr.HeadSHA, sha2b)
	}
	check(t, w.s.EditPR("alice/hello", 1, fakegithub.PREdit{State: github.String("open")}))
	check(t, w.s.FlushHooks(ctx(t)))
	if pr := must(w.s.PR("alice/hello", 1)); pr.HeadSHA != sha4d {
		t.Errorf("reopened PR head = %s, want %s", pr.HeadSHA, sha4d)
	}
	if ev := rc.events(); fmt.Sprint(ev) != "[ping pull_request/closed pull_request/reopened]" {
		t.Errorf("events = %v", ev)
	}
	// With its branch deleted, it cannot be reopened.
	check(t, w.s.EditPR("alice/hello", 1, fakegithub.PREdit{State: github.String("closed")}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/feature/x"}))
	_, _, err := w.client(w.alice).PullRequests.Edit(ctx(t), "alice", "hello", 1, &github.PullRequest{State: github.String("open")})
	if statusOf(err) != 422 {
		t.Errorf("reopening without a branch = %v, want 422", err)
	}
}

func TestWebhookReceiverFailures(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	rc := newReceiver(t)
	rc.code = 500
	id := must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: rc.URL, ContentType: "json", Events: []string{"push"}}))
	dead := newReceiver(t)
	dead.Close()
	must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: dead.URL, ContentType: "json", Events: []string{"push"}}))
	check(t, w.s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/main", SHA: sha4d}))
	check(t, w.s.FlushHooks(ctx(t)))
	var codes []int
	var errs int
	for _, d := range w.s.Deliveries() {
		codes = append(codes, d.Status)
		if d.Err != "" {
			errs++
		}
	}
	// ping, ping, push, push; failed deliveries are not retried.
	if len(codes) != 4 || codes[0] != 500 || codes[2] != 500 || codes[3] != 0 || errs != 2 {
		t.Errorf("deliveries = %v, %d errors", codes, errs)
	}
	// No secret: no signature headers.
	if h := rc.all()[0].header; h.Get("X-Hub-Signature-256") != "" || h.Get("X-Hub-Signature") != "" {
		t.Errorf("unsigned hook got signatures: %v", h)
	}
	hk, _, err := w.client(w.alice).Repositories.GetHook(ctx(t), "alice", "hello", id)
	check(t, err)
	if hk.LastResponse["code"] != float64(500) {
		t.Errorf("last_response = %v, want code 500", hk.LastResponse)
	}
}

// TestWebhookFaultsDeterministic runs the same events twice with the same
// seed: the same deliveries are lost, duplicated and reordered, and the
// receiver sees them in the same order.
func TestWebhookFaultsDeterministic(t *testing.T) {
	run := func(seed uint64) (order []int64, faults []fakegithub.HookFault) {
		w := newWorld(t, fakegithub.Options{Faults: fakegithub.Faults{
			Seed: seed, HooksLost: 0.2, HooksDuplicated: 0.2, HooksReordered: 0.2, ReorderHold: 5 * time.Second,
		}})
		rc := newReceiver(t)
		must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: rc.URL, ContentType: "json", Events: []string{"status"}}))
		for i := 0; i < 40; i++ {
			check(t, w.s.SetStatus("alice/hello", sha1a, fakegithub.Status{State: "pending", Context: "c"}))
		}
		check(t, w.s.FlushHooks(ctx(t)))
		seqOf := map[string]int64{}
		last := map[int64]fakegithub.HookFault{}
		for _, d := range w.s.Deliveries() {
			seqOf[d.GUID] = d.Seq
			last[d.Seq] = d.Fault
		}
		for _, r := range rc.all() {
			order = append(order, seqOf[r.header.Get("X-GitHub-Delivery")])
		}
		for i := int64(1); i <= 41; i++ {
			faults = append(faults, last[i])
		}
		return order, faults
	}
	o1, f1 := run(3)
	o2, f2 := run(3)
	if len(o1) == 0 || fmt.Sprint(o1) != fmt.Sprint(o2) {
		t.Fatalf("orders differ with the same seed:\n%v\n%v", o1, o2)
	}
	count := map[fakegithub.HookFault]int{}
	for i := range f1 {
		if f1[i] != f2[i] {
			t.Fatalf("delivery %d: %v vs %v", i+1, f1[i], f2[i])
		}
		count[f1[i]]++
	}
	if count[fakegithub.HookLost] == 0 || count[fakegithub.HookDuplicated] == 0 || count[fakegithub.HookReordered] == 0 {
		t.Fatalf("faults = %v, want some of each", count)
	}
	// What the receiver saw matches the faults: lost ones missing,
	// duplicated ones twice, a reordered one after its successor.
	seen := map[int64]int{}
	for _, s := range o1 {
		seen[s]++
	}
	for i, f := range f1 {
		s := int64(i + 1)
		want := map[fakegithub.HookFault]int{fakegithub.HookDelivered: 1, fakegithub.HookLost: 0, fakegithub.HookDuplicated: 2, fakegithub.HookReordered: 1}[f]
		if seen[s] != want {
			t.Errorf("delivery %d (%v) received %d times, want %d", s, f, seen[s], want)
		}
	}
	reordered := 0
	for i := 1; i < len(o1); i++ {
		if o1[i] < o1[i-1] {
			reordered++
		}
	}
	if reordered == 0 {
		t.Errorf("no delivery arrived out of order: %v", o1)
	}
	if _, f3 := run(4); fmtFaults(f3) == fmtFaults(f1) {
		t.Error("seed 4 gave the same faults as seed 3")
	}
}

func fmtFaults(f []fakegithub.HookFault) string { return fmt.Sprint(f) }
