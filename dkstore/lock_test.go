package dkstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dkgo/datakit/dkstore"
)

// An exclusive opener owns the repository until it closes the store: a
// second exclusive Open fails at once naming it; a plain Open does not.
func TestExclusive(t *testing.T) {
	dir := t.TempDir()
	excl := dkstore.Options{Exclusive: true}
	first, err := dkstore.Open(dir, excl)
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() (*dkstore.GitStore, error){
		"Open":       func() (*dkstore.GitStore, error) { return dkstore.Open(dir, excl) },
		"OpenGitDir": func() (*dkstore.GitStore, error) { return dkstore.OpenGitDir(filepath.Join(dir, ".git"), excl) },
	} {
		s, err := open()
		if err == nil {
			s.Close()
			t.Fatalf("%s a second time = nil error, want ErrLocked", name)
		}
		if !errors.Is(err, dkstore.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d, started as: ", os.Getpid())) {
			t.Errorf("%s a second time = %v, want ErrLocked naming this process", name, err)
		}
	}
	reader, err := dkstore.Open(dir, dkstore.Options{})
	if err != nil {
		t.Fatalf("a plain Open beside the owner: %v", err)
	}
	reader.Close()
	first.Close()
	again, err := dkstore.Open(dir, excl)
	if err != nil {
		t.Fatalf("Open after the owner closed: %v", err)
	}
	again.Close()
}
