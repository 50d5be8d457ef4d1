package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartupLog: the server logs its start at INFO, and INFO shows by
// default.
func TestStartupLog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "dk.sock")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--listen-9p", "unix://" + sock}, &stderr, &stderr) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "starting datakit") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := `level=INFO msg="starting datakit ` + version + `"`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}
