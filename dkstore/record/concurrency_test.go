package record_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/dkstore"
)

// TestConcurrentWaiters: goroutines waiting on one record, and others
// reading it and sealing it, all see a writer's last value; none misses a
// change or sees half of an evaluation (-race checks the rest).
func TestConcurrentWaiters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		r := open(t, s.rec, testOptions)
		n := intField(t, r, "n", 0)
		double := intField(t, r, "double", 0)
		seal(t, r)
		const last = 20

		var wg sync.WaitGroup
		errs := make(chan error, 32) // waiters, sealers and readers
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					rv := r.Version()
					got, _ := n.Get()
					if got == last {
						return
					}
					if w%2 == 1 { // half of them seal before waiting
						if err := r.Seal(ctx); err != nil {
							errs <- fmt.Errorf("sealer %d: Seal() = %v", w, err)
							return
						}
					}
					if _, err := r.WaitAfter(ctx, rv); err != nil {
						errs <- fmt.Errorf("waiter %d: WaitAfter(%d) = %v", w, rv, err)
						return
					}
				}
			}()
		}
		// Readers check that n and double always come from one commit.
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 2 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Microsecond): // not a busy loop, on 2 cores
					}
					before := r.Version()
					a, _ := n.Get()
					b, _ := double.Get()
					if r.Version() == before && b != 2*a {
						errs <- fmt.Errorf("n = %d and double = %d at version %d", a, b, before)
						return
					}
				}
			}()
		}
		for i := 1; i <= last; i++ {
			write(t, s.other, "master", map[string]string{"tests/n": strconv.Itoa(i), "tests/double": strconv.Itoa(2 * i)})
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got, _ := n.Get(); got != last {
			t.Errorf("n = %d, want %d", got, last)
		}
		if got, _ := read(t, s.other, "state", "tests/double"); got != strconv.Itoa(2*last) {
			t.Errorf("state: double = %q, want %d", got, 2*last)
		}
	})
}

// TestConcurrentSets: several goroutines' SetMultiple on one record all
// land in the first lookup branch (the store merges the commits), and
// several goroutines declaring fields at once get one field per key.
func TestConcurrentSets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		r := open(t, s.rec, testOptions)
		const workers = 6
		var wg sync.WaitGroup
		errs := make(chan error, 4*workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := r.IntField(ctx, fmt.Sprintf("w%d/a", w), 0)
				if err != nil {
					errs <- err
					return
				}
				b, err := r.StringField(ctx, fmt.Sprintf("w%d/b", w), "")
				if err != nil {
					errs <- err
					return
				}
				// Every worker also declares the shared key: one wins.
				if _, err := r.BoolField(ctx, "shared", false); err != nil && !errors.Is(err, dkstore.ErrExist) {
					errs <- err
				}
				if err := r.SetMultiple(ctx, fmt.Sprintf("worker %d", w), a.To(w), b.To(strconv.Itoa(w))); err != nil {
					errs <- fmt.Errorf("worker %d: SetMultiple() = %v", w, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		seal(t, r)
		for w := range workers {
			if got, _ := read(t, s.other, "master", fmt.Sprintf("tests/w%d/a", w)); got != strconv.Itoa(w) {
				t.Errorf("master: w%d/a = %q, want %d", w, got, w)
			}
			if got, _ := read(t, s.other, "state", fmt.Sprintf("tests/w%d/b", w)); got != strconv.Itoa(w) {
				t.Errorf("state: w%d/b = %q, want %d", w, got, w)
			}
		}
		if got, ok := read(t, s.other, "defaults", "tests/shared"); got != "false" || !ok {
			t.Errorf("defaults: shared = %q, want false", got)
		}
	})
}

// TestTwoPrograms: one program's Set reaches another program's Wait on the
// same branches (over 9P: two connections).
func TestTwoPrograms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s stores) {
		ctx := t.Context()
		app := open(t, s.rec, testOptions)
		ui := open(t, s.other, testOptions)
		appCPU := intField(t, app, "ncpu", 2)
		uiCPU := intField(t, ui, "ncpu", 2)
		seal(t, app)
		_, v := appCPU.Get()

		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, waitTimeout)
			defer cancel()
			_, err := app.Wait(wctx)
			done <- err
		}()
		if err := uiCPU.Set(ctx, "from the settings window", 4); err != nil {
			t.Fatalf("Set() = %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Wait() = %v", err)
		}
		if got, v2 := appCPU.Get(); got != 4 || v2 <= v {
			t.Errorf("the program's ncpu = %d, version %d; want 4, above %d", got, v2, v)
		}
	})
}
