// Package process runs the commands of build steps: a program with its
// arguments, in a directory, with a small environment, its standard output
// and standard error streamed separately to two writers as they are
// produced.
//
// # Process groups
//
// The command runs in a process group of its own. When the command's main
// process exits, whatever it left behind in its group is killed, so a
// build step never leaves stray processes, and a background process
// holding the output open cannot keep Run waiting. A process that escapes
// the group (setsid, or a shell with job control) is not killed then; Run
// stops reading its output a second after the command ends and returns
// (but see orphans below).
//
// # Cancel and timeout: a grace
//
// When Run's context is done (cancelled, or past its deadline: see
// WithTimeout), the group is asked to stop before it is killed, so that
// tools clean up after themselves: SIGINT at once, as Ctrl-C in a terminal
// sends it, SIGTERM when half of the grace (Cmd.Grace, DefaultGrace: 5 s)
// has passed, SIGKILL at its end. Run returns the context's cause as soon
// as the command's main process has exited and no other process of its
// group lives, so a tool still cleaning up after its shell died is waited
// for, and at most the grace after the context is done (a step past its
// timeout ends at most that much later).
//
// SIGINT comes first because the tools of builds clean up on it: go test
// removes its /tmp/go-build* work directory on SIGINT, and leaves it on
// SIGTERM as on SIGKILL (measured with Go 1.26); Python's finally blocks
// and make's removal of half-made targets run on SIGINT. SIGTERM follows
// for what SIGINT does not stop: the background jobs of a non-interactive
// shell ignore SIGINT, and bash runs its EXIT trap on SIGTERM, not on
// SIGINT. (GitHub's Actions runner cancels a step the same way, with 7.5
// and 2.5 s.) A Cmd with a negative Grace is killed at once.
//
// # Orphans: no process outlives its program
//
// A program killed with SIGKILL (or one that crashed) cannot kill its
// commands: they run on, reparented to init, with their children. Run
// marks every command with its program, in the environment variable
// OwnerEnv (DATAKIT_PROCESS_OWNER=PID:START:NAMESPACES: the program's
// process id, its start time in clock ticks since boot, and its pid and
// time namespaces), which the command's children inherit. KillOrphans
// reads /proc and kills every live process that carries the mark of a
// program of this namespace that is gone, with its process group, and
// waits until they are gone. Run calls it once per program, before its
// first command; a CI program calls it as it starts (package cimain). So
// a restarted CI never runs a step beside the same step left running by
// its killed predecessor, over the capacity of the step's pool.
//
// Why a mark in the environment rather than records in a directory (one
// per running group, removed when the group ends): the mark is set by the
// exec itself, so there is no window in which a process runs unrecorded,
// and no file to write, remove or leave stale; it survives the group's
// leader (which often dies first, leaving its children in the group) and
// reaches processes that left the group (setsid daemons); and it names the
// program that ran the process, not a pid that the system may since have
// given to another process. A pid is never trusted alone: the owner is
// gone unless a process with its pid and the same start time lives; each
// process killed is first held by a pidfd and its start time checked
// again, so a reused pid is never signalled; a group is killed whole only
// when its leader is gone or is itself an orphan (a pid cannot be reused
// while a group of that id has members). A mark of another pid or time
// namespace (a CI in a container beside one on the host) is not judged.
//
// Not chosen: Linux's parent-death signal (Pdeathsig) for the command's
// main process. It reaches that process only, not its children, which run
// on reparented; Go delivers it when the thread that started the command
// exits, not the program (golang.org/issue/27505); and a killed main
// process could not clean up. The orphans' sweep covers every process of
// the group.
//
// Limits: between a program's death and the next start of a program that
// uses this package (as the same user, or root), its orphans run on. A
// process that clears its environment (env -i) and also leaves its group
// is not found; nor are processes whose environment this program may not
// read (other users', unless it runs as root). Finding orphans needs
// Linux's /proc; elsewhere commands are not marked and KillOrphans does
// nothing.
//
// # Errors
//
// Errors follow the original DataKitCI's texts: a non-zero exit status is
// an *ExitError reading `Command "ls" "-l" exited with status 2`, a
// timeout is a *TimeoutError reading `Exceeded timeout of 10 seconds`. A
// command that cannot start at all (no such program, no such directory)
// is an infrastructure failure, wrapped with term.Infra.
//
// # Concurrency
//
// Run and KillOrphans may be called from many goroutines at once; each
// call is independent. Run calls the stdout and stderr writers from its
// own goroutines, but never two calls at once, so one writer may serve as
// both.
//
// The package needs Unix process groups; on Linux it also waits for a
// command's exit without reaping it, so the group's id cannot be reused
// before the group is killed.
package process
