package swarm

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// reasoner and printer are the optional methods of a run's log (a
// *livelog.Log's): what the run waits for, and lines of our own.
type reasoner interface {
	PushReason(reason string) (pop func())
}
type printer interface {
	Printf(format string, args ...any)
}

// Run runs o as a service in replicated-job mode (one task, never
// restarted), streams its output to log, and removes the service. Its
// results are docker.Client.Run's: nil, a *docker.ExitError, a
// *docker.TimeoutError, the context's cause, or an error wrapped with
// term.Infra when the manager cannot be reached. A task whose node went
// away runs again on another node (Options.Attempts in all); the log says
// so, and so does its reason while the new task waits.
func (x *Executor) Run(ctx context.Context, o docker.RunOptions, log io.Writer) error {
	if o.Image == "" {
		return errors.New("swarm: run: no image given")
	}
	mounts := make([]mount.Mount, len(o.Mounts))
	for i, m := range o.Mounts {
		if !filepath.IsAbs(m.Source) || !path.IsAbs(m.Target) {
			return fmt.Errorf("swarm: run: mount %q on %q: both paths must be absolute", m.Source, m.Target)
		}
		mounts[i] = mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	}
	if err := ctx.Err(); err != nil {
		return contextError(ctx, "run")
	}
	api, err := x.connect(ctx)
	if err != nil {
		return err
	}
	owner, step := o.Labels[docker.CILabel], o.Labels[docker.StepLabel]
	if owner != "" {
		if err := x.sweep(ctx, api, owner); err != nil {
			return err
		}
	}
	network, err := x.network(ctx, api, o.Network)
	if err != nil {
		return err
	}
	img, err := x.inspectImage(ctx, api, o.Image)
	if err != nil {
		return err
	}
	r := &run{x: x, api: api, o: o, out: &output{w: log}, cmd: command(o, img)}
	r.reasons, _ = log.(reasoner)
	r.printer, _ = log.(printer)
	r.hint = o.Labels[HintLabel]
	if r.hint == "" && img != nil && img.Config != nil {
		r.hint = img.Config.Labels[docker.SourceLabel]
	}
	r.name = serviceName(owner, step)
	if img != nil {
		// by ID: every node runs the same image, whatever its tags
		o.Image = img.ID
	}
	r.spec = x.spec(r.name, o, mounts, network)
	defer r.popReason()
	return r.run(ctx)
}

// run is one Run: its service's attempts.
type run struct {
	x       *Executor
	api     *client.Client
	o       docker.RunOptions
	out     *output
	cmd     []string
	name    string
	spec    swarm.ServiceSpec
	hint    string
	avoid   []string // nodes that went away
	lacking []string // nodes the image could not be loaded onto
	moved   string   // why the step runs again, the reason until it runs
	reasons reasoner
	printer printer
	pop     func()
}

func (r *run) run(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		if len(r.x.opts.Nodes) > 0 {
			pop := r.setReason(cmp.Or(r.moved, "Loading the image onto the swarm's nodes"))
			lacking, err := r.loadImages(ctx, r.spec.TaskTemplate.ContainerSpec.Image)
			pop()
			if err != nil {
				return err
			}
			r.lacking = lacking
		}
		hinted := r.hintedNode(ctx)
		svc, adopted, err := r.start(ctx, hinted)
		if err != nil {
			return err
		}
		res := r.watch(ctx, svc, adopted, hinted)
		if err := r.x.remove(ctx, svc.ID); err != nil {
			// (not to run again: the next attempt would find it)
			if res.err != nil {
				return fmt.Errorf("%w (and the service was not removed: %v)", res.err, err)
			}
			return err
		}
		switch {
		case res.unhint:
			r.printf("The node that ran this step before (%s) has no room for it: running it on any node", r.x.nodeName(ctx, r.api, hinted))
			r.x.forget(r.hint)
			attempt--
			continue
		case res.lost != "" && attempt < r.x.opts.Attempts:
			what := fmt.Sprintf("Node %s went away: running the step again on another node (attempt %d of %d)", res.lostName, attempt+1, r.x.opts.Attempts)
			r.printf("%s", what)
			r.moved = what
			r.setReason(what)
			r.avoid = append(r.avoid, res.lost)
			r.x.forget(r.hint)
			continue
		case res.lost != "":
			return term.Infra(fmt.Errorf("swarm: the step's node went away %d times, the last %s: giving up", attempt, res.lostName))
		}
		return res.err
	}
}

