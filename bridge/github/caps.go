package github

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/dkgo/datakit/dkstore"
)

// An Op is an operation a capability allows on a resource.
type Op int

// The operations.
const (
	// Read: import the resource from GitHub into the store.
	Read Op = iota
	// Write: make GitHub agree with the store (set a status, edit a
	// PR, register a webhook).
	Write
	// Excl: as Write, and the store wins at start-up: what it holds
	// when the bridge starts is pushed to GitHub, where without Excl
	// GitHub's state replaces it.
	Excl
)

func (op Op) String() string {
	switch op {
	case Read:
		return "read"
	case Write:
		return "write"
	case Excl:
		return "excl"
	}
	return "op?"
}

// Kind is the kind of a Resource.
type Kind int

// The kinds of resources, in the order Capabilities.String prints them.
const (
	KindCommit  Kind = iota // the statuses of commits, as a whole
	KindPR                  // pull requests
	KindRef                 // branches and tags
	KindWebhook             // webhooks: read receives events, write registers hooks
	KindRepo                // repositories (repo[user/name]); no GitHub operation depends on them
	KindStatus              // statuses, by context (status[ci/datakit])
)

var kindNames = [...]string{"commit", "pr", "ref", "webhook", "repo", "status"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// A Resource is what a capability is about: a kind, and for KindRepo
// and KindStatus a '/'-separated path that selects by longest prefix
// (a repository "user/name", a status context "ci/datakit/test").
type Resource struct {
	Kind Kind
	Path string
}

// The resources without a path.
var (
	Commit  = Resource{Kind: KindCommit}
	PR      = Resource{Kind: KindPR}
	Ref     = Resource{Kind: KindRef}
	Webhook = Resource{Kind: KindWebhook}
)

// Status is the resource of the statuses of context ("" for GitHub's
// empty context).
func Status(context string) Resource { return Resource{Kind: KindStatus, Path: context} }

// Repo is the resource of the repository user/name.
func Repo(user, name string) Resource { return Resource{Kind: KindRepo, Path: user + "/" + name} }

func (r Resource) String() string {
	if r.Path != "" && (r.Kind == KindRepo || r.Kind == KindStatus) {
		return r.Kind.String() + "[" + r.Path + "]"
	}
	return r.Kind.String()
}

func (r Resource) steps() []string {
	if r.Path == "" {
		return nil
	}
	return strings.Split(r.Path, "/")
}

// Ops is the set of operations an entry allows.
type Ops struct {
	R bool // r: read
	W bool // w: write
	X bool // x: exclusive (read, write, and the store wins at start-up)
}

// allows reports whether ops allow op: read with r or x, write with w or
// x, excl with x.
func (o Ops) allows(op Op) bool {
	switch op {
	case Read:
		return o.R || o.X
	case Write:
		return o.W || o.X
	case Excl:
		return o.X
	}
	return false
}

// String prints the set as the flag spells it: "x", "r", "w" in this
// order, "" for none.
func (o Ops) String() string {
	var b strings.Builder
	if o.X {
		b.WriteByte('x')
	}
	if o.R {
		b.WriteByte('r')
	}
	if o.W {
		b.WriteByte('w')
	}
	return b.String()
}

type entry struct {
	res Resource
	ops Ops
}

// Capabilities say which operations the bridge may do on which
// resources: a default for every resource ("*"), and entries for kinds
// of resources and for paths of repositories and statuses. The zero
// value allows nothing; see All and ParseCapabilities. Capabilities are
// values: Allow and Disallow return changed copies.
type Capabilities struct {
	def   Ops
	extra []entry // sorted by Resource order, no duplicates
}

// All allows reading and writing everything: "*:rw", the default of
// the bridge.
func All() Capabilities { return Capabilities{def: Ops{R: true, W: true}} }

// None allows nothing: "*:".
func None() Capabilities { return Capabilities{} }

// compareResources orders resources as String prints them: by kind,
// then by path, a path before the paths it is a prefix of.
func compareResources(a, b Resource) int {
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	return slices.Compare(a.steps(), b.steps())
}

func (c Capabilities) ops(r Resource) (Ops, bool) {
	for _, e := range c.extra {
		if e.res == r {
			return e.ops, true
		}
	}
	return Ops{}, false
}

func (c Capabilities) with(r Resource, ops Ops) Capabilities {
	extra := make([]entry, 0, len(c.extra)+1)
	for _, e := range c.extra {
		if e.res != r {
			extra = append(extra, e)
		}
	}
	extra = append(extra, entry{r, ops})
	slices.SortFunc(extra, func(a, b entry) int { return compareResources(a.res, b.res) })
	return Capabilities{def: c.def, extra: extra}
}

func (o Ops) set(op Op, v bool) Ops {
	switch op {
	case Read:
		o.R = v
	case Write:
		o.W = v
	case Excl:
		o.X = v
	}
	return o
}

// Allow returns c with op also allowed on r (an entry for r is made if
// there is none).
func (c Capabilities) Allow(op Op, r Resource) Capabilities {
	ops, _ := c.ops(r)
	return c.with(r, ops.set(op, true))
}

// Disallow returns c with op no longer given by r's own entry (made if
// there is none).
func (c Capabilities) Disallow(op Op, r Resource) Capabilities {
	ops, _ := c.ops(r)
	return c.with(r, ops.set(op, false))
}

// WithDefault returns c with the default ("*") entry ops.
func (c Capabilities) WithDefault(ops Ops) Capabilities {
	c.extra = slices.Clone(c.extra)
	c.def = ops
	return c
}

// lookup finds the operations that apply to r: for a repository or a
// status, the entry of the longest path that is a prefix of r's (by
// '/'-separated components), else the entry of its kind ("status"),
// else the default; for the other kinds, the entry of the kind, else the
// default.
func (c Capabilities) lookup(r Resource) Ops {
	best, found := -1, false
	var ops Ops
	steps := r.steps()
	for _, e := range c.extra {
		if e.res.Kind != r.Kind {
			continue
		}
		p := e.res.steps()
		if len(p) > len(steps) || !slices.Equal(p, steps[:len(p)]) {
			continue
		}
		if len(p) > best {
			best, ops, found = len(p), e.ops, true
		}
	}
	if found {
		return ops
	}
	return c.def
}

// Check reports whether op is allowed on r.
func (c Capabilities) Check(op Op, r Resource) bool { return c.lookup(r).allows(op) }

// Equal reports whether c and d have the same entries.
func (c Capabilities) Equal(d Capabilities) bool {
	return c.def == d.def && slices.Equal(c.extra, d.extra)
}

// String prints c as ParseCapabilities reads it, normalised: the default
// first ("*:rw"), then the entries in a fixed order (commit, pr, ref,
// webhook, repo, repo[…], status, status[…]), the operations of each as
// "xrw". When the default allows nothing, it and the entries that allow
// nothing are left out: "pr:rw,status:w".
func (c Capabilities) String() string {
	var parts []string
	for _, e := range c.extra {
		if c.def == (Ops{}) && e.ops == (Ops{}) {
			continue
		}
		parts = append(parts, e.res.String()+":"+e.ops.String())
	}
	switch {
	case len(parts) == 0:
		return "*:" + c.def.String()
	case c.def == (Ops{}):
		return strings.Join(parts, ",")
	}
	return "*:" + c.def.String() + "," + strings.Join(parts, ",")
}

// ParseCapabilities parses a comma-separated list of RESOURCE:OPS: OPS
// is any of r (read), w (write) and x (exclusive: read, write, and the
// store wins at start-up); RESOURCE is * (the default for everything
// else), commit, pr, ref, webhook, repo, repo[USER/NAME or USER], status
// or status[CONTEXT PREFIX] such as status[ci/datakit]. Examples: "*:rw"
// (the default), "*:r,status[ci/datakit]:x,webhook:rw" (read everything,
// own the CI's statuses). A resource named twice is an error, as are
// unknown resources and operations; errors wrap dkstore.ErrInvalid.
func ParseCapabilities(s string) (Capabilities, error) {
	var c Capabilities
	if strings.TrimSpace(s) == "" {
		return Capabilities{}, &capError{msg: "none given: want RESOURCE:OPS items separated by ',', e.g. *:r,status[ci/datakit]:x"}
	}
	if i := strings.IndexAny(s, ";|"); i >= 0 {
		return Capabilities{}, &capError{item: s, msg: fmt.Sprintf("%q (character %d) is not a separator: separate the items with ',' and a resource from its operations with ':', as in *:r,status[ci/datakit]:x", s[i], i+1)}
	}
	seen := map[string]bool{}
	items := strings.Split(s, ",")
	for n, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			where := "two ',' in a row"
			switch n {
			case 0:
				where = "a ',' at the start"
			case len(items) - 1:
				where = "a ',' at the end"
			}
			return Capabilities{}, &capError{item: s, msg: "an empty item (" + where + ")"}
		}
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return Capabilities{}, &capError{item: item, msg: "no ':' between the resource and its operations (want RESOURCE:OPS, e.g. status[ci/datakit]:x)"}
		}
		name, opsText := strings.TrimSpace(item[:i]), strings.TrimSpace(item[i+1:])
		if strings.ContainsFunc(name+opsText, unicode.IsSpace) {
			return Capabilities{}, &capError{item: item, msg: "a space inside an item: separate the items with ',', as in *:r,status[ci/datakit]:x"}
		}
		var ops Ops
		for _, ch := range opsText {
			switch ch {
			case 'r':
				ops.R = true
			case 'w':
				ops.W = true
			case 'x':
				ops.X = true
			default:
				return Capabilities{}, &capError{item: item, msg: fmt.Sprintf("unknown operation %q: want any of r (read), w (write) and x (write; the store wins at start-up)", ch)}
			}
		}
		if seen[name] {
			return Capabilities{}, &capError{item: item, msg: "resource given twice"}
		}
		seen[name] = true
		if name == "*" {
			c.def = ops
			continue
		}
		r, err := parseResource(name)
		if err != nil {
			return Capabilities{}, &capError{item: item, msg: err.Error()}
		}
		if _, dup := c.ops(r); dup {
			return Capabilities{}, &capError{item: item, msg: "resource given twice"}
		}
		c = c.with(r, ops)
	}
	return c, nil
}

