package docker

import (
	"context"
	"errors"
	"fmt"
	"github.com/dkgo/datakit/ci/process"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/client"
)

// OwnerLabel is set (to "1") on every container Run creates, so that
// leftovers can be found and removed ([Client.RemoveContainers]).
const OwnerLabel = "org.dkgo.datakit.ci"

// CILabel names, on the containers an [Engine]'s run steps create and on
// the images its build steps build, the CI they belong to
// ([Options.Owner]).
const CILabel = "org.dkgo.datakit.ci.owner"

// StepLabel names, on the containers (or services) an [Engine]'s run
// steps create, the step: its result branch. With [CILabel] it identifies
// a step's run across restarts of the CI, so that an [Executor] can find
// (and adopt) the run a killed CI left.
const StepLabel = "org.dkgo.datakit.ci.step"

// SourceLabel names, on the images an [Engine]'s build steps build, where
// they come from: the repository and the Dockerfile ("<repository>
// <Dockerfile>"). An executor that spreads runs over several machines
// (ci/swarm) sends the runs of one source to the same machine, whose
// layers and caches then serve again.
const SourceLabel = "org.dkgo.datakit.ci.source"

// Executor runs a command in a container, as [Client.Run] does: same
// options, same log, same errors (an [*ExitError], a [*TimeoutError], the
// context's cause, term.Infra for the infrastructure). [*Client] is the
// local engine's; package ci/swarm has one that runs each command as a
// Docker Swarm service. An [Engine]'s run steps use [Options.Executor].
//
// The log may also have the methods PushReason(string) func() and
// Printf(string, ...any) of a *livelog.Log (the run steps' logs do): an
// executor that waits for something besides the command (a node, a
// retry) says so through them.
type Executor interface {
	Run(ctx context.Context, o RunOptions, log io.Writer) error
}

// Defaults for [Options].
const (
	DefaultCallTimeout = 2 * time.Minute
	DefaultHeartbeat   = 15 * time.Second
)

