package github_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/bridge/github"
	"github.com/dkgo/datakit/dkstore"
)

func secretFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadSecretFile(t *testing.T) {
	if b, err := github.ReadSecretFile(secretFile(t, " ghp_abc\n", 0o600)); err != nil || string(b) != "ghp_abc" {
		t.Errorf("ReadSecretFile(0600) = %q, %v", b, err)
	}
	if b, err := github.ReadSecretFile(secretFile(t, "ghp_abc", 0o640)); err != nil || string(b) != "ghp_abc" {
		t.Errorf("ReadSecretFile(0640) = %q, %v", b, err)
	}
	_, err := github.ReadSecretFile(secretFile(t, "ghp_abc", 0o644))
	if err == nil || !strings.Contains(err.Error(), "world-readable") {
		t.Errorf("ReadSecretFile(0644) = %v, want refused as world-readable", err)
	}
	if err != nil && strings.Contains(err.Error(), "ghp_abc") {
		t.Errorf("the error shows the secret: %v", err)
	}
	if _, err := github.ReadSecretFile(secretFile(t, " \n", 0o600)); err == nil {
		t.Errorf("ReadSecretFile(empty) succeeded")
	}
}

func setup(t *testing.T, env map[string]string, args ...string) (*github.Setup, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := github.DefineFlags(fs, "", "*:rw")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.Setup(func(k string) string { return env[k] })
}

func TestFlagsSetup(t *testing.T) {
	tok := secretFile(t, "ghp_file\n", 0o600)
	s, err := setup(t, map[string]string{"GITHUB_TOKEN": "ghp_env"})
	if err != nil || s.GitHub.Token != "ghp_env" || s.Options.ResyncInterval != time.Hour || s.Options.Webhook != nil {
		t.Errorf("from the environment: %+v, %v", s, err)
	}
	s, err = setup(t, map[string]string{"GITHUB_TOKEN": "ghp_env"}, "--token-file", tok, "--resync-interval", "90", "--capabilities", "*:r,status[ci/datakit]:x")
	if err != nil || s.GitHub.Token != "ghp_file" || s.Options.ResyncInterval != 90*time.Second || s.Options.Capabilities.String() != "*:r,status[ci/datakit]:x" {
		t.Errorf("from a file: %+v, %v", s, err)
	}
	s, err = setup(t, nil, "--token-file", tok, "--no-resync", "--webhook", "https://ci.example.com:8443/hooks")
	if err != nil || s.Options.ResyncInterval >= 0 || s.WebhookAddr != ":8443" || !s.RandomSecret || len(s.Options.Webhook.Secret) < 32 {
		t.Errorf("webhook with a random secret: %+v, %v", s, err)
	}
	hookSecret := secretFile(t, "s3cret", 0o600)
	s, err = setup(t, nil, "--token-file", tok, "--webhook", "http://ci.example.com/hooks", "--webhook-listen", "127.0.0.1:9000", "--webhook-secret-file", hookSecret, "--capabilities", "*:r")
	if err != nil || s.WebhookAddr != "127.0.0.1:9000" || string(s.Options.Webhook.Secret) != "s3cret" || s.RandomSecret {
		t.Errorf("webhook with a secret file: %+v, %v", s, err)
	}
	for name, args := range map[string][]string{
		"no credentials":           nil,
		"world-readable token":     {"--token-file", secretFile(t, "x", 0o644)},
		"app without key":          {"--app-id", "12"},
		"app and token":            {"--app-id", "12", "--app-key", tok, "--token-file", tok},
		"bad capabilities":         {"--token-file", tok, "--capabilities", "*:q"},
		"bad interval":             {"--token-file", tok, "--resync-interval", "soon"},
		"bad webhook":              {"--token-file", tok, "--webhook", "ftp://x"},
		"random secret without w":  {"--token-file", tok, "--webhook", "http://x/h", "--capabilities", "*:r"},
		"webhook options, no hook": {"--token-file", tok, "--webhook-listen", ":80"},
		"bad GitHub URL":           {"--token-file", tok, "--github-url", "github.example.com"},
	} {
		if _, err := setup(t, nil, args...); err == nil {
			t.Errorf("%s: no error", name)
		} else if name != "world-readable token" && !errors.Is(err, dkstore.ErrInvalid) {
			t.Errorf("%s: %v, not ErrInvalid", name, err)
		} else if strings.HasSuffix(err.Error(), "invalid argument") {
			t.Errorf("%s: %q ends in errno text that tells the user nothing", name, err)
		}
	}
}

func TestParseInterval(t *testing.T) {
	for in, want := range map[string]time.Duration{"3600": time.Hour, "0.5": 500 * time.Millisecond, "10m": 10 * time.Minute} {
		if got, err := github.ParseInterval(in); err != nil || got != want {
			t.Errorf("ParseInterval(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "-5m", "soon"} {
		if _, err := github.ParseInterval(in); err == nil {
			t.Errorf("ParseInterval(%q) succeeded", in)
		}
	}
}
