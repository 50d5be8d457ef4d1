// Package swarm runs the CI's container steps on a Docker Swarm: an
// [Executor] is a docker.Executor that runs each command as a service of
// the swarm that a manager's Docker daemon belongs to, instead of a
// container of the local engine. A pipeline switches with one option,
// docker.Options.Executor; builds stay on the local engine.
//
// # Model
//
// A run is a service with one task that is never restarted: replicated-job
// mode, or, on engines that leave a removed job's task behind (before
// Docker 24), a replicated service of one replica, both with restart
// condition none ([Mode]). The service carries the run's labels,
// docker.OwnerLabel and, for an Engine's steps, the CI's (docker.CILabel)
// and the step's (docker.StepLabel), and is named after the two, so that a
// CI killed mid-step and started again finds the service its step left and
// adopts it: its output is read back from the start and its result is the
// step's. The services no step adopts within [Options.AdoptWithin] are
// removed.
//
// Each run reserves and is limited to [Options.Reserve] and
// [Options.Limit], obeys [Options.Constraints], and goes, where possible,
// to the node that ran the last run with the same cache hint
// ([HintLabel]; by default the image's docker.SourceLabel: the repository
// and Dockerfile it was built from). Its output streams from the service's
// log to the run's log as it comes; once the task has ended the log is
// read again and what the stream had not yet delivered is added. A task
// whose node goes away runs again, on another node if there is one, and
// the log and the step's pending reason say so. Cancel and timeout remove
// the service.
//
// Images reach the nodes without a registry: a service names its image
// by ID, which the executor does not resolve through a registry, so a
// single-node swarm (or nodes sharing the manager's image store) runs the
// local images, and before each run the executor loads the image onto the
// nodes of [Options.Nodes] that lack it (docker save on the manager,
// docker load there).
//
// # Errors
//
// Run's errors are docker.Client.Run's: a *docker.ExitError for a command
// that exited with another status than 0, a *docker.TimeoutError, the
// context's cause, a plain error for a request the swarm refused (no
// such image), and an error wrapped with term.Infra when the manager
// cannot be reached, is not a manager, or the step's nodes kept going
// away.
//
// # Concurrency
//
// An Executor is safe for concurrent use. Run writes to its log from
// another goroutine than the caller's, but never from two at once.
package swarm
