package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// BuildOptions says what to build.
type BuildOptions struct {
	// ContextDir is the build context: the directory sent to the daemon,
	// less what its .dockerignore excludes.
	ContextDir string
	// Dockerfile is the Dockerfile's slash-separated path relative to
	// ContextDir; empty means "Dockerfile". It must be a regular file
	// inside ContextDir, reached through no symbolic link and no "..".
	Dockerfile string
	BuildArgs  map[string]string // ARG values
	Target     string            // the stage to build; empty: the last
	Tags       []string          // names to give the image
	Labels     map[string]string // labels to set on the image
	NoCache    bool              // do not reuse cached steps
	// Timeout, if positive, limits the build; past it Build returns a
	// *TimeoutError (the daemon then stops the build).
	Timeout time.Duration
}

// Build builds an image with the daemon's classic builder and returns its
// ID ("sha256:…"). The build's output is written to log as it comes. A
// failing step (or Dockerfile) gives a plain error with the daemon's
// message; an unreachable or vanishing daemon gives an error wrapped with
// term.Infra. Intermediate containers are removed, even on failure.
func (c *Client) Build(ctx context.Context, o BuildOptions, log io.Writer) (string, error) {
	dir, err := filepath.Abs(o.ContextDir)
	if err != nil {
		return "", fmt.Errorf("docker: build: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("docker: build: context %s is not a directory", o.ContextDir)
	}
	dockerfile := o.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if msg := checkDockerfile(dir, dockerfile); msg != "" {
		return "", fmt.Errorf("docker: build: %s", msg)
	}
	ignore, err := readDockerignore(dir)
	if err != nil {
		return "", fmt.Errorf("docker: build: %w", err)
	}

	buildCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if o.Timeout > 0 {
		var cancelTimeout context.CancelFunc
		buildCtx, cancelTimeout = context.WithTimeoutCause(buildCtx, o.Timeout, &TimeoutError{Timeout: o.Timeout})
		defer cancelTimeout()
	}

	// The context is tarred on the fly into the request's body.
	pr, pw := io.Pipe()
	tarDone := make(chan error, 1)
	go func() {
		err := writeContext(pw, dir, dockerfile, ignore)
		pw.CloseWithError(err)
		tarDone <- err
	}()
	// finishContext stops the tar writer (if the daemon did not read it
	// all) and returns its own failure, if any.
	finishContext := sync.OnceValue(func() error {
		pr.CloseWithError(errBuildOver)
		err := <-tarDone
		if errors.Is(err, errBuildOver) || errors.Is(err, io.ErrClosedPipe) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("docker: build context: %w", err)
		}
		return nil
	})
	defer finishContext()

	args := make(map[string]*string, len(o.BuildArgs))
	for k, v := range o.BuildArgs {
		args[k] = &v
	}
	defer c.watch(buildCtx, cancel)()
	res, err := c.api.ImageBuild(buildCtx, pr, client.ImageBuildOptions{
		Tags:        o.Tags,
		Dockerfile:  dockerfile,
		BuildArgs:   args,
		Target:      o.Target,
		Labels:      o.Labels,
		NoCache:     o.NoCache,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		if cerr := finishContext(); cerr != nil {
			return "", cerr
		}
		return "", c.wrap(buildCtx, nil, "build", err)
	}
	defer res.Body.Close()

	lw := newLogWriter(log)
	var id string
	dec := json.NewDecoder(res.Body)
	for {
		var m buildMessage
		err := dec.Decode(&m)
		if err == io.EOF {
			break
		}
		switch {
		case buildCtx.Err() != nil:
			return "", contextError(buildCtx, "build")
		case err != nil:
			if cerr := finishContext(); cerr != nil {
				return "", cerr
			}
			return "", c.wrap(buildCtx, nil, "read the build's output", err)
		case m.ErrorDetail != nil || m.Error != "":
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			if cerr := finishContext(); cerr != nil {
				return "", cerr
			}
			return "", fmt.Errorf("docker: build failed: %s", strings.TrimSpace(msg))
		case m.Aux != nil:
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		case m.Stream != "":
			io.WriteString(lw, m.Stream)
		case m.Status != "":
			s := m.Status
			if m.ID != "" {
				s = m.ID + ": " + s
			}
			io.WriteString(lw, s+"\n")
		}
		if lw.err != nil {
			return "", lw.failure()
		}
	}
	if buildCtx.Err() != nil {
		return "", contextError(buildCtx, "build")
	}
	if id == "" {
		return "", term.Infra(fmt.Errorf("docker: build: the Docker daemon at %s ended the build's output without an image ID", c.host))
	}
	return id, nil
}

var errBuildOver = errors.New("build over")

// buildMessage is one JSON message of the classic builder's output.
type buildMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	ID          string `json:"id"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// checkDockerfile checks that rel names a regular file in base, with no
// "..", empty or symbolic-link component (the original DataKitCI's rules
// and messages). It returns what is wrong, or "".
func checkDockerfile(base, rel string) string {
	p := base
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		switch part {
		case "":
			return fmt.Sprintf("Empty path component in Dockerfile path %q", rel)
		case "..":
			return fmt.Sprintf("'..' in Dockerfile path %q!", rel)
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Sprintf("Dockerfile does not exist: %q", rel)
		case err != nil:
			return fmt.Sprintf("Bad Dockerfile %q: %v", rel, err)
		case fi.Mode().IsDir() && i < len(parts)-1:
		case fi.Mode().IsRegular() && i == len(parts)-1:
		default:
			return fmt.Sprintf("Not a regular file or directory: %q in Dockerfile path %q", part, rel)
		}
	}
	return ""
}

// readDockerignore returns the matcher for dir's .dockerignore, or nil.
func readDockerignore(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return pm, nil
}

// writeContext writes dir as a tar stream to w, leaving out what ignore
// matches but never the Dockerfile or the .dockerignore (as docker build
// does). Owners are root; symbolic links stay links; sockets, devices and
// pipes are left out.
func writeContext(w io.Writer, dir, dockerfile string, ignore *patternmatcher.PatternMatcher) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignore != nil && rel != dockerfile && rel != ".dockerignore" {
			excluded, err := ignore.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if excluded {
				if d.IsDir() && !ignore.Exclusions() {
					return filepath.SkipDir
				}
				return nil // an exception ("!pattern") may bring back what is below
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case fi.Mode().IsRegular(), fi.IsDir():
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