// hintedNode is the node the run's cache hint names, if it can take tasks.
func (r *run) hintedNode(ctx context.Context) string {
	if r.hint == "" {
		return ""
	}
	r.x.mu.Lock()
	node := r.x.hints[r.hint]
	r.x.mu.Unlock()
	if node == "" || !r.x.nodeReady(ctx, node) {
		return ""
	}
	if slices.Contains(r.avoid, node) || slices.Contains(r.lacking, node) {
		return ""
	}
	return node
}

// start creates the service, or adopts the one of the same name that an
// earlier run of this CI left. The creation is not cancelled (CallTimeout
// bounds it): one abandoned half way might complete after our removal.
func (r *run) start(ctx context.Context, hinted string) (svc swarm.Service, adopted bool, err error) {
	spec := r.spec
	spec.TaskTemplate.Placement = &swarm.Placement{Constraints: append([]string(nil), r.x.opts.Constraints...)}
	if len(r.avoid) > 0 && r.x.readyNodes(ctx, r.api, r.avoid) > 0 {
		// elsewhere, while there is an elsewhere
		for _, n := range r.avoid {
			spec.TaskTemplate.Placement.Constraints = append(spec.TaskTemplate.Placement.Constraints, "node.id!="+n)
		}
	}
	for _, n := range r.lacking {
		spec.TaskTemplate.Placement.Constraints = append(spec.TaskTemplate.Placement.Constraints, "node.id!="+n)
	}
	if hinted != "" {
		spec.TaskTemplate.Placement.Constraints = append(spec.TaskTemplate.Placement.Constraints, "node.id=="+hinted)
	}
	var created client.ServiceCreateResult
	for attempt := 0; ; attempt++ {
		err = r.x.call(context.WithoutCancel(ctx), "create service "+r.name, func(ctx context.Context) (err error) {
			created, err = r.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
			return err
		})
		if attempt > 0 || err == nil || term.IsInfra(err) || (r.o.Network != "" && r.o.Network != "none") {
			break
		}
		// Was NoNetwork removed since it was made (or being removed when
		// it was seen)? The manager answers a missing network with a
		// plain 500, so ask for the network itself; if it is gone, make
		// it again, once.
		_, ierr := r.api.NetworkInspect(ctx, r.x.opts.NoNetwork, client.NetworkInspectOptions{})
		if !cerrdefs.IsNotFound(ierr) {
			break
		}
		r.x.netMu.Lock()
		r.x.noNetwork = false
		r.x.netMu.Unlock()
		if _, nerr := r.x.network(ctx, r.api, ""); nerr != nil {
			break
		}
	}
	if err != nil && !term.IsInfra(err) && cerrdefs.IsConflict(err) {
		return r.adopt(ctx)
	}
	if err != nil {
		return svc, false, err
	}
	err = r.x.call(context.WithoutCancel(ctx), "inspect service "+r.name, func(ctx context.Context) (err error) {
		res, err := r.api.ServiceInspect(ctx, created.ID, client.ServiceInspectOptions{})
		svc = res.Service
		return err
	})
	if err != nil {
		err = r.x.removeAfter(ctx, created.ID, err)
	}
	return svc, false, err
}

// adopt takes over the service called r.name, if it is the same step's of
// the same CI (its labels say so).
func (r *run) adopt(ctx context.Context) (svc swarm.Service, adopted bool, err error) {
	err = r.x.call(ctx, "inspect service "+r.name, func(ctx context.Context) (err error) {
		res, err := r.api.ServiceInspect(ctx, r.name, client.ServiceInspectOptions{})
		svc = res.Service
		return err
	})
	if err != nil {
		return svc, false, err
	}
	l := svc.Spec.Labels
	if l[docker.OwnerLabel] != "1" || l[docker.CILabel] != r.o.Labels[docker.CILabel] || l[docker.StepLabel] != r.o.Labels[docker.StepLabel] {
		return svc, false, fmt.Errorf("swarm: a service called %s exists, and is not this step's", r.name)
	}
	r.x.mu.Lock()
	delete(r.x.leftovers, r.name)
	r.x.mu.Unlock()
	r.printf("Adopted service %s (%.12s), which an earlier run of this CI started at %s", r.name, svc.ID, svc.CreatedAt.UTC().Format(time.RFC3339))
	r.x.log.Info("swarm: adopted a service left by an earlier run of this CI", "service", r.name, "id", svc.ID, "step", r.o.Labels[docker.StepLabel])
	return svc, true, nil
}

// outcome is how a service's task ended.
type outcome struct {
	err      error
	lost     string // the node that went away (run again elsewhere)
	lostName string
	unhint   bool // the hinted node had no room: run again anywhere
}

