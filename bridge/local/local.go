package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/dkstore"
)

// Source is a local repository to mirror, and its name in the metadata
// tree.
type Source struct {
	Repo bridge.Repo
	Path string // a work tree holding .git, or a Git directory
}

// ParseSource parses "user/repo:PATH", as given on the command line.
func ParseSource(s string) (Source, error) {
	name, path, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(path) == "" {
		return Source{}, dkstore.Invalidf("local: invalid source %q: want USER/REPO:PATH (e.g. me/project:/src/project)", s)
	}
	repo, err := bridge.ParseRepo(name)
	if err != nil {
		return Source{}, fmt.Errorf("local: invalid source %q: %w", s, err)
	}
	return Source{Repo: repo, Path: path}, nil
}

// String returns "user/repo:PATH".
func (s Source) String() string { return s.Repo.String() + ":" + s.Path }

// Options configure Sync and Run. The zero value is useful.
type Options struct {
	// Branch is the metadata branch (default bridge.DefaultBranch).
	Branch dkstore.BranchName
	// Interval is how often Run looks at the repositories (default 250ms).
	Interval time.Duration
	// Logger receives what the bridge does and the errors it survives
	// (nil: discard).
	Logger *slog.Logger
	// Refuse lists Git directories that must not be watched, such as the
	// store's own (compared after resolving symlinks).
	Refuse []string
}

func (o Options) withDefaults() Options {
	if o.Branch == "" {
		o.Branch = bridge.DefaultBranch
	}
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ErrRefused is the error of Sync and Run asked to watch a repository
// listed in Options.Refuse.
var ErrRefused = errors.New("refusing to watch the store's own repository (every commit of the store would be mirrored back into it)")

// Sync makes one pass: it brings the metadata branch in line with the
// repositories' refs in one commit, and returns the branch head and
// whether it committed. Sources that cannot be read (missing, not Git
// repositories) are left as they are in the branch; the others are still
// synced, and the error then lists the failures.
func Sync(ctx context.Context, store dkstore.Store, srcs []Source, opts Options) (dkstore.CommitID, bool, error) {
	s, err := newSyncer(store, srcs, opts.withDefaults())
	if err != nil {
		return dkstore.CommitID{}, false, err
	}
	defer s.close()
	if err := s.open(); err != nil && errors.Is(err, ErrRefused) {
		return dkstore.CommitID{}, false, err
	}
	return s.pass(ctx)
}

// Run syncs the repositories into the store every Options.Interval until
// ctx is done, and then returns nil. It logs errors and keeps going (a
// repository that is missing for a while is picked up again when it comes
// back), but returns at once, with an error, for invalid sources and
// refused repositories.
func Run(ctx context.Context, store dkstore.Store, srcs []Source, opts Options) error {
	opts = opts.withDefaults()
	s, err := newSyncer(store, srcs, opts)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.open(); errors.Is(err, ErrRefused) {
		return err
	}
	opts.Logger.Info("local bridge running", "branch", opts.Branch, "sources", len(srcs), "interval", opts.Interval)
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		_, _, err := s.pass(ctx)
		if errors.Is(err, ErrRefused) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		s.report(err)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// resolve returns the absolute, cleaned, symlink-resolved form of p (as
// far as it exists).
func resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

// refused reports whether the repository with these Git directories is
// one of refuse (Git directories, or work trees holding one).
func refused(refuse []string, dirs ...string) (string, bool) {
	for _, r := range refuse {
		for _, cand := range []string{resolve(r), resolve(filepath.Join(r, ".git"))} {
			for _, d := range dirs {
				if resolve(d) == cand {
					return r, true
				}
			}
		}
	}
	return "", false
}
