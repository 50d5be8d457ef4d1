package record

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/dkgo/datakit/dkstore"
)

// Field is a typed value of a record: a string, *string (StringRefField),
// int or bool. Its methods are safe for concurrent use.
type Field[T any] struct {
	rec *Record
	k   dkstore.Path
	c   codec[T]

	// Guarded by rec.mu.
	def       T
	value     T
	text      string // value as the state branch shows it
	set       bool   // false: no value (a nil *string)
	version   Version
	evaluated bool // false until the first evaluation

	// bad is the last raw value logged as not parsing (nil: none, or it
	// parsed since), so that a bad value is logged once, not at each
	// evaluation.
	bad atomic.Pointer[string]
}

// field is what a record needs of a Field of any type.
type field interface {
	key() dkstore.Path
	// resolve computes the value from the raw content of the key in the
	// first lookup branch that has it (found false: none has) and returns
	// a function that installs it, with rec.mu held for writing, and
	// reports whether the value changed: next is the version of a
	// change, cur the record's version.
	resolve(raw []byte, found bool) func(next, cur Version) bool
	// isNew reports whether the field was never evaluated (rec.mu held).
	isNew() bool
	// effective and defaultText give the value and the default as text
	// (set false: none); rec.mu is held.
	effective() (text string, set bool)
	defaultText() (text string, set bool)
}

// codec turns a field's values into text and back.
type codec[T any] struct {
	kind   string
	parse  func(string) (T, bool) // false: the text is not a T
	format func(T) (string, bool) // false: no value
	clone  func(T) T              // nil: values are copied by assignment
}

var (
	stringCodec = codec[string]{
		kind:   "string",
		parse:  parseString,
		format: func(s string) (string, bool) { return s, true },
	}
	stringRefCodec = codec[*string]{
		kind: "string",
		parse: func(s string) (*string, bool) {
			v, _ := parseString(s)
			return &v, true
		},
		format: func(s *string) (string, bool) {
			if s == nil {
				return "", false
			}
			return *s, true
		},
		clone: func(s *string) *string {
			if s == nil {
				return nil
			}
			v := *s
			return &v
		},
	}
	intCodec = codec[int]{
		kind:   "int",
		parse:  parseInt,
		format: func(i int) (string, bool) { return strconv.Itoa(i), true },
	}
	boolCodec = codec[bool]{
		kind:   "bool",
		parse:  parseBool,
		format: func(b bool) (string, bool) { return strconv.FormatBool(b), true },
	}
)

// parseString returns s without surrounding white space (the newline that
// `echo` adds, for one).
func parseString(s string) (string, bool) { return strings.TrimSpace(s), true }

// parseInt parses a decimal int, with optional sign and surrounding white
// space.
func parseInt(s string) (int, bool) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 0)
	return int(i), err == nil
}

// parseBool parses what strconv.ParseBool accepts (1, t, true, TRUE, 0, f,
// false, …), with surrounding white space.
func parseBool(s string) (bool, bool) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return b, err == nil
}

// parseKey checks a field's key: steps joined by "/", each a valid path
// step.
func parseKey(key string) (dkstore.Path, error) {
	return dkstore.PathOf(strings.Split(key, "/")...)
}

// StringField declares the string field key with default def. Values are
// trimmed of surrounding white space, the default too.
func (r *Record) StringField(ctx context.Context, key, def string) (*Field[string], error) {
	return declare(ctx, r, key, def, stringCodec, true)
}

// StringRefField declares the optional string field key with default def:
// Get returns nil when no lookup branch has the key and def is nil (a nil
// default removes the key from the defaults branch).
func (r *Record) StringRefField(ctx context.Context, key string, def *string) (*Field[*string], error) {
	return declare(ctx, r, key, stringRefCodec.clone(def), stringRefCodec, true)
}

// IntField declares the int field key with default def.
func (r *Record) IntField(ctx context.Context, key string, def int) (*Field[int], error) {
	return declare(ctx, r, key, def, intCodec, true)
}

// BoolField declares the bool field key with default def.
func (r *Record) BoolField(ctx context.Context, key string, def bool) (*Field[bool], error) {
	return declare(ctx, r, key, def, boolCodec, true)
}

