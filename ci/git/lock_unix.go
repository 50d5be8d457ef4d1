//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/dkgo/datakit/term"
)

// lockFile takes an exclusive lock on the file at path (created if
// missing), which other Remotes and other processes respect, waiting
// until ctx is done; waiting is called once if the lock is busy. It
// returns the function that releases the lock.
func lockFile(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, term.Infra(fmt.Errorf("locking the mirror: %w", err))
	}
	for told := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, term.Infra(fmt.Errorf("locking the mirror: %w", err))
		}
		if !told {
			told = true
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
