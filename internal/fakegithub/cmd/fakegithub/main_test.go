package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"strings"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--repo", "nobody"}, `--repo "nobody": want OWNER/NAME or OWNER/NAME:DIR`},
		{[]string{"--repo", "me/p:"}, "no directory after ':'"},
		{[]string{"--repo", "me/p:" + t.TempDir()}, "--repo me/p:"},
		{[]string{"--repo", "me/p", "--repo", "me/p"}, "--repo me/p: fakegithub: already exists"},
		{[]string{"--listen", busy.Addr().String()}, "--listen " + busy.Addr().String() + ": listen tcp"},
		{[]string{"--server-errors", "2"}, "--server-errors 2: want a fraction from 0 to 1"},
		{[]string{"--rate-limit", "0"}, "--rate-limit 0"},
		{[]string{"--webhook-secret", "s"}, "--webhook-secret needs --webhook URL"},
		{[]string{"--user", "no body"}, `--user "no body"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error()+errOut.String(), c.want) {
			t.Errorf("run(%q) = %v (stderr %q), want a usage error mentioning %q", c.args, err, errOut.String(), c.want)
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help = %v", err)
	}
	for _, want := range []string{"-listen ADDR", "-repo OWNER/NAME[:DIR]", "-token TOKEN", "-token-file FILE", "-webhook URL", "-webhook-secret SECRET", "_fakegithub/pulls", "_fakegithub/stats"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// run prints the URL and the token, serves until its context ends, then
// prints its call counts.
func TestRunPrints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"--repo", "me/p", "--token", "ghp_mine"}, &out, &errOut); err != nil {
		t.Fatalf("run = %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"fakegithub: GitHub stand-in at http://127.0.0.1:", "token: ghp_mine (user me)", "repository me/p: empty",
		"try: GITHUB_TOKEN=ghp_mine datakit github-bridge --github-url http://127.0.0.1:", "fakegithub: stopped after 0 API calls"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
