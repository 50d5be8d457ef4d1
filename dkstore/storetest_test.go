package dkstore_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/storetest"
)

// The conformance suite against both of the package's stores. Each run
// ends with a check that the stores left no goroutine behind.

func TestStoreMemory(t *testing.T) {
	defer verifyNoLeaks(t, goroutines())
	storetest.Run(t, func(t *testing.T) dkstore.Store {
		s := dkstore.NewMemory(dkstore.Options{})
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})
		return s
	})
}

func TestStoreDisk(t *testing.T) {
	defer verifyNoLeaks(t, goroutines())
	storetest.Run(t, func(t *testing.T) dkstore.Store {
		s, err := dkstore.Open(t.TempDir(), dkstore.Options{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})
		return s
	})
}

// goroutines returns the stacks of the running goroutines by id line
// ("goroutine 12").
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		head, _, _ := strings.Cut(string(g), " [")
		out[head] = string(g)
	}
	return out
}

// verifyNoLeaks fails t if goroutines other than those in before and the
// caller's are still running after a grace period, as goleak.VerifyNone
// with IgnoreCurrent does.
func verifyNoLeaks(t *testing.T, before map[string]string) {
	t.Helper()
	self := goroutines()
	var leaked []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked = leaked[:0]
		for id, stack := range goroutines() {
			if _, ok := before[id]; ok {
				continue
			}
			if s, ok := self[id]; ok && strings.Contains(s, "verifyNoLeaks") {
				continue
			}
			leaked = append(leaked, stack)
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leaked) > 0 {
		t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}
