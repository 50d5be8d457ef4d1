package ninep

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
)

// Transcripts (testdata/transcripts/*.txt) are 9P conversations with the
// server, written as text, one message or action a line:
//
//	> Tread 4 fid=1 offset=0 count=100   send a request (name, tag, fields)
//	< Rread 4 "$HEAD\n"                  the next message that comes back
//	! quiet 200ms                        nothing comes back for that long
//	! sleep 100ms                        wait
//	! commit master                      commit to a branch through the store
//	# ...                                a comment
//
// $HEAD in an expected line stands for master's head at that moment. A
// reply that does not come within replyTime fails the transcript; so does
// one that differs from the line. The conversation ends by closing the
// connection: the server must then end it and leave no watch open.

const replyTime = 2 * time.Second

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			runTranscript(t, file)
		})
	}
}

func runTranscript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st, srv := testServer(t)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c1, c2 := net.Pipe()
	served := make(chan struct{})
	go func() {
		srv.ServeConn(ctx, c2)
		close(served)
	}()
	replies := make(chan []byte, 64)
	go func() {
		defer close(replies)
		r := bufio.NewReader(c1)
		for {
			var size [4]byte
			if _, err := io.ReadFull(r, size[:]); err != nil {
				return
			}
			m := make([]byte, binary.LittleEndian.Uint32(size[:]))
			copy(m, size[:])
			if _, err := io.ReadFull(r, m[4:]); err != nil {
				return
			}
			replies <- m
		}
	}()
	head := func() string {
		b, _ := st.Branch("master")
		id, _ := b.Head(ctx)
		return id.String()
	}

	var td transcriptDialect
	for i, line := range strings.Split(string(data), "\n") {
		at := fmt.Sprintf("%s:%d", filepath.Base(file), i+1)
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "> "):
			m, err := td.request(strings.Fields(line[2:]))
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			if _, err := c1.Write(m); err != nil {
				t.Fatalf("%s: send: %v", at, err)
			}
		case strings.HasPrefix(line, "< "):
			want := strings.ReplaceAll(line[2:], "$HEAD", head())
			select {
			case m, ok := <-replies:
				if !ok {
					t.Fatalf("%s: connection closed, want %s", at, want)
				}
				if got := td.reply(m); got != want {
					t.Fatalf("%s: got %s, want %s", at, got, want)
				}
			case <-time.After(replyTime):
				t.Fatalf("%s: nothing in %v, want %s", at, replyTime, want)
			}
		case strings.HasPrefix(line, "! "):
			f := strings.Fields(line[2:])
			switch {
			case len(f) == 2 && (f[0] == "quiet" || f[0] == "sleep"):
				d, err := time.ParseDuration(f[1])
				if err != nil {
					t.Fatalf("%s: %v", at, err)
				}
				if f[0] == "sleep" {
					time.Sleep(d)
					continue
				}
				select {
				case m := <-replies:
					t.Fatalf("%s: got %s, want nothing for %v", at, td.reply(m), d)
				case <-time.After(d):
				}
			case len(f) == 2 && f[0] == "commit":
				commitTo(t, st, dkstore.BranchName(f[1]), at)
			default:
				t.Fatalf("%s: unknown action %q", at, line)
			}
		default:
			t.Fatalf("%s: cannot read %q", at, line)
		}
	}
	c1.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the server kept the connection after the client left")
	}
	for range replies {
	}
	if n := st.OpenWatches(); n != 0 {
		t.Errorf("OpenWatches() = %d after the connection ended, want 0", n)
	}
}

// transcriptRequests returns the requests of a transcript, encoded, as
// one byte stream (a seed for FuzzServer).
func transcriptRequests(t testing.TB, file string) []byte {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	var td transcriptDialect
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "> "); ok {
			m, err := td.request(strings.Fields(rest))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m...)
		}
	}
	return out
}

func commitTo(t *testing.T, st dkstore.Store, name dkstore.BranchName, what string) {
	t.Helper()
	ctx := context.Background()
	b, err := st.Branch(name)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := b.Transaction(ctx, dkstore.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.WriteFile(ctx, "commit", []byte(what), dkstore.KindFile); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, what); err != nil {
		t.Fatal(err)
	}
}

// 9P2000.L message types of the transcripts.
var msgTypes = map[string]byte{
	"Rlerror": 7, "Tlopen": 12, "Rlopen": 13, "Tversion": 100, "Rversion": 101,
	"Tauth": 102, "Tattach": 104, "Rattach": 105, "Tflush": 108, "Rflush": 109,
	"Twalk": 110, "Rwalk": 111, "Tread": 116, "Rread": 117, "Tclunk": 120, "Rclunk": 121,
}

