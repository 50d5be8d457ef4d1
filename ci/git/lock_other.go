//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package git

import "context"

// lockFile does nothing where there is no flock: Remotes sharing a mirror
// are then not serialised (each Remote still fetches one at a time).
func lockFile(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	return func() {}, nil
}