// capError is a capabilities string ParseCapabilities refuses: the item
// at fault, and what is wrong with it. It is a dkstore.ErrInvalid.
type capError struct{ item, msg string }

func (e *capError) Error() string { return "capabilities: " + e.detail() }

// detail is the error without "capabilities: ", for a flag's error.
func (e *capError) detail() string {
	if e.item == "" {
		return e.msg
	}
	return fmt.Sprintf("%q: %s", e.item, e.msg)
}

func (e *capError) Unwrap() error { return dkstore.ErrInvalid }

func parseResource(s string) (Resource, error) {
	for k, name := range kindNames {
		if s == name {
			return Resource{Kind: Kind(k)}, nil
		}
	}
	name, rest, ok := strings.Cut(s, "[")
	if !ok || (name != "repo" && name != "status") {
		return Resource{}, fmt.Errorf("unknown resource %q: want *, commit, pr, ref, webhook, repo, repo[USER/NAME], status or status[CONTEXT]", s)
	}
	path, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return Resource{}, fmt.Errorf("no ']' closing %s[", name)
	}
	if path == "" {
		return Resource{}, fmt.Errorf("nothing between %s[ and ]", name)
	}
	for _, step := range strings.Split(path, "/") {
		if step == "" {
			return Resource{}, fmt.Errorf("%s[%s]: an empty name between '/'s", name, path)
		}
		if i := strings.IndexAny(step, "[],:"); i >= 0 {
			return Resource{}, fmt.Errorf("%s[%s]: %q inside the brackets", name, path, step[i])
		}
	}
	kind := KindStatus
	if name == "repo" {
		kind = KindRepo
	}
	return Resource{Kind: kind, Path: path}, nil
}
