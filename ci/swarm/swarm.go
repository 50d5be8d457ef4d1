package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

// HintLabel, among a run's labels, is its cache hint: runs with the same
// hint go to the same node while that node is up and has room, so that
// what the node keeps between runs (image layers, volumes) serves again.
// Without it, the hint is the image's [docker.SourceLabel] (the
// repository and Dockerfile it was built from, set by ci/docker's build
// steps).
const HintLabel = "org.dkgo.datakit.ci.cache-hint"

// NoNetwork is the network a run with Network "none" (or "") joins (unless
// Options.NoNetwork names another): a
// swarm cannot attach a service to Docker's "none", so the executor
// creates this internal bridge network (scope swarm: each node has its
// own, with no route out) at first use, and leaves it.
const NoNetwork = "datakit-ci-none"

// Defaults for [Options].
const (
	DefaultCallTimeout = 2 * time.Minute
	DefaultPoll        = 250 * time.Millisecond
	DefaultAdoptWithin = 10 * time.Minute
	DefaultHintWait    = 30 * time.Second
	DefaultAttempts    = 3
)

// Mode is how a run's service runs its one task.
type Mode string

const (
	// ModeAuto is ModeJob where the engine removes a job's task and
	// container with its service (Docker 24, API 1.43, and later), else
	// ModeReplicated.
	ModeAuto Mode = ""
	// ModeJob is a replicated job: one completion, restart condition none.
	// Docker 20.10 to 23 leave the task and its exited container behind
	// when the service is removed (moby/moby#42789, #44312).
	ModeJob Mode = "replicated-job"
	// ModeReplicated is a replicated service of one replica with restart
	// condition none: once its task has ended, the swarm starts no other,
	// and removing the service removes the container.
	ModeReplicated Mode = "replicated"
)

// Resources are the CPU, memory and process count of a run: reserved (the
// scheduler places the task on a node that has them free) or limits (the
// task's container gets no more). Zero fields mean none.
type Resources struct {
	CPUs   float64 // e.g. 1.5
	Memory int64   // bytes
	Pids   int64   // limits only
}

// Options configure an [Executor]. The zero value talks to the manager
// named by DOCKER_HOST, or to the local socket, with the defaults.
type Options struct {
	// Host is the Engine API address of a swarm manager, as for
	// docker.Options.Host. Empty: DOCKER_HOST, else the default socket.
	Host string
	// CallTimeout bounds each API call (create, inspect, list, remove);
	// default DefaultCallTimeout.
	CallTimeout time.Duration
	// Reserve and Limit are each run's resources.
	Reserve, Limit Resources
	// Constraints are placement constraints every run's task obeys, in
	// Docker's syntax: "node.labels.ci==true", "node.platform.arch==x86_64".
	Constraints []string
	// Nodes are the Engine API addresses of nodes to load images onto,
	// by node ID or hostname: "tcp://10.0.0.7:2376" (with TLS as
	// DOCKER_CERT_PATH says), "unix:///run/build2.sock" (an SSH tunnel).
	// Before each run, the executor loads the run's image (docker save
	// from the manager, docker load on the node) onto each ready node
	// listed here that lacks it, so that no registry is needed; a node it
	// cannot load onto does not get the run. Nodes not listed must have
	// the images already (the manager's own node has them).
	Nodes map[string]string
	// AdoptWithin is how long the services that an earlier run of the
	// same CI left (found at the first run that names that CI) wait to be
	// adopted by the same steps run again, before they are removed.
	// Default DefaultAdoptWithin.
	AdoptWithin time.Duration
	// HintWait is how long a run waits for the node its cache hint names
	// before it goes to any node. Default DefaultHintWait.
	HintWait time.Duration
	// NoNetwork is the network of the runs without one (default
	// NoNetwork), made at first use.
	NoNetwork string
	// Mode is the services' mode (ModeAuto if empty).
	Mode Mode
	// Attempts bounds how often a run starts when its nodes go away
	// (default DefaultAttempts).
	Attempts int
	// Poll is how often a run's task is looked at (default DefaultPoll).
	Poll time.Duration
	// Logger receives what the executor does on its own (adopting and
	// removing leftovers). Nil means slog.Default().
	Logger *slog.Logger
}