// watch streams the service's output and follows its task to its end.
func (r *run) watch(ctx context.Context, svc swarm.Service, adopted bool, hinted string) outcome {
	// The timeout counts from the service's creation: an adopted service
	// has used part of it.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if t := r.o.Timeout; t > 0 {
		left := t
		if adopted {
			left = t - time.Since(svc.CreatedAt)
		}
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, max(left, 0), &docker.TimeoutError{Timeout: t})
		defer stop()
	}

	logs := r.follow(runCtx, svc.ID, r.out.written())
	defer logs.stop()

	tick := time.NewTicker(r.x.opts.Poll)
	defer tick.Stop()
	started := time.Now()
	failures := 0
	var lastNodeCheck time.Time
	for {
		select {
		case <-runCtx.Done():
			return outcome{err: contextError(runCtx, "run")}
		case err := <-logs.failed:
			if r.out.failure() != nil {
				return outcome{err: term.Infra(fmt.Errorf("swarm: writing the log: %w", r.out.failure()))}
			}
			_ = err // the stream broke: the task tells the rest
		case <-tick.C:
		}
		t, err := r.task(runCtx, svc.ID)
		if err != nil {
			if runCtx.Err() != nil {
				return outcome{err: contextError(runCtx, "run")}
			}
			if failures++; failures >= 3 || !term.IsInfra(err) {
				return outcome{err: err}
			}
			continue
		}
		failures = 0
		if t == nil {
			continue // not made yet
		}
		st := t.Status
		if t.NodeID != "" {
			r.x.remember(r.hint, t.NodeID) // (even a short task's)
		}
		switch st.State {
		case swarm.TaskStateAssigned, swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting, swarm.TaskStateRunning:
			// The node may die at any of these: the manager's view of
			// the task then stays where it was (a task that had printed
			// its first lines can read "starting" for ever).
			if time.Since(lastNodeCheck) >= time.Second {
				lastNodeCheck = time.Now()
				if gone, _ := r.x.nodeGone(runCtx, t.NodeID); gone {
					return outcome{lost: t.NodeID, lostName: r.x.nodeName(runCtx, r.api, t.NodeID)}
				}
			}
		}
		switch st.State {
		case swarm.TaskStateNew, swarm.TaskStateAllocated, swarm.TaskStatePending:
			if hinted != "" && time.Since(started) > r.x.opts.HintWait {
				return outcome{unhint: true}
			}
			why := st.Err
			if why == "" {
				why = st.Message
			}
			r.setReason(cmp.Or(r.moved, "Waiting for a swarm node: "+why))
			continue
		case swarm.TaskStateAssigned, swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting:
			r.setReason(cmp.Or(r.moved, "Starting on swarm node "+r.x.nodeName(runCtx, r.api, t.NodeID)))
			continue
		case swarm.TaskStateRunning:
			r.popReason()
			continue
		case swarm.TaskStateOrphaned:
			return outcome{lost: t.NodeID, lostName: r.x.nodeName(runCtx, r.api, t.NodeID)}
		case swarm.TaskStateShutdown, swarm.TaskStateRemove:
			if gone, _ := r.x.nodeGone(runCtx, t.NodeID); gone {
				return outcome{lost: t.NodeID, lostName: r.x.nodeName(runCtx, r.api, t.NodeID)}
			}
			return outcome{err: term.Infra(fmt.Errorf("swarm: service %s: its task was shut down by someone else (%s)", r.name, st.Message))}
		case swarm.TaskStateRejected:
			return outcome{err: fmt.Errorf("swarm: service %s: the task was rejected: %s", r.name, st.Err)}
		}
		// complete or failed: the rest of the output, then the verdict
		if err := logs.drain(runCtx, r, svc.ID); err != nil {
			return outcome{err: err}
		}
		if st.State == swarm.TaskStateComplete {
			return outcome{}
		}
		if cs := st.ContainerStatus; cs != nil && cs.ExitCode != 0 {
			return outcome{err: &docker.ExitError{Cmd: r.cmd, Status: cs.ExitCode}}
		}
		if gone, _ := r.x.nodeGone(runCtx, t.NodeID); gone {
			return outcome{lost: t.NodeID, lostName: r.x.nodeName(runCtx, r.api, t.NodeID)}
		}
		return outcome{err: fmt.Errorf("swarm: service %s: the task failed: %s", r.name, st.Err)}
	}
}

// task is the service's newest task, or nil.
func (r *run) task(ctx context.Context, id string) (*swarm.Task, error) {
	var list client.TaskListResult
	err := r.x.call(ctx, "list tasks", func(ctx context.Context) (err error) {
		list, err = r.api.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", id)})
		return err
	})
	if err != nil || len(list.Items) == 0 {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].CreatedAt.After(list.Items[j].CreatedAt) })
	return &list.Items[0], nil
}

