package dkstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/storetest"
)

// The conformance suite against both of the package's stores. Each run
// ends with a check that the stores left no goroutine behind.

func TestStoreMemory(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