// Executor runs each command as a Docker Swarm service: it implements
// docker.Executor (see the package documentation). It connects at first
// use. It is safe for concurrent use.
type Executor struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	api       *client.Client
	host      string
	mode      Mode                // the mode in use, never ModeAuto
	netMu     sync.Mutex          // held while NoNetwork is made
	noNetwork bool                // NoNetwork exists (under netMu)
	swept     map[string]bool     // owners whose leftovers were listed
	leftovers map[string]leftover // by service name
	hints     map[string]string   // cache hint → the node that last ran it
	timers    []*time.Timer
	closed    bool
	self      string                    // the manager's node ID
	nodeAPIs  map[string]*client.Client // Options.Nodes' connections, by address
	loadMu    map[string]*sync.Mutex    // one load at a time onto a node, by address
	sweeps    sync.WaitGroup

	// nodeGone reports whether a node went away, nodeReady whether it
	// can take tasks; tests replace them.
	nodeGone  func(ctx context.Context, nodeID string) (bool, error)
	nodeReady func(ctx context.Context, nodeID string) bool
	// noFollow, set by tests, leaves all the output to the final read.
	noFollow atomic.Bool
}

type leftover struct {
	id, owner string
}

var _ docker.Executor = (*Executor)(nil)

// New returns an executor that connects to the manager at first use.
func New(opts Options) *Executor {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.AdoptWithin <= 0 {
		opts.AdoptWithin = DefaultAdoptWithin
	}
	if opts.HintWait <= 0 {
		opts.HintWait = DefaultHintWait
	}
	if opts.NoNetwork == "" {
		opts.NoNetwork = NoNetwork
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	x := &Executor{opts: opts, log: log, swept: map[string]bool{}, leftovers: map[string]leftover{}, hints: map[string]string{}}
	x.nodeGone, x.nodeReady = x.inspectNodeGone, x.inspectNodeReady
	return x
}

// connect returns the connection, made at first use: the daemon must be
// a manager of an active swarm.
func (x *Executor) connect(ctx context.Context) (*client.Client, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, errors.New("swarm: the executor is closed")
	}
	if x.api != nil {
		return x.api, nil
	}
	opts := []client.Opt{client.FromEnv}
	if x.opts.Host != "" {
		opts = append(opts, client.WithHost(x.opts.Host))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	x.host = api.DaemonHost()
	var info client.SystemInfoResult
	err = x.call(ctx, "ping", func(ctx context.Context) (err error) {
		if _, err = api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			return err
		}
		info, err = api.Info(ctx, client.InfoOptions{})
		return err
	})
	x.self = info.Info.Swarm.NodeID
	if err == nil && (info.Info.Swarm.LocalNodeState != swarm.LocalNodeStateActive || !info.Info.Swarm.ControlAvailable) {
		err = term.Infra(fmt.Errorf("swarm: the Docker daemon at %s is not a manager of an active swarm (its swarm state is %q)", x.host, info.Info.Swarm.LocalNodeState))
	}
	if err != nil {
		api.Close()
		if !term.IsInfra(err) && ctx.Err() == nil {
			err = term.Infra(err)
		}
		return nil, err
	}
	x.mode = x.opts.Mode
	if x.mode == ModeAuto {
		x.mode = ModeReplicated
		if versions.GreaterThanOrEqualTo(api.ClientVersion(), "1.43") {
			x.mode = ModeJob
		}
	}
	x.api = api
	return api, nil
}

