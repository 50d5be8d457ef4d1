package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// RunOptions says what to run and how.
type RunOptions struct {
	Image      string   // image ID or reference; it must exist locally
	Cmd        []string // nil: the image's CMD
	Entrypoint []string // nil: the image's ENTRYPOINT
	Env        []string // KEY=value
	User       string   // user[:group], by name or number; empty: the image's
	WorkDir    string   // empty: the image's
	Mounts     []Mount  // host directories to bind, e.g. the checkout
	// Network is the Docker network to join: "none" (the default when
	// empty) gives the container no network at all; "bridge" is Docker's
	// default network.
	Network string
	// Init runs the command under the daemon's init (docker run --init:
	// tini), which reaps the processes the command orphans and passes
	// signals on. Without it the command is process 1 of its container,
	// and what it orphans stays a zombie (tests of process clean-up, say,
	// then fail).
	Init bool
	// Timeout, if positive, limits the whole run; past it the container is
	// killed and removed and Run returns a *TimeoutError.
	Timeout time.Duration
	Labels  map[string]string // added to the container (with OwnerLabel)
}

// Mount binds a host directory or file into the container.
type Mount struct {
	Source   string // absolute host path
	Target   string // absolute path in the container
	ReadOnly bool
}

// ExitError reports a command that ran and exited with a non-zero status.
// Its text is the original DataKitCI's.
type ExitError struct {
	Cmd    []string // the command as the container ran it (entrypoint and arguments)
	Status int
}

func (e *ExitError) Error() string { return exitMessage(e.command(), e.Status) }