// declare makes the field key of r: it writes the default into the
// defaults branch (unless overwrite is false and a value is there
// already), waits for the lookup branches' watches to see it, and adds
// the field to the record, evaluated.
func declare[T any](ctx context.Context, r *Record, key string, def T, c codec[T], overwrite bool) (*Field[T], error) {
	k, err := parseKey(key)
	if err != nil {
		return nil, fmt.Errorf("record: field %q: %w", key, err)
	}
	if text, set := c.format(def); set {
		def, _ = c.parse(text) // trimmed, as a value read back would be
	}
	r.mu.Lock()
	closed, dup := r.closed, r.keys[k]
	if !closed && !dup {
		r.keys[k] = true
	}
	r.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("record: field %q: %w", key, dkstore.ErrClosed)
	case dup:
		return nil, fmt.Errorf("record: field %q: %w: declared twice", key, dkstore.ErrExist)
	}
	f := &Field[T]{rec: r, k: k, c: c, def: def}
	if err := f.declare(ctx, overwrite); err != nil {
		r.mu.Lock()
		delete(r.keys, k)
		r.fields = slices.DeleteFunc(r.fields, func(x field) bool { return x == field(f) })
		r.mu.Unlock()
		return nil, fmt.Errorf("record: field %q: %w", key, err)
	}
	return f, nil
}

func (f *Field[T]) declare(ctx context.Context, overwrite bool) error {
	r := f.rec
	p := r.path(f.k)
	text, set := f.c.format(f.def)
	err := r.commit(ctx, r.opts.Defaults, "fill-in default for "+string(p), func(tx dkstore.Transaction) error {
		if !overwrite {
			if _, err := tx.Stat(ctx, p); err == nil {
				return nil
			}
		}
		return put(ctx, tx, p, text, set)
	})
	if err != nil {
		return err
	}
	if err := r.sync(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	r.fields = append(r.fields, f)
	r.mirrored = false
	r.mu.Unlock()
	_, err = r.evaluate(ctx, false)
	return err
}

func (f *Field[T]) key() dkstore.Path { return f.k }

func (f *Field[T]) isNew() bool { return !f.evaluated }

func (f *Field[T]) resolve(raw []byte, found bool) func(next, cur Version) bool {
	f.rec.mu.RLock()
	v := f.def
	f.rec.mu.RUnlock()
	bad := false
	if found {
		if p, ok := f.c.parse(string(raw)); ok {
			v = p
		} else {
			bad = true
			text := string(raw)
			if prev := f.bad.Swap(&text); prev == nil || *prev != text {
				f.rec.log.Warn("record: a value that does not parse; using the default",
					"key", string(f.k), "type", f.c.kind, "value", text)
			}
		}
	}
	if !bad {
		f.bad.Store(nil)
	}
	text, set := f.c.format(v)
	return func(next, cur Version) bool {
		if !f.evaluated { // a new field: its first value is no change
			f.value, f.text, f.set, f.version, f.evaluated = v, text, set, cur, true
			return false
		}
		if text == f.text && set == f.set {
			return false
		}
		f.value, f.text, f.set, f.version = v, text, set, next
		return true
	}
}

func (f *Field[T]) effective() (string, bool)   { return f.text, f.set }
func (f *Field[T]) defaultText() (string, bool) { return f.c.format(f.def) }

// Key returns the field's key, relative to the record's directory.
func (f *Field[T]) Key() string { return string(f.k) }

// Get returns the field's value and the record version of its last change.
func (f *Field[T]) Get() (T, Version) {
	f.rec.mu.RLock()
	defer f.rec.mu.RUnlock()
	v := f.value
	if f.c.clone != nil {
		v = f.c.clone(v)
	}
	return v, f.version
}

// Default returns the field's default value.
func (f *Field[T]) Default() T {
	f.rec.mu.RLock()
	defer f.rec.mu.RUnlock()
	v := f.def
	if f.c.clone != nil {
		v = f.c.clone(v)
	}
	return v
}

// HasChanged reports whether the value changed after version v, e.g. since
// a Get that returned v.
func (f *Field[T]) HasChanged(v Version) bool {
	f.rec.mu.RLock()
	defer f.rec.mu.RUnlock()
	return v < f.version
}

// To returns the assignment of v to the field, for Record.SetMultiple.
func (f *Field[T]) To(v T) Assignment {
	text, set := f.c.format(v)
	return Assignment{f: f, rec: f.rec, text: text, set: set}
}

// Set writes v into the first lookup branch (for a nil *string, removes
// the key there), in a commit "Unconditionally set KEY: description". The
// field sees it at the next Wait or Seal.
func (f *Field[T]) Set(ctx context.Context, description string, v T) error {
	text, set := f.c.format(v)
	r := f.rec
	return r.commit(ctx, r.opts.Lookup[0], "Unconditionally set "+string(f.k)+": "+description, func(tx dkstore.Transaction) error {
		return put(ctx, tx, r.path(f.k), text, set)
	})
}
