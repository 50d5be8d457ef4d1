package web

import (
	"net/http"
	"sync"
	"testing"
)

// HoldSavedLogReads makes every saved log's page wait, after its head is
// sent and before the log is read, until the returned function is
// called (or the test ends).
func HoldSavedLogReads(t *testing.T) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	hook := func() { <-ch }
	testHookSavedLogRead.Store(&hook)
	t.Cleanup(func() {
		release()
		testHookSavedLogRead.Store(nil)
	})
	return release
}

// PanicOn makes the server panic on requests for path (until the test
// ends).
func PanicOn(t *testing.T, path string) {
	hook := func(r *http.Request) {
		if r.URL.Path == path {
			panic("a test panics on " + path)
		}
	}
	testHookRoute.Store(&hook)
	t.Cleanup(func() { testHookRoute.Store(nil) })
}