// command displays the command: each argument quoted, separated by spaces.
func (e *ExitError) command() string {
	q := make([]string, len(e.Cmd))
	for i, a := range e.Cmd {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// exitMessage is the message of command cmd (as displayed) that exited
// with status.
func exitMessage(cmd string, status int) string {
	return fmt.Sprintf("Command %s exited with status %d", cmd, status)
}

// Run runs a command in a new container and streams its stdout and stderr
// (in the order the daemon delivers them) to log as they come. It returns
// nil if the command exits with status 0, an *ExitError for another status,
// a *TimeoutError past o.Timeout, an error wrapping the context's cause if
// ctx ends, and an error wrapped with term.Infra if the daemon cannot be
// reached or goes away. The container is removed before Run returns, in
// every case but an unreachable daemon.
func (c *Client) Run(ctx context.Context, o RunOptions, log io.Writer) (err error) {
	if o.Image == "" {
		return errors.New("docker: run: no image given")
	}
	mounts := make([]mount.Mount, len(o.Mounts))
	for i, m := range o.Mounts {
		if !filepath.IsAbs(m.Source) || !path.IsAbs(m.Target) {
			return fmt.Errorf("docker: run: mount %q on %q: both paths must be absolute", m.Source, m.Target)
		}
		mounts[i] = mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	}
	network := o.Network
	if network == "" {
		network = "none"
	}
	labels := maps.Clone(o.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[OwnerLabel] = "1"

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if o.Timeout > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeoutCause(runCtx, o.Timeout, &TimeoutError{Timeout: o.Timeout})
		defer cancelTimeout()
	}

	// The container gets a name of ours, so that it can be removed even
	// if the answer to its creation is lost. The creation itself is not
	// cancelled (CallTimeout bounds it): a creation abandoned half way may
	// still complete in the daemon after our removal, leaving the
	// container behind.
	name := newName()
	defer func() { err = c.removeContainer(ctx, name, err) }()
	err = c.call(context.WithoutCancel(runCtx), "create container", func(ctx context.Context) error {
		_, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: name,
			Config: &container.Config{
				Image:        o.Image,
				Cmd:          o.Cmd,
				Entrypoint:   o.Entrypoint,
				Env:          o.Env,
				User:         o.User,
				WorkingDir:   o.WorkDir,
				Labels:       labels,
				AttachStdout: true,
				AttachStderr: true,
			},
			HostConfig: &container.HostConfig{
				NetworkMode: container.NetworkMode(network),
				Mounts:      mounts,
				Init:        initFlag(o.Init),
				// The output comes through the attached stream; the
				// daemon need not also store it (json-file would, line
				// by line, for a container removed at once).
				LogConfig: container.LogConfig{Type: "none"},
			},
		})
		return err
	})
	if err == nil && runCtx.Err() != nil {
		err = contextError(runCtx, "create container")
	}
	if err != nil {
		return err
	}
	var cmd []string
	err = c.call(runCtx, "inspect container", func(ctx context.Context) error {
		r, err := c.api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		cmd = append([]string{r.Container.Path}, r.Container.Args...)
		return err
	})
	if err != nil {
		return err
	}

	// Attach before starting, so that no output is lost. The attached
	// connection is closed when runCtx ends (timeout, cancel, heartbeat),
	// which ends the copy below.
	var attached client.HijackedResponse
	err = c.call(runCtx, "attach to container", func(ctx context.Context) error {
		r, err := c.api.ContainerAttach(ctx, name, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
		attached = r.HijackedResponse
		return err
	})
	if err != nil {
		return err
	}
	defer attached.Close()
	defer context.AfterFunc(runCtx, attached.Close)()

	err = c.call(runCtx, "start container", func(ctx context.Context) error {
		_, err := c.api.ContainerStart(ctx, name, client.ContainerStartOptions{})
		return err
	})
	if err != nil {
		return err
	}
	defer c.watch(runCtx, cancel)()

	lw := newLogWriter(log)
	_, err = stdcopy.StdCopy(lw, lw, attached.Reader)
	switch {
	case runCtx.Err() != nil:
		return contextError(runCtx, "run")
	case lw.err != nil:
		return lw.failure()
	case err != nil:
		return c.wrap(runCtx, nil, "read the container's output", err)
	}

	// The output ended: the command has exited (or the daemon went away,
	// which the wait tells).
	wait := c.api.ContainerWait(runCtx, name, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var res container.WaitResponse
	select {
	case res = <-wait.Result:
	case err := <-wait.Error:
		return c.wrap(runCtx, nil, "wait for container", err)
	}
	if res.Error != nil && res.Error.Message != "" {
		return term.Infra(fmt.Errorf("docker: wait for container: %s", res.Error.Message))
	}
	if res.StatusCode != 0 {
		return &ExitError{Cmd: cmd, Status: int(res.StatusCode)}
	}
	return nil
}

// removeContainer force-removes the container called name with a fresh
// context (the caller's may be over) and combines the outcome with err,
// Run's result so far.
func (c *Client) removeContainer(ctx context.Context, name string, err error) error {
	rerr := c.call(context.WithoutCancel(ctx), "remove container "+name, func(ctx context.Context) error {
		_, err := c.api.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
	if rerr == nil {
		return err
	}
	if err == nil {
		if !term.IsInfra(rerr) {
			rerr = term.Infra(rerr)
		}
		return rerr
	}
	return fmt.Errorf("%w (and the container was not removed: %v)", err, rerr)
}

// RemoveContainers force-removes every container made by Run (running or
// not) that has all the given labels, and returns how many it removed.
// Use it to clean up after a crash or a lost daemon.
func (c *Client) RemoveContainers(ctx context.Context, labels map[string]string) (int, error) {
	f := client.Filters{}.Add("label", OwnerLabel+"=1")
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	var list client.ContainerListResult
	err := c.call(ctx, "list containers", func(ctx context.Context) (err error) {
		list, err = c.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ctr := range list.Items {
		err := c.call(ctx, "remove container "+ctr.ID, func(ctx context.Context) error {
			_, err := c.api.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if cerrdefs.IsNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// newName returns a fresh container name.
func newName() string {
	var b [12]byte
	rand.Read(b[:])
	return "datakit-ci-" + hex.EncodeToString(b[:])
}

// initFlag is HostConfig.Init: set only when asked for, so that a daemon
// configured to run every container under its init still does.
func initFlag(on bool) *bool {
	if !on {
		return nil
	}
	return &on
}
