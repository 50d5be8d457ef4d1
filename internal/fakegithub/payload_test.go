package fakegithub_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/dkgo/datakit/internal/fakegithub"
	"github.com/google/go-github/v60/github"
)

// TestPayloadShapes compares the payloads the server sends with GitHub's
// published examples (testdata/octokit-webhooks): every field of an
// example that go-github's event type knows must be in ours too, with
// the same JSON kind (null goes with any kind), recursively, and go-github
// must parse ours.
func TestPayloadShapes(t *testing.T) {
	w := newWorld(t, fakegithub.Options{})
	rc := newReceiver(t)
	must(w.s.AddHook("alice/hello", fakegithub.Hook{URL: rc.URL, ContentType: "json", Events: []string{"*"}}))
	s := w.s
	// What each example shows, done here.
	steps := []struct {
		example string
		event   string
		typ     any
		do      func() error
	}{
		{"ping/payload.json", "ping", github.PingEvent{}, nil},
		{"create/payload.json", "create", github.CreateEvent{}, func() error {
			return s.Push("alice/hello", fakegithub.Push{Ref: "refs/tags/simple-tag", SHA: sha1a})
		}},
		{"push/with-new-branch.payload.json", "push", github.PushEvent{}, func() error {
			return s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/topic", SHA: sha3c})
		}},
		{"pull_request/opened.payload.json", "pull_request", github.PullRequestEvent{}, func() error {
			_, err := s.OpenPR("alice/hello", fakegithub.NewPR{Title: "Update the README with new information.", Body: "This is a pretty simple change that we need to pull into master.", Head: "topic", User: "bob"})
			return err
		}},
		{"pull_request/synchronize.payload.json", "pull_request", github.PullRequestEvent{}, func() error {
			return s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/topic", SHA: sha4d})
		}},
		{"status/payload.json", "status", github.StatusEvent{}, func() error {
			return s.SetStatus("alice/hello", sha1a, fakegithub.Status{State: "success"})
		}},
		{"pull_request/closed.payload.json", "pull_request", github.PullRequestEvent{}, func() error {
			return s.EditPR("alice/hello", 2, fakegithub.PREdit{State: github.String("closed")})
		}},
		{"pull_request/reopened.payload.json", "pull_request", github.PullRequestEvent{}, func() error {
			return s.EditPR("alice/hello", 2, fakegithub.PREdit{State: github.String("open")})
		}},
		{"push/payload.json", "push", github.PushEvent{}, func() error {
			return s.Push("alice/hello", fakegithub.Push{Ref: "refs/tags/simple-tag"})
		}},
		{"delete/payload.json", "delete", github.DeleteEvent{}, nil}, // sent with the push above
	}
	for _, st := range steps {
		if st.do != nil {
			check(t, st.do())
		}
	}
	check(t, s.FlushHooks(ctx(t)))

	// Our payloads by event, in order.
	ours := map[string][][]byte{}
	for _, d := range s.Deliveries() {
		ours[d.Event] = append(ours[d.Event], d.Body)
	}
	used := map[string]int{}
	checked := 0
	for _, st := range steps {
		t.Run(st.example, func(t *testing.T) {
			realBody, err := os.ReadFile(filepath.Join("testdata", "octokit-webhooks", st.example))
			check(t, err)
			i := used[st.event]
			used[st.event]++
			if i >= len(ours[st.event]) {
				t.Fatalf("no %d-th %s payload sent", i+1, st.event)
			}
			body := ours[st.event][i]
			var real, mine any
			check(t, json.Unmarshal(realBody, &real))
			check(t, json.Unmarshal(body, &mine))
			if rm, ok := real.(map[string]any); ok {
				if a, ok := rm["action"]; ok && a != mine.(map[string]any)["action"] {
					t.Fatalf("action = %v, want %v", mine.(map[string]any)["action"], a)
				}
			}
			// The examples were delivered to an app: repository hooks'
			// payloads have no "installation".
			delete(real.(map[string]any), "installation")
			var problems []string
			n := compareShape("", real, mine, reflect.TypeOf(st.typ), &problems)
			checked += n
			sort.Strings(problems)
			for _, p := range problems {
				t.Error(p)
			}
			if n < 10 {
				t.Errorf("only %d fields compared", n)
			}
			// And go-github takes it, into the same type as the example.
			ev, err := github.ParseWebHook(st.event, body)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.TypeOf(ev).Elem() != reflect.TypeOf(st.typ) {
				t.Errorf("ParseWebHook = %T, want %T", ev, st.typ)
			}
		})
	}
	t.Logf("%d fields compared", checked)

	t.Run("pull_request/edited changes", func(t *testing.T) {
		rc.reset()
		check(t, s.Push("alice/hello", fakegithub.Push{Ref: "refs/heads/next", SHA: sha2b}))
		check(t, s.EditPR("alice/hello", 2, fakegithub.PREdit{Title: github.String("T"), Body: github.String("B"), Base: github.String("next")}))
		check(t, s.FlushHooks(ctx(t)))
		schema, err := os.ReadFile(filepath.Join("testdata", "octokit-webhooks", "schemas", "pull_request.edited.schema.json"))
		check(t, err)
		var sch struct {
			Required   []string
			Properties struct {
				Changes struct {
					Properties map[string]struct {
						Required []string
					}
				}
			}
		}
		check(t, json.Unmarshal(schema, &sch))
		var got []received
		for _, r := range rc.all() {
			if r.header.Get("X-GitHub-Event") == "pull_request" {
				got = append(got, r)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%d pull_request events, want 1", len(got))
		}
		var m map[string]any
		check(t, json.Unmarshal(got[0].body, &m))
		for _, k := range sch.Required {
			if _, ok := m[k]; !ok {
				t.Errorf("edited lacks %q", k)
			}
		}
		changes, _ := m["changes"].(map[string]any)
		if len(changes) != 3 {
			t.Errorf("changes = %v, want title, body and base", changes)
		}
		for k, v := range changes {
			prop, ok := sch.Properties.Changes.Properties[k]
			if !ok {
				t.Errorf("changes.%s is not in the schema", k)
				continue
			}
			for _, req := range prop.Required {
				if _, ok := v.(map[string]any)[req]; !ok {
					t.Errorf("changes.%s lacks %q", k, req)
				}
			}
		}
	})
}

// compareShape checks ours against real for the fields typ (a go-github
// type) knows, and returns how many it compared.
func compareShape(path string, real, ours any, typ reflect.Type, problems *[]string) int {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if real == nil || ours == nil {
		return 1
	}
	if kindOf(real) != kindOf(ours) {
		*problems = append(*problems, fmt.Sprintf("%s: %s in ours, %s in GitHub's", path, kindOf(ours), kindOf(real)))
		return 1
	}
	if reflect.PointerTo(typ).Implements(reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()) {
		return 1 // e.g. Timestamp: a leaf whatever its Go type
	}
	n := 1
	switch r := real.(type) {
	case map[string]any:
		if typ.Kind() != reflect.Struct {
			return n
		}
		o := ours.(map[string]any)
		fields := jsonFields(typ)
		for k, rv := range r {
			ft, ok := fields[k]
			if !ok {
				continue // go-github does not read it
			}
			ov, ok := o[k]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s.%s: missing in ours", path, k))
				continue
			}
			n += compareShape(path+"."+k, rv, ov, ft, problems)
		}
	case []any:
		o := ours.([]any)
		if len(r) > 0 && len(o) > 0 && (typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array) {
			n += compareShape(path+"[0]", r[0], o[0], typ.Elem(), problems)
		}
	}
	return n
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// jsonFields maps the JSON names of a struct's fields (with embedded
// structs' promoted) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range jsonFields(ft) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}
