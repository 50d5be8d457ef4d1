package livelog_test

import (
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/ci/livelog"
)

func clock() time.Time { return time.Date(2016, 11, 29, 10, 0, 1, 0, time.UTC) }

func TestLogText(t *testing.T) {
	m := livelog.NewManager(clock)
	l, err := m.Create("shell-of-ls-on-abc", "Run ls", livelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Heading("Run ls")
	l.Printf("Starting...")
	l.Write([]byte("src\n"))
	l.Heading("Next")
	l.Printf("Success")
	want := "=== Run ls\n[2016-11-29 10:00.01] Starting...\nsrc\n\n=== Next\n[2016-11-29 10:00.01] Success\n"
	if got := string(l.Finish()); got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestOneLiveLogPerBranch(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{})
	_, err := m.Create("b", "t", livelog.Options{})
	if !errors.Is(err, livelog.ErrBusy) || !strings.Contains(err.Error(), "Can't create new live log on branch b") {
		t.Errorf("second Create = %v", err)
	}
	if got := m.List(); len(got) != 1 || got[0] != "b" {
		t.Errorf("List = %v", got)
	}
	l.Finish()
	if _, err := m.Create("b", "t", livelog.Options{}); err != nil {
		t.Errorf("Create after Finish = %v", err)
	}
	if _, err := l.Write([]byte("x")); err == nil {
		t.Error("Write after Finish succeeded")
	}
}

func TestReasons(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "Build", livelog.Options{Pending: "Building"})
	if r := l.Reason(); r != "Building" {
		t.Errorf("Reason = %q", r)
	}
	pop1 := l.PushReason(`Waiting for resource in "docker"`)
	pop2 := l.PushReason("Pulling")
	if r := l.Reason(); r != "Pulling" {
		t.Errorf("Reason = %q", r)
	}
	pop1()
	pop1()
	if r := l.Reason(); r != "Pulling" {
		t.Errorf("Reason after popping the first = %q", r)
	}
	pop2()
	if r := l.Reason(); r != "Building" {
		t.Errorf("Reason after popping all = %q", r)
	}
}

func TestFollow(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{})
	text, done, ch := l.Since(0)
	if len(text) != 0 || done {
		t.Fatalf("Since(0) = %q, %v", text, done)
	}
	go func() { l.Write([]byte("line 1\n")); l.Finish() }()
	var got []byte
	off := 0
	for !done {
		<-ch
		text, done, ch = l.Since(off)
		off += len(text)
		got = append(got, text...)
	}
	if string(got) != "line 1\n" {
		t.Errorf("followed %q", got)
	}
}

// Secrets are masked even when split across writes, in any way.
func TestMaskSplitWrites(t *testing.T) {
	secrets := []string{"hunter2", "s3cr3t-token", "tok"}
	input := "user hunter2 logged in with s3cr3t-token and tok; tokens: s3cr3t-tokens hunter hunter2hunter2 h"
	want := strings.NewReplacer("s3cr3t-token", "***", "hunter2", "***", "tok", "***").Replace(input)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		m := livelog.NewManager(nil)
		l, _ := m.Create("b", "t", livelog.Options{Secrets: secrets})
		rest := input
		for rest != "" {
			n := 1 + rng.Intn(len(rest))
			l.Write([]byte(rest[:n]))
			if c := string(l.Contents()); strings.Contains(c, "hunter2") || strings.Contains(c, "s3cr3t") {
				t.Fatalf("a secret is visible while writing: %q", c)
			}
			rest = rest[n:]
		}
		if got := string(l.Finish()); got != want {
			t.Fatalf("masked = %q, want %q", got, want)
		}
	}
}

func FuzzMask(f *testing.F) {
	f.Add("abc secret def", 3)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		m := livelog.NewManager(nil)
		l, _ := m.Create("b", "t", livelog.Options{Secrets: []string{"secret"}})
		if cut < 0 || cut > len(s) {
			cut = len(s) / 2
		}
		l.Write([]byte(s[:cut]))
		l.Write([]byte(s[cut:]))
		got := string(l.Finish())
		if strings.Contains(got, "secret") {
			t.Fatalf("secret visible in %q (input %q)", got, s)
		}
		if want := strings.ReplaceAll(s, "secret", "***"); got != want && !strings.Contains(s, "***") {
			t.Fatalf("masked %q = %q, want %q", s, got, want)
		}
	})
}

func TestMaskPrefersLongerSecret(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{Secrets: []string{"tok", "token"}})
	l.Write([]byte("a tok"))
	l.Write([]byte("en b tok"))
	if got := string(l.Finish()); got != "a *** b ***" {
		t.Errorf("masked = %q, want %q", got, "a *** b ***")
	}
}

// BenchmarkWriteLines measures lines per second through a live log, with
// and without secrets to mask, against appending to a plain buffer.
func BenchmarkWriteLines(b *testing.B) {
	line := []byte("[2026-11-29 10:00.01] ok 42 github.com/dkgo/datakit/ci/livelog 0.013s\n")
	for _, c := range []struct {
		name    string
		secrets []string
	}{{"plain-buffer", nil}, {"no-secrets", nil}, {"two-secrets", []string{"hunter2", "ghp_0123456789abcdef"}}} {
		b.Run(c.name, func(b *testing.B) {
			if c.name == "plain-buffer" {
				var buf []byte
				for i := 0; i < b.N; i++ {
					buf = append(buf, line...)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
				return
			}
			m := livelog.NewManager(nil)
			l, _ := m.Create("b", "t", livelog.Options{Secrets: c.secrets})
			for i := 0; i < b.N; i++ {
				l.Write(line)
			}
			l.Finish()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