// The fields of each request, in wire order: u16, u32, u64, s (a string),
// and names (Twalk's count and names, from the words after the fields).
var tFields = map[string][]string{
	"Tversion": {"msize:u32", "version:s"},
	"Tauth":    {"afid:u32", "uname:s", "aname:s", "uid:u32"},
	"Tattach":  {"fid:u32", "afid:u32", "uname:s", "aname:s", "uid:u32"},
	"Tflush":   {"oldtag:u16"},
	"Twalk":    {"fid:u32", "newfid:u32", "names"},
	"Tlopen":   {"fid:u32", "flags:u32"},
	"Tread":    {"fid:u32", "offset:u64", "count:u32"},
	"Tclunk":   {"fid:u32"},
}

// encodeT encodes a request line's words: name, tag, key=value fields,
// then (Twalk) the names to walk.
func encodeT(words []string) ([]byte, error) {
	if len(words) < 2 {
		return nil, fmt.Errorf("want a message name and a tag: %q", words)
	}
	name := words[0]
	typ, ok := msgTypes[name]
	fields, ok2 := tFields[name]
	if !ok || !ok2 {
		return nil, fmt.Errorf("unknown request %s", name)
	}
	tag, err := strconv.ParseUint(words[1], 10, 16)
	if err != nil {
		return nil, fmt.Errorf("tag: %v", err)
	}
	vals := map[string]string{}
	var rest []string
	for _, w := range words[2:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			vals[k] = v
		} else {
			rest = append(rest, w)
		}
	}
	var body []byte
	for _, f := range fields {
		k, kind, _ := strings.Cut(f, ":")
		if k == "names" {
			body = binary.LittleEndian.AppendUint16(body, uint16(len(rest)))
			for _, n := range rest {
				body = binary.LittleEndian.AppendUint16(body, uint16(len(n)))
				body = append(body, n...)
			}
			continue
		}
		v, ok := vals[k]
		if !ok {
			return nil, fmt.Errorf("%s: no %s=", name, k)
		}
		switch kind {
		case "s":
			body = binary.LittleEndian.AppendUint16(body, uint16(len(v)))
			body = append(body, v...)
		default:
			bits, _ := strconv.Atoi(kind[1:])
			n, err := strconv.ParseUint(v, 10, bits)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", name, k, err)
			}
			switch bits {
			case 16:
				body = binary.LittleEndian.AppendUint16(body, uint16(n))
			case 32:
				body = binary.LittleEndian.AppendUint32(body, uint32(n))
			case 64:
				body = binary.LittleEndian.AppendUint64(body, n)
			}
		}
	}
	return append(header(nil, typ, uint16(tag), len(body)), body...), nil
}

var errnoNames = map[uint32]string{2: "ENOENT", 4: "EINTR", 9: "EBADF", 16: "EBUSY", 17: "EEXIST", 20: "ENOTDIR",
	21: "EISDIR", 22: "EINVAL", 27: "EFBIG", 29: "ESPIPE", 30: "EROFS", 38: "ENOSYS"}

// formatR writes a reply as a transcript line: name, tag, and the fields
// that do not vary between runs.
func formatR(m []byte) string {
	if len(m) < headerSize {
		return fmt.Sprintf("short message %x", m)
	}
	name := fmt.Sprintf("type%d", m[4])
	for n, t := range msgTypes {
		if t == m[4] {
			name = n
		}
	}
	s := fmt.Sprintf("%s %d", name, msgTag(m))
	body := m[headerSize:]
	switch name {
	case "Rlerror":
		if len(body) == 4 {
			e := binary.LittleEndian.Uint32(body)
			if n, ok := errnoNames[e]; ok {
				return s + " " + n
			}
			return fmt.Sprintf("%s errno=%d", s, e)
		}
	case "Rversion":
		if len(body) >= 6 {
			return fmt.Sprintf("%s msize=%d version=%s", s, binary.LittleEndian.Uint32(body), body[6:])
		}
	case "Rwalk":
		if len(body) >= 2 {
			return fmt.Sprintf("%s nwqid=%d", s, binary.LittleEndian.Uint16(body))
		}
	case "Rread":
		if len(body) >= 4 {
			return fmt.Sprintf("%s %q", s, body[4:])
		}
	}
	return s
}