// Close stops the removal of leftovers still waiting to be adopted (they
// stay) and closes the connection. Runs must have returned.
func (x *Executor) Close() error {
	x.mu.Lock()
	x.closed = true
	for _, t := range x.timers {
		if t.Stop() {
			x.sweeps.Done() // it will not run
		}
	}
	x.timers = nil
	api := x.api
	x.api = nil
	nodes := x.nodeAPIs
	x.nodeAPIs = nil
	x.mu.Unlock()
	for _, c := range nodes {
		c.Close()
	}
	x.sweeps.Wait()
	if api != nil {
		return api.Close()
	}
	return nil
}

// call runs one API call f with a deadline of CallTimeout and classifies
// its error: the caller's context first, then our deadline and a broken
// connection (term.Infra), else the daemon's answer (a plain error).
func (x *Executor) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, x.opts.CallTimeout)
	defer cancel()
	err := f(cctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return contextError(ctx, op)
	case cctx.Err() != nil:
		return term.Infra(fmt.Errorf("swarm: the Docker daemon at %s did not answer within %v (%s): %w", x.host, x.opts.CallTimeout, op, err))
	case docker.IsTransport(err):
		return term.Infra(fmt.Errorf("swarm: cannot reach the Docker daemon at %s: %s: %w", x.host, op, err))
	}
	return fmt.Errorf("swarm: %s: %w", op, err)
}

// contextError is the error of an operation whose context ended: its
// cause if it was given one (a step's timeout keeps its text).
func contextError(ctx context.Context, op string) error {
	if cause := context.Cause(ctx); cause != ctx.Err() {
		return cause
	}
	return fmt.Errorf("swarm: %s: %w", op, ctx.Err())
}

// inspectNodeGone reports whether the node is down or no longer in the
// swarm.
func (x *Executor) inspectNodeGone(ctx context.Context, nodeID string) (bool, error) {
	api, err := x.connect(ctx)
	if err != nil {
		return false, err
	}
	var n client.NodeInspectResult
	err = x.call(ctx, "inspect node "+nodeID, func(ctx context.Context) (err error) {
		n, err = api.NodeInspect(ctx, nodeID, client.NodeInspectOptions{})
		return err
	})
	if err != nil && !term.IsInfra(err) && cerrdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return n.Node.Status.State == swarm.NodeStateDown, nil
}

// nodeName is a node's hostname (else its ID), for messages.
func (x *Executor) nodeName(ctx context.Context, api *client.Client, nodeID string) string {
	var n client.NodeInspectResult
	err := x.call(ctx, "inspect node", func(ctx context.Context) (err error) {
		n, err = api.NodeInspect(ctx, nodeID, client.NodeInspectOptions{})
		return err
	})
	if err != nil || n.Node.Description.Hostname == "" {
		return nodeID
	}
	return n.Node.Description.Hostname
}

// readyNodes counts the nodes that can take tasks now, but those in
// except.
func (x *Executor) readyNodes(ctx context.Context, api *client.Client, except []string) int {
	var list client.NodeListResult
	err := x.call(ctx, "list nodes", func(ctx context.Context) (err error) {
		list, err = api.NodeList(ctx, client.NodeListOptions{})
		return err
	})
	if err != nil {
		return 0
	}
	n := 0
	for _, node := range list.Items {
		if node.Status.State == swarm.NodeStateReady && node.Spec.Availability == swarm.NodeAvailabilityActive && !slices.Contains(except, node.ID) {
			n++
		}
	}
	return n
}

// inspectNodeReady reports whether a node can take tasks now.
func (x *Executor) inspectNodeReady(ctx context.Context, nodeID string) bool {
	api, err := x.connect(ctx)
	if err != nil {
		return false
	}
	var n client.NodeInspectResult
	err = x.call(ctx, "inspect node", func(ctx context.Context) (err error) {
		n, err = api.NodeInspect(ctx, nodeID, client.NodeInspectOptions{})
		return err
	})
	return err == nil && n.Node.Status.State == swarm.NodeStateReady && n.Node.Spec.Availability == swarm.NodeAvailabilityActive
}