// logStream follows a service's output into the run's log.
type logStream struct {
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
	failed   chan error // the stream ended early (buffered)
	base     int64      // the log's length when the stream began
}

// follow starts streaming; base is the log's length before (an earlier
// attempt's output).
func (r *run) follow(ctx context.Context, id string, base int64) *logStream {
	lctx, cancel := context.WithCancel(ctx)
	l := &logStream{cancel: cancel, done: make(chan struct{}), failed: make(chan error, 1), base: base}
	go func() {
		defer close(l.done)
		if r.x.noFollow.Load() {
			<-lctx.Done()
			return
		}
		rc, err := r.api.ServiceLogs(lctx, id, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			l.failed <- err
			return
		}
		defer rc.Close()
		stop := context.AfterFunc(lctx, func() { rc.Close() })
		defer stop()
		_, err = stdcopy.StdCopy(r.out, r.out, rc)
		if lctx.Err() == nil {
			l.failed <- err
		}
	}()
	return l
}

// stop ends the stream and waits for it.
func (l *logStream) stop() {
	l.stopOnce.Do(func() {
		l.cancel()
		<-l.done
	})
}

// drain ends the stream once the task has ended and writes what it had
// not delivered yet: a fresh read of the whole output, less what the
// stream wrote (the same bytes in the same order: the node's log file).
func (l *logStream) drain(ctx context.Context, r *run, id string) error {
	l.stop()
	return r.x.call(ctx, "read the service's output", func(ctx context.Context) error {
		rc, err := r.api.ServiceLogs(ctx, id, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			return err
		}
		defer rc.Close()
		rest := &skipper{w: r.out, skip: r.out.written() - l.base}
		_, err = stdcopy.StdCopy(rest, rest, rc)
		if f := r.out.failure(); f != nil {
			return term.Infra(fmt.Errorf("swarm: writing the log: %w", f))
		}
		return err
	})
}

// output is a run's log, written by the log stream and by the run's own
// lines (never at the same time); it counts the bytes it took.
type output struct {
	mu  sync.Mutex
	w   io.Writer
	n   int64
	err error
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		o.n += int64(len(p))
		return len(p), nil
	}
	n, err := o.w.Write(p)
	o.n += int64(n)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

func (o *output) written() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

func (o *output) failure() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// skipper passes on what is written to it after its first skip bytes.
type skipper struct {
	w    io.Writer
	skip int64
}

func (s *skipper) Write(p []byte) (int, error) {
	if int64(len(p)) <= s.skip {
		s.skip -= int64(len(p))
		return len(p), nil
	}
	q := p[s.skip:]
	s.skip = 0
	if _, err := s.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

// printf writes a line of the executor's own to the log.
func (r *run) printf(format string, args ...any) {
	if r.printer != nil {
		r.out.mu.Lock()
		r.printer.Printf(format, args...)
		r.out.mu.Unlock()
		return
	}
	// not counted as output: the drain skips what the stream wrote
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	if r.out.w != nil {
		fmt.Fprintf(r.out.w, "swarm: "+format+"\n", args...)
	}
}

// setReason makes reason the log's pending reason, in place of the last,
// until the next or the returned function.
func (r *run) setReason(reason string) (pop func()) {
	if r.reasons == nil {
		return func() {}
	}
	r.popReason()
	r.pop = r.reasons.PushReason(reason)
	return r.popReason
}

func (r *run) popReason() {
	if r.pop != nil {
		r.pop()
		r.pop = nil
	}
}

// spec is the service that runs o.
func (x *Executor) spec(name string, o docker.RunOptions, mounts []mount.Mount, network string) swarm.ServiceSpec {
	one := uint64(1)
	grace := time.Second
	labels := maps.Clone(o.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[docker.OwnerLabel] = "1"
	var init *bool
	if o.Init {
		init = &o.Init
	}
	res := &swarm.ResourceRequirements{}
	if l := x.opts.Limit; l != (Resources{}) {
		res.Limits = &swarm.Limit{NanoCPUs: int64(l.CPUs * 1e9), MemoryBytes: l.Memory, Pids: l.Pids}
	}
	if rv := x.opts.Reserve; rv != (Resources{}) {
		res.Reservations = &swarm.Resources{NanoCPUs: int64(rv.CPUs * 1e9), MemoryBytes: rv.Memory}
	}
	mode := swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}}
	x.mu.Lock()
	if x.mode == ModeReplicated {
		mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	}
	x.mu.Unlock()
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: labels},
		Mode:        mode,
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:   o.Image,
				Command: o.Entrypoint,
				Args:    o.Cmd,
				Env:     o.Env,
				User:    o.User,
				Dir:     o.WorkDir,
				Mounts:  mounts,
				Init:    init,
				// Not OwnerLabel: ci/docker removes the containers that
				// carry it and the CI's owner at start, and these are the
				// swarm's to remove.
				Labels:          maps.Clone(o.Labels),
				StopGracePeriod: &grace,
			},
			Resources:     res,
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: network}},
			// the output is read back from the node's log file
			LogDriver: &swarm.Driver{Name: "json-file"},
		},
	}
}

