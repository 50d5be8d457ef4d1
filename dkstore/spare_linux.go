package dkstore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const canRecycle = true

// rewriteSpare replaces the content of the spare at path with data, mode
// perm, if nobody else can see it: it has no other link, and no other open
// file or mapping (a write lease is granted only then, and it also keeps
// new openers waiting while we write; nobody else knows the name anyway).
func rewriteSpare(path string, data []byte, perm os.FileMode) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		return errSpareLinked
	}
	switch _, err = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK); {
	case err == nil:
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY):
		return errSpareBusy
	default:
		return errors.ErrUnsupported // no leases here (EINVAL, ENOLCK...)
	}
	// The data is written over the old, and the file cut to its length
	// after: truncating it to nothing first would free its blocks, which
	// costs ten times the rest here. (So if the system loses power before
	// the new data reaches the disk, the file may hold its old content
	// rather than nothing: see docs/store.md on power loss.)
	for off := 0; err == nil && off < len(data); {
		var n int
		n, err = unix.Pwrite(fd, data[off:], int64(off))
		off += n
	}
	if err == nil && st.Size > int64(len(data)) {
		err = unix.Ftruncate(fd, int64(len(data)))
	}
	if err == nil && os.FileMode(st.Mode)&os.ModePerm != perm {
		err = unix.Fchmod(fd, uint32(perm))
	}
	unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	return err
}

// renameNoReplace renames from to to unless to exists (fs.ErrExist).
// errors.ErrUnsupported: the file system cannot.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errors.ErrUnsupported
	}
	return &os.LinkError{Op: "renameat2", Old: from, New: to, Err: err}
}

// readFile is os.ReadFile without the poller: os.Open offers every file
// to the runtime's poller, five more system calls, which a small regular
// file (a ref, read at every commit) does not need.
func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 128)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// rename is os.Rename without its check that newpath is not a directory
// (one more system call, for names that are never directories here).
func rename(oldpath, newpath string) error {
	for {
		err := unix.Renameat(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
		}
		return nil
	}
}
