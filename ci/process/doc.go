// Package process runs the commands of build steps: a program with its
// arguments, in a directory, with a small environment, its standard output
// and standard error streamed separately to two writers as they are
// produced.
//
// The command runs in a process group of its own. When Run's context is
// done (cancelled, or past its deadline: see WithTimeout) the whole group is
// killed, children and grandchildren included, and Run returns the
// context's cause. When the command's main process exits, whatever it left
// behind in its group is killed too, so a build step never leaves stray
// processes, and a background process holding the output open cannot keep
// Run waiting. A process that escapes the group (setsid, or a shell with
// job control) is not killed; Run stops reading its output a second after
// the command ends and returns.
//
// Errors follow the original DataKitCI's texts: a non-zero exit status is
// an *ExitError reading `Command "ls" "-l" exited with status 2`, a
// timeout is a *TimeoutError reading `Exceeded timeout of 10 seconds`. A
// command that cannot start at all (no such program, no such directory)
// is an infrastructure failure, wrapped with term.Infra.
//
// Run may be called from many goroutines at once; each call is independent.
// It calls the stdout and stderr writers from its own goroutines, but never
// two calls at once, so one writer may serve as both.
//
// The package needs Unix process groups; on Linux it also waits for a
// command's exit without reaping it, so the group's id cannot be reused
// before the group is killed.
package process