// network is the network to attach a run to: Options.NoNetwork, made if need be,
// for "none".
func (x *Executor) network(ctx context.Context, api *client.Client, name string) (string, error) {
	if name != "" && name != "none" {
		return name, nil
	}
	// One creation at a time: concurrent ones conflict (and the manager
	// does not say so with a status of its own).
	x.netMu.Lock()
	defer x.netMu.Unlock()
	if x.noNetwork {
		return x.opts.NoNetwork, nil
	}
	exists := func(ctx context.Context) (bool, error) {
		_, err := api.NetworkInspect(ctx, x.opts.NoNetwork, client.NetworkInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	err := x.call(ctx, "create network "+x.opts.NoNetwork, func(ctx context.Context) error {
		if ok, err := exists(ctx); ok || err != nil {
			return err
		}
		_, err := api.NetworkCreate(ctx, x.opts.NoNetwork, client.NetworkCreateOptions{
			Driver: "bridge", Scope: "swarm", Internal: true,
			Labels: map[string]string{docker.OwnerLabel: "1"},
		})
		if err != nil {
			if ok, _ := exists(ctx); ok { // another CI made it meanwhile
				return nil
			}
		}
		return err
	})
	if err != nil {
		return "", err
	}
	x.noNetwork = true
	return x.opts.NoNetwork, nil
}

// inspectImage looks the image up on the manager: its command and labels.
// An image the manager lacks is not an error (a worker may have it); nil.
func (x *Executor) inspectImage(ctx context.Context, api *client.Client, ref string) (*image.InspectResponse, error) {
	var img client.ImageInspectResult
	err := x.call(ctx, "inspect image "+ref, func(ctx context.Context) (err error) {
		img, err = api.ImageInspect(ctx, ref)
		return err
	})
	if err != nil && !term.IsInfra(err) && cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &img.InspectResponse, nil
}

// command is the command the task runs, as docker run would (the
// entrypoint, then the arguments), for an ExitError.
func command(o docker.RunOptions, img *image.InspectResponse) []string {
	entry, args := o.Entrypoint, o.Cmd
	if img != nil && img.Config != nil {
		if entry == nil {
			entry = img.Config.Entrypoint
			if args == nil {
				args = img.Config.Cmd
			}
		}
	}
	return append(append([]string(nil), entry...), args...)
}

// serviceName names a step's service after the CI and the step, so that
// the CI restarted finds it; other runs get a random name.
func serviceName(owner, step string) string {
	if owner != "" && step != "" {
		sum := sha256.Sum256([]byte(owner + "\x00" + step))
		return "datakit-ci-" + hex.EncodeToString(sum[:12])
	}
	var b [12]byte
	rand.Read(b[:])
	return "datakit-ci-" + hex.EncodeToString(b[:])
}

// remove removes the service, with a fresh context (the caller's may be
// over).
func (x *Executor) remove(ctx context.Context, id string) error {
	err := x.call(context.WithoutCancel(ctx), "remove service "+id, func(ctx context.Context) error {
		api, err := x.connect(ctx)
		if err != nil {
			return err
		}
		_, err = api.ServiceRemove(ctx, id, client.ServiceRemoveOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil && !term.IsInfra(err) {
		err = term.Infra(err)
	}
	return err
}

// removeAfter removes the service after err, and says so if it cannot.
func (x *Executor) removeAfter(ctx context.Context, id string, err error) error {
	if rerr := x.remove(ctx, id); rerr != nil {
		return fmt.Errorf("%w (and the service was not removed: %v)", err, rerr)
	}
	return err
}

// remember notes that node runs the runs of hint.
func (x *Executor) remember(hint, node string) {
	if hint == "" || node == "" {
		return
	}
	x.mu.Lock()
	x.hints[hint] = node
	x.mu.Unlock()
}

func (x *Executor) forget(hint string) {
	x.mu.Lock()
	delete(x.hints, hint)
	x.mu.Unlock()
}
