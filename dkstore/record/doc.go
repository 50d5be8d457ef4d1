// Package record keeps a program's settings in a DataKit store as typed
// fields: the typed configuration records of the original DataKit's Go
// bindings (their Record), over the dkstore interfaces, so that a record
// works the same on an in-process store and, through ninep.Client, on a
// store served over 9P.
//
// # Model
//
// A record is a directory (Options.Dir) looked up in a list of branches in
// priority order (Options.Lookup, e.g. "master" then "defaults"). Each
// field is a file below that directory, named by its key ("ncpu",
// "network/mtu"); its value is the content of the file in the first lookup
// branch that has it, with surrounding white space trimmed. A field's type
// parses that text: a string, an optional string (StringRefField: nil when
// no branch has the key and the default is nil), an int (strconv.ParseInt,
// base 10) or a bool (strconv.ParseBool). A value that does not parse
// counts as the default, and is logged.
//
// Declaring a field (StringField, IntField, BoolField, StringRefField)
// writes its default into the defaults branch (Options.Defaults), which the
// program owns: a new version of the program with other defaults rewrites
// them. Declaring evaluates the field at once, so Get is right from the
// start. Seal re-evaluates every field and writes the state branch
// (Options.State), which mirrors each field's effective value, as Get
// returns it, for other programs to read; declare the fields, then Seal.
//
// Every evaluation that changes at least one field's value makes a new
// Version; a field remembers the version of its last change, so
// HasChanged(v) tells whether its value changed since a Get that returned
// v. Wait blocks until a field's value changes: the head of each lookup
// branch is watched, and a commit there (by this program, another one, a
// shell through a 9P or FUSE mount, git push) re-evaluates the fields
// from the heads the watches returned (never from newer ones, which a
// lagging watch would then have nothing to report about). A commit that
// leaves every value as it was (elsewhere in the branch, a key no field
// has, an unparsable value, a value shadowed by a higher-priority branch)
// does not end Wait; commits that change nothing under the record's
// directory are recognised by a diff, without reading the fields. Seal,
// Upgrade and declarations first wait for the watches to catch up with
// the branches' current heads.
//
// Set and SetMultiple write values into the first lookup branch, the
// highest priority, in one commit; the fields see them at the next Wait or
// Seal. Upgrade moves the record to a newer schema version: it rewrites
// every field's default, and the schema version ("schema-version", an int
// field that New declares with default 1), into the defaults branch in one
// commit.
//
// The layout is the original's: the record's files sit at the same paths,
// each branch that New needs and finds missing is made with an empty file
// "branch-created", and the schema version lives in "schema-version".
// Deliberate differences: errors are returned rather than logged or fatal;
// commits that would change nothing are skipped, and the state branch gets
// one commit per evaluation rather than one per field; the state branch
// holds the values as Get returns them (the original copied the text it
// found, unparsable or not); declaring a field evaluates it (the
// original's fields held their defaults until Seal or Wait); Wait ends
// only for a changed value, and returns the new Version; "schema-version"
// keeps the defaults branch's value when the program starts again (the
// original reset it to 1, so that every start ran Upgrade again); Upgrade
// reports whether it ran; Close ends the watches.
//
// # Concurrency
//
// A Record and its fields are safe for concurrent use. Evaluations are
// serialised, and install their values at once: fields read while
// Record.Version stays the same come from one evaluation. Several goroutines may Wait
// at once: each returns once the record's version has passed the one it
// started from (WaitAfter names that version explicitly, so that a change
// between a Get and the Wait that follows it is not missed). Close stops
// the watches; blocked Waits return ErrClosed.
package record