// Options configures a [Client]. The zero value talks to the daemon named
// by DOCKER_HOST, or unix:///var/run/docker.sock, with the default limits.
type Options struct {
	// Host is the daemon's address, e.g. unix:///var/run/docker.sock or
	// tcp://127.0.0.1:2375. Empty means DOCKER_HOST, else the default
	// socket. (DOCKER_API_VERSION, DOCKER_CERT_PATH and DOCKER_TLS_VERIFY
	// are honoured as by the docker command.)
	Host string

	// CallTimeout bounds each short API call (ping, create, start,
	// inspect, remove, ...). A daemon that does not answer within it is
	// an infrastructure failure. Zero means DefaultCallTimeout. It does
	// not bound a build or a command: use their Timeout fields.
	CallTimeout time.Duration

	// Heartbeat is how often Build and Run ping the daemon while they wait
	// for output; two pings in a row that fail (or take longer than
	// Heartbeat) end the operation with an infrastructure error. Zero means
	// DefaultHeartbeat; negative turns the heartbeat off.
	Heartbeat time.Duration

	// Owner, used by [Engine], names this CI among those that share the
	// daemon (e.g. its name and state directory); it must be the same at
	// every start. The run steps' containers and the build steps' images
	// carry it (label [CILabel]; it is not part of a step's identity), and
	// the Engine's first connection removes the containers a previous run
	// of this CI left behind (killed mid-run, its containers outlive it).
	// Empty: no such clean-up, and no label.
	Owner string

	// Executor, used by [Engine], runs the run steps' commands. Nil means
	// this daemon (the Client). Builds always use this daemon: an
	// executor elsewhere must be able to run the images it builds
	// (ci/swarm says how).
	Executor Executor

	// Logger, used by [Engine], receives what it does on its own (the
	// removal of an earlier run's containers): give it the CI's logger,
	// so that every line the CI prints has one format. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Client talks to one Docker daemon. It is safe for concurrent use.
type Client struct {
	api         *client.Client
	host        string
	callTimeout time.Duration
	heartbeat   time.Duration
}

// New connects to the daemon: it pings it and negotiates the API version.
// A daemon that cannot be reached gives an error wrapped with term.Infra.
func New(ctx context.Context, o Options) (*Client, error) {
	opts := []client.Opt{client.FromEnv}
	if o.Host != "" {
		opts = append(opts, client.WithHost(o.Host))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	c := &Client{
		api:         api,
		host:        api.DaemonHost(),
		callTimeout: o.CallTimeout,
		heartbeat:   o.Heartbeat,
	}
	if c.callTimeout <= 0 {
		c.callTimeout = DefaultCallTimeout
	}
	if c.heartbeat == 0 {
		c.heartbeat = DefaultHeartbeat
	}
	err = c.call(ctx, "ping", func(ctx context.Context) error {
		_, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		return err
	})
	if err != nil && ctx.Err() == nil && !term.IsInfra(err) {
		// The daemon answered, but not usably (e.g. an API version
		// older than this client's minimum): the CI cannot build.
		err = term.Infra(fmt.Errorf("docker: the Docker daemon at %s: %w", c.host, errors.Unwrap(err)))
	}
	if err != nil {
		api.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error { return c.api.Close() }

// Host returns the daemon's address.
func (c *Client) Host() string { return c.host }

// APIVersion returns the negotiated API version, e.g. "1.41".
func (c *Client) APIVersion() string { return c.api.ClientVersion() }

// call runs one short API call f with a deadline of CallTimeout and turns
// its error into one of ours.
func (c *Client) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	return c.wrap(ctx, cctx, op, f(cctx))
}

// wrap classifies err, the result of operation op made under ctx (and, if
// not nil, a per-call context cctx derived from it). The order matters:
// the caller's own context first (timeout, cancel, heartbeat), then our
// per-call deadline, then a transport failure; whatever the daemon
// answered is a plain error.
func (c *Client) wrap(ctx, cctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return contextError(ctx, op)
	case cctx != nil && cctx.Err() != nil:
		return term.Infra(fmt.Errorf("docker: the Docker daemon at %s did not answer within %v (%s): %w", c.host, c.callTimeout, op, err))
	case IsTransport(err):
		return term.Infra(fmt.Errorf("docker: cannot reach the Docker daemon at %s: %s: %w", c.host, op, err))
	}
	return fmt.Errorf("docker: %s: %w", op, err)
}

// contextError is the error for an operation whose context ended: the
// context's cause if it was given one (our timeout or heartbeat, or a
// caller's, such as ci/process.WithTimeout's), else the plain
// cancellation or deadline wrapped with the operation.
func contextError(ctx context.Context, op string) error {
	if cause := context.Cause(ctx); cause != ctx.Err() {
		return cause
	}
	return fmt.Errorf("docker: %s: %w", op, ctx.Err())
}

// IsTransport reports whether err means that the daemon could not be
// reached or that the connection to it broke, as opposed to an answer.
// Executors of other engines (ci/swarm) classify their errors with it.
func IsTransport(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var ne net.Error
	var errno syscall.Errno
	return errors.As(err, &ne) || errors.As(err, &errno) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}

// watch pings the daemon every Heartbeat until stop is called or ctx ends;
// after two failed pings in a row it cancels ctx (through cancel) with an
// infrastructure error as the cause.
func (c *Client) watch(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	if c.heartbeat <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(c.heartbeat)
		defer tick.Stop()
		failed := 0
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, c.heartbeat)
			_, err := c.api.Ping(pctx, client.PingOptions{})
			pcancel()
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				failed = 0
				continue
			}
			if failed++; failed >= 2 {
				cancel(term.Infra(fmt.Errorf("docker: lost the Docker daemon at %s: no answer to two pings %v apart: %w", c.host, c.heartbeat, err)))
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// TimeoutError is the error of a build or run that exceeded its Timeout:
// ci/process's, so that every step words it alike (`Exceeded timeout of
// 10 seconds`, or of N minutes from two minutes on).
// errors.Is(err, context.DeadlineExceeded) holds for it.
type TimeoutError = process.TimeoutError

// logWriter remembers the first error of the writer it wraps, to tell a
// failing log from a failing stream.
type logWriter struct {
	w   io.Writer
	err error
}

func newLogWriter(w io.Writer) *logWriter {
	if w == nil {
		w = io.Discard
	}
	return &logWriter{w: w}
}

func (l *logWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil && l.err == nil {
		l.err = err
	}
	return n, err
}

func (l *logWriter) failure() error {
	return term.Infra(fmt.Errorf("docker: writing the log: %w", l.err))
}
