package livelog_test

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
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
				if len(buf) != b.N*len(line) {
					b.Fatal("short buffer")
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

// refMask is the masking a log must do, written plainly: every byte of
// every occurrence of every secret is hidden, each run of overlapping
// occurrences becoming one "***".
func refMask(s string, secrets []string) string {
	type span struct{ a, b int }
	var spans []span
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for i := 0; i+len(sec) <= len(s); i++ {
			if s[i:i+len(sec)] == sec {
				spans = append(spans, span{i, i + len(sec)})
			}
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].a < spans[j].a })
	var out strings.Builder
	pos := 0
	for i := 0; i < len(spans); {
		a, b := spans[i].a, spans[i].b
		for i++; i < len(spans) && spans[i].a < b; i++ {
			b = max(b, spans[i].b)
		}
		out.WriteString(s[pos:a] + "***")
		pos = b
	}
	out.WriteString(s[pos:])
	return out.String()
}

// writeSplit writes s to a new log with secrets in pieces cut at random
// (empty writes included) and returns what the log kept, checking on the
// way that no secret is ever readable.
func writeSplit(t *testing.T, s string, secrets []string, seed int64) string {
	t.Helper()
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{Secrets: secrets})
	rng := rand.New(rand.NewSource(seed))
	for rest := s; rest != ""; {
		n := rng.Intn(len(rest) + 1) // 0: an empty write
		l.Write([]byte(rest[:n]))
		rest = rest[n:]
	}
	return string(l.Finish())
}

func TestMaskOverlappingSecrets(t *testing.T) {
	for _, c := range []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"prefix of another", "a tok, a token, a toke", []string{"tok", "token"}, "a ***, a ***, a ***e"},
		{"overlapping", "xabcdx", []string{"abc", "bcd"}, "x***x"},
		{"chain", "abcdef!", []string{"abc", "cde", "ef"}, "***!"},
		{"one inside another", "password123", []string{"word", "password123"}, "***"},
		{"adjacent", "hunter2hunter2", []string{"hunter2"}, "******"},
		{"overlapping itself", "aaaaa b aa", []string{"aaa"}, "*** b aa"},
		{"empty secret", "abc", []string{"", "b"}, "a***c"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := refMask(c.in, c.secrets); got != c.want {
				t.Fatalf("refMask(%q) = %q, want %q", c.in, got, c.want)
			}
			for seed := int64(0); seed < 200; seed++ {
				if got := writeSplit(t, c.in, c.secrets, seed); got != c.want {
					t.Fatalf("masked (seed %d) = %q, want %q", seed, got, c.want)
				}
			}
		})
	}
}

// Secrets that overlap themselves make long runs of occurrences; what a
// log holds back stays bounded, and nothing leaks.
func TestMaskLongRunBounded(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{Secrets: []string{"aaaa"}})
	for i := 0; i < 10000; i++ {
		l.Write([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	}
	if n := l.Len(); n == 0 {
		t.Error("a long run of a secret is held back whole")
	}
	l.Write([]byte("a\n"))
	got := string(l.Finish())
	if strings.Contains(got, "a") || !strings.HasPrefix(got, "***") || !strings.HasSuffix(got, "***\n") {
		t.Errorf("masked = %.40q...%q", got, got[max(0, len(got)-20):])
	}
}

// FuzzMaskSecrets checks the streaming masker against refMask, with
// several secrets (cut from the input at random, so that they occur, and
// overlap) and random write boundaries.
func FuzzMaskSecrets(f *testing.F) {
	f.Add("user hunter2 tok token s3cr3t", "hunter2|tok|token", int64(1))
	f.Add("abcdefabcabc", "abc|bcd|cab", int64(2))
	f.Add("aaaaaaaaab", "aa|aaab", int64(3))
	f.Fuzz(func(t *testing.T, s, spec string, seed int64) {
		if len(s) > 1<<12 {
			return
		}
		secrets := strings.Split(spec, "|")
		rng := rand.New(rand.NewSource(seed))
		if len(s) > 0 { // and one that surely occurs
			a := rng.Intn(len(s))
			secrets = append(secrets, s[a:a+1+rng.Intn(min(len(s)-a, 8))])
		}
		want := refMask(s, secrets)
		if got := writeSplit(t, s, secrets, seed); got != want {
			t.Fatalf("masked %q with %q = %q, want %q", s, secrets, got, want)
		}
	})
}

func TestMaskEmptyWrites(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{Secrets: []string{"secret"}})
	l.Write([]byte("sec"))
	if n, err := l.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
	if c := l.Contents(); len(c) != 0 {
		t.Errorf("an empty write released held-back bytes: %q", c)
	}
	l.Write([]byte("ret!"))
	if got := string(l.Finish()); got != "***!" {
		t.Errorf("masked = %q", got)
	}
}

// Output past the limit is not kept, except its end, after a line saying
// how much was left out; the log's own lines are always kept.
func TestLimit(t *testing.T) {
	m := livelog.NewManager(clock)
	l, _ := m.Create("b", "t", livelog.Options{MaxBytes: 1000, Secrets: []string{"hunter2"}})
	l.Printf("Starting...")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(l, "line %d hunter2\n", i)
	}
	if n := l.Len(); n > 1000 {
		t.Errorf("log holds %d bytes, over its limit", n)
	}
	l.Printf("Failed: oops")
	l.Write([]byte("more output\n"))
	text := string(l.Finish())
	if len(text) > 2000 {
		t.Errorf("finished log holds %d bytes", len(text))
	}
	for _, want := range []string{
		"[2016-11-29 10:00.01] Starting...\nline 0 ***\n",
		" bytes of output omitted: the log keeps 1000 bytes of output ...]\n",
		"line 9999 ***\n[2016-11-29 10:00.01] Failed: oops\nmore output\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "hunter2") {
		t.Error("a secret passed the limit unmasked")
	}
	// the tail starts at a line
	i := strings.Index(text, "...]\n")
	if rest := text[i+5:]; !strings.HasPrefix(rest, "line ") {
		t.Errorf("the kept end starts mid-line: %.30q", rest)
	}

	unlimited, _ := m.Create("u", "t", livelog.Options{MaxBytes: -1})
	big := strings.Repeat("x", 1<<20)
	unlimited.Write([]byte(big))
	if n := len(unlimited.Finish()); n != 1<<20 {
		t.Errorf("an unlimited log kept %d bytes", n)
	}
}

func TestFinishTwiceAndSince(t *testing.T) {
	m := livelog.NewManager(nil)
	l, _ := m.Create("b", "t", livelog.Options{})
	l.Write([]byte("abc"))
	text, done, _ := l.Since(1)
	if string(text) != "bc" || done {
		t.Errorf("Since(1) = %q, %v", text, done)
	}
	if text, _, _ := l.Since(99); len(text) != 0 {
		t.Errorf("Since past the end = %q", text)
	}
	first := l.Finish()
	l2, err := m.Create("b", "t", livelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if second := l.Finish(); string(second) != string(first) {
		t.Errorf("second Finish = %q, want %q", second, first)
	}
	if got, ok := m.Get("b"); !ok || got != l2 {
		t.Error("a second Finish of an old log closed the new log of its branch")
	}
	if _, done, _ := l.Since(0); !done {
		t.Error("Since after Finish: not finished")
	}
	l.Printf("after the end") // ignored
	if string(l.Contents()) != "abc" {
		t.Errorf("Contents after Finish = %q", l.Contents())
	}
}
