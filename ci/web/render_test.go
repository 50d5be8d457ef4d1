package web

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	terminal "github.com/buildkite/terminal-to-html/v3"

	"github.com/dkgo/datakit/ci"
)

// lineRE strips the line numbers and anchors renderer adds.
var lineRE = regexp.MustCompile(`<span class=l id=L\d+><a href=#L\d+>\d+</a>`)

func renderAll(chunks ...string) string {
	var b bytes.Buffer
	r := newRenderer(&b, 0)
	for _, c := range chunks {
		r.Write([]byte(c))
	}
	r.Close()
	return b.String()
}

// plain removes the line wrappers of html.
func plain(html string) string {
	s := strings.ReplaceAll(lineRE.ReplaceAllString(html, ""), "\n</span>", "\n")
	return strings.TrimSuffix(s, "</span>")
}

func TestRenderer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   string // the HTML, anchors and line spans removed
	}{
		{"plain", []string{"hello\nworld\n"}, "hello\nworld\n"},
		{"no final newline", []string{"a\nb"}, "a\nb"},
		{"empty lines first", []string{"\n\nx\n"}, "&nbsp;\n&nbsp;\nx\n"},
		{"empty lines between", []string{"a\n\n", "\nb\n"}, "a\n&nbsp;\n&nbsp;\nb\n"},
		{"escaping", []string{"<script>alert(1)</script> & \"q\"\n"}, "&lt;script&gt;alert(1)&lt;&#47;script&gt; &amp; &quot;q&quot;\n"},
		{"split across writes", []string{"ab", "c\nd", "e\n"}, "abc\nde\n"},
		{"carriage return", []string{"10%\r50%\r100%\n"}, "100%\n"},
		{"escape split across writes", []string{"\x1b[3", "1mred\x1b[0m\n"}, "<span class=\"term-fg31\">red</span>\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderAll(tc.chunks...)
			if p := plain(got); p != tc.want {
				t.Errorf("render(%q) = %q, want %q\n(full %q)", tc.chunks, p, tc.want, got)
			}
		})
	}
	got := renderAll("one\ntwo\n")
	if !strings.Contains(got, `<span class=l id=L2><a href=#L2>2</a>two`) {
		t.Errorf("no anchor for line 2: %q", got)
	}
}

// The renderer agrees with terminal.Render on whole logs, however the
// log is cut into writes; colours carry from one line to the next.
func TestRendererMatchesLibrary(t *testing.T) {
	log := "=== Build\n\x1b[1;31mred\nstill red\x1b[0m plain\n\n\tcol\x1b[32mgreen\x1b[m\r\nend"
	want := terminal.Render([]byte(log))
	for _, size := range []int{1, 2, 3, 7, 100} {
		var chunks []string
		for i := 0; i < len(log); i += size {
			chunks = append(chunks, log[i:min(i+size, len(log))])
		}
		got := plain(renderAll(chunks...))
		if got != want {
			t.Errorf("in writes of %d bytes:\n got %q\nwant %q", size, got, want)
		}
	}
}

// Whatever the log and however it is cut, nothing it holds becomes
// markup, and every line is numbered once.
func FuzzRenderer(f *testing.F) {
	f.Add("a\nb\x1b[31mc\n", 3)
	f.Add("\r\n\x1b]8;;http://x\x07l\x1b]8;;\x07\n", 1)
	f.Add("x\n\x1b[Ay\n", 2)
	f.Fuzz(func(t *testing.T, log string, size int) {
		if size <= 0 || size > 64 {
			return
		}
		var chunks []string
		for i := 0; i < len(log); i += size {
			chunks = append(chunks, log[i:min(i+size, len(log))])
		}
		got := renderAll(chunks...)
		if strings.Contains(got, "<script") || strings.Contains(got, "<img") {
			t.Fatalf("markup from the log in %q", got)
		}
		want := strings.Count(log, "\n")
		if log != "" && !strings.HasSuffix(log, "\n") {
			want++
		}
		if n := strings.Count(got, "<span class=l "); n != want {
			t.Fatalf("%d numbered lines, want %d: %q", n, want, got)
		}
	})
}

func TestTailStart(t *testing.T) {
	text := []byte("a\nb\nc\n")
	for _, tc := range []struct {
		n, off, before int
	}{{1, 4, 2}, {2, 2, 1}, {3, 0, 0}, {10, 0, 0}} {
		off, before := tailStart(text, tc.n)
		if off != tc.off || before != tc.before {
			t.Errorf("tailStart(%q, %d) = %d, %d; want %d, %d", text, tc.n, off, before, tc.off, tc.before)
		}
	}
}

// Counts are in the singular for one, else in the plural.
func TestPlurals(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{plural(0, "tag"), "0 tags"},
		{plural(1, "job"), "1 job"},
		{plural(2, "job"), "2 jobs"},
		{plural(2, "branch"), "2 branches"},
		{plural(1, "branch"), "1 branch"},
		{plural(3, "open PR"), "3 open PRs"},
		{plural(2, "earlier line"), "2 earlier lines"},
		{ago(time.Now().Add(-61 * time.Second)), "1 minute ago"},
		{ago(time.Now().Add(-150 * time.Second)), "2 minutes ago"},
		{ago(time.Now().Add(-61 * time.Minute)), "1 hour ago"},
		{ago(time.Now().Add(-72 * time.Hour)), "3 days ago"},
		{jobCounts([]jobView{{State: ci.Success}}), "1 job, successful"},
		{jobCounts([]jobView{{State: ci.Success}, {State: ci.Success}}), "2 jobs, all successful"},
		{jobCounts([]jobView{{State: ci.Success}, {State: ci.Failure}, {State: ci.Success}}), "3 jobs: 2 successful, 1 failed"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
