package storetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// The reference's remote test repository (scripts/git-dumb-server): files
// foo and x/y committed by John Doo at a fixed date.
const (
	remoteDate   = "Thu Mar 10 19:25:07 2016 +0000"
	remoteName   = "John Doo"
	remoteEmail  = "<john.doo@docker.com>"
	remoteHead   = "ecf6b63a94681222b1be76c0f95159122ce80db1"
	remoteUnix   = 1457637907
	remoteMsg    = "Initial commit\n"
	remoteAuthor = "john.doo@docker.com"
)

// git runs the git command in dir with a fixed identity and date and no
// user or system configuration, and returns its trimmed output.
func git(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	args = append([]string{"-c", "user.name=" + remoteName, "-c", "user.email=" + remoteEmail,
		"-c", "init.defaultBranch=master", "-c", "commit.gpgSign=false"}, args...)
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = gitEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func gitEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_DATE="+remoteDate,
		"GIT_COMMITTER_DATE="+remoteDate,
		"HOME="+t.TempDir(),
		"LC_ALL=C",
	)
}

// gitHashObject returns git's hash of a blob holding data, or false if git
// is not installed.
func gitHashObject(t *testing.T, data string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git is not installed: not cross-checking hashes")
		return "", false
	}
	return git(t, t.TempDir(), data, "hash-object", "--stdin"), true
}

// makeRemote makes the reference's test repository in dir, plus a branch
// "other" one commit ahead, and returns the two heads.
func makeRemote(t *testing.T, dir string) (master, other string) {
	t.Helper()
	git(t, dir, "", "init", "-q")
	for name, data := range map[string]string{"foo": "foo\n", "x/y": "bar\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "", "add", "foo", "x/y")
	git(t, dir, "", "commit", "-q", "-a", "-m", "Initial commit")
	master = git(t, dir, "", "rev-parse", "master")
	git(t, dir, "", "checkout", "-q", "-b", "other")
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "", "add", "other")
	git(t, dir, "", "commit", "-q", "-m", "Other")
	other = git(t, dir, "", "rev-parse", "other")
	git(t, dir, "", "checkout", "-q", "master")
	return master, other
}

// testRemotes is the reference's "Remotes" on a local repository made with
// git: fetch by path, file:// URL and #branch fragment.
func testRemotes(t *testing.T, open func(t *testing.T) dkstore.Store) {
	dir := t.TempDir()
	master, other := makeRemote(t, dir)
	if master != remoteHead {
		t.Errorf("the reference's remote repository has head %s here, want %s", master, remoteHead)
	}
	fileURL := "file://" + filepath.ToSlash(dir)

	for _, c := range []struct {
		name, url, branch, want string
		files                   map[string]string
	}{
		{"path", dir, "master", master, nil},
		{"file URL", fileURL, "master", master, nil},
		{"fragment", dir + "#master", "", master, nil},
		{"file URL fragment", fileURL + "#master", "", master, nil},
		{"other branch", dir, "other", other, map[string]string{"other": "other\n"}},
		{"other branch fragment", fileURL + "#other", "", other, map[string]string{"other": "other\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			ctx := t.Context()
			local := branch(t, s, "master")
			localHead := commitFiles(t, local, "local", map[string]string{"local": "x"})
			id, err := s.Fetch(ctx, c.url, c.branch)
			if err != nil {
				t.Fatalf("Fetch(%q, %q) = %v", c.url, c.branch, err)
			}
			if id.String() != c.want {
				t.Fatalf("Fetch(%q, %q) = %s, want %s", c.url, c.branch, id, c.want)
			}
			checkBranches(t, s, "master")
			if h := head(t, local); h != localHead {
				t.Errorf("master Head() after Fetch = %s, want it unchanged at %s", h, localHead)
			}
			cm := commitOf(t, s, id)
			if c.want == master {
				if cm.Message != remoteMsg || cm.Author.Name != remoteName || cm.Author.Email != remoteAuthor ||
					cm.Author.When.Unix() != remoteUnix || !cm.Author.When.Equal(time.Unix(remoteUnix, 0)) {
					t.Errorf("Commit(%s) = %q by %s <%s> at %d, want %q by %s <%s> at %d", id, cm.Message,
						cm.Author.Name, cm.Author.Email, cm.Author.When.Unix(), remoteMsg, remoteName, remoteAuthor, remoteUnix)
				}
			}
			want := map[string]string{"foo": "foo\n", "x/y": "bar\n"}
			for k, v := range c.files {
				want[k] = v
			}
			tree := treeOf(t, s, id)
			checkFiles(t, "fetched tree", tree, plain(want))
			if c.want == master {
				checkNames(t, tree, "", "foo", "x")
			}

			// Fetching again gives the same commit.
			again, err := s.Fetch(ctx, c.url, c.branch)
			if err != nil || again != id {
				t.Errorf("Fetch(%q, %q) again = %s, %v, want %s", c.url, c.branch, again, err, id)
			}
			// The fetched commit can be built on.
			fetched := branch(t, s, "fetched")
			if err := fetched.FastForward(ctx, id); err != nil {
				t.Errorf("FastForward(fetched, %s) = %v", id, err)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		missing := filepath.Join(t.TempDir(), "no-such-repo")
		for _, c := range []struct{ url, branch string }{
			{missing, "master"},
			{"file://" + filepath.ToSlash(missing), "master"},
			{missing + "#master", ""},
			{dir, "no-such-branch"},
			{dir + "#no-such-branch", ""},
			{"", "master"},
			{dir, ""},
			{"not a url at all://", "master"},
		} {
			if id, err := s.Fetch(ctx, c.url, c.branch); err == nil {
				t.Errorf("Fetch(%q, %q) = %s, nil, want an error", c.url, c.branch, id)
			}
		}
		if bs := branches(t, s); len(bs) != 0 {
			t.Errorf("Branches() after failed fetches = %q, want none", bs)
		}
	})
}
