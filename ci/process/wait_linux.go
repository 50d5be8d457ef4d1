package process

import (
	"syscall"
	"unsafe"
)

// pPID is waitid's P_PID id type.
const pPID = 1

// awaitExit blocks until the child pid has exited, leaving it unreaped, so
// that its pid, which is also its process group's id, cannot be reused
// while Run kills what is left of the group. It reports false if waitid
// failed (the caller then reaps with Wait).
func awaitExit(pid int) bool {
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		return e == 0
	}
}
