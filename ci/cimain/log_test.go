package cimain

import (
	"errors"
	"strings"
	"testing"
)

// A record is one line; a value of several lines (a panic's stack) follows
// it, indented.
func TestLogLines(t *testing.T) {
	var b strings.Builder
	log := newLogger(&b, 0).With("src", "engine")
	log.Info("new target", "target", "me/p/heads/master", "head", "1234567")
	log.Error("job panicked", "job", "build", "err", errors.New("panic: boom"), "stack", "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:3\n")
	log.Debug("not shown")
	lines := strings.Split(b.String(), "\n")
	want := []string{
		` INFO new target src=engine target=me/p/heads/master head=1234567`,
		` ERROR job panicked src=engine job=build err="panic: boom" stack=(below)`,
		`  stack:`,
		`    goroutine 1 [running]:`,
		`    main.main()`,
		"    \t/src/main.go:3",
		``,
	}
	if len(lines) != len(want) {
		t.Fatalf("log = %q", b.String())
	}
	for i, w := range want {
		if i < 2 && !strings.HasSuffix(lines[i], w) || i >= 2 && lines[i] != w {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
}
