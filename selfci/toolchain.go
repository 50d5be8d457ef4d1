package selfci

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dkgo/datakit/selfci/rootfs"
)

// Toolchain is what the Go image is made of, found on the host: the Go
// toolchain (GOROOT), the C compiler that `go test -race` needs (cgo), Git
// (the tests make repositories), the host's sh, and a static busybox for the
// usual commands.
type Toolchain struct {
	GoRoot     string // the host's GOROOT
	GoVersion  string // e.g. "go1.26.8 linux/amd64"
	GoModCache string // the host's module cache, mounted read-only into the jobs
	Set        *rootfs.Set
}

// Tag is the Go image's name: selfci-go:<digest of its content>. An
// unchanged toolchain finds its image again; an upgraded one builds anew.
func (t *Toolchain) Tag() string { return "datakit-selfci-go:" + t.Set.Digest()[:16] }

// goImageDockerfile builds the Go image from the rootfs/ beside it.
const goImageDockerfile = `# The Go image of the self-CI: the host's Go toolchain, C compiler, Git and
# a static busybox, copied from the host (no registry).
FROM scratch
COPY rootfs/ /
ENV PATH=%s/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    HOME=/root USER=root TMPDIR=/tmp \
    GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=1 \
    GOMODCACHE=/gomod GOCACHE=/gocache
WORKDIR /src
CMD ["sh"]
`

// FindToolchain gathers the Go image's content from the host. It fails,
// saying what is missing, when the host has no Go, C compiler, Git or
// static busybox (`make deps` installs busybox-static).
func FindToolchain(ctx context.Context) (*Toolchain, error) {
	env, err := goEnv(ctx, "GOROOT", "GOMODCACHE", "CC", "GOVERSION")
	if err != nil {
		return nil, err
	}
	t := &Toolchain{GoRoot: env["GOROOT"], GoModCache: env["GOMODCACHE"], GoVersion: env["GOVERSION"] + " " + runtime.GOOS + "/" + runtime.GOARCH, Set: rootfs.New()}
	s := t.Set
	// The Go toolchain, without its own test suite and API lists.
	if err := s.AddTree(t.GoRoot, func(rel string) bool {
		return rel == "test" || rel == "api" || rel == "doc" || rel == "misc" || rel == "pkg/obj"
	}); err != nil {
		return nil, fmt.Errorf("the Go toolchain: %w", err)
	}
	if err := addCompiler(ctx, s, env["CC"]); err != nil {
		return nil, fmt.Errorf("the C compiler (go test -race needs cgo): %w", err)
	}
	if err := addGit(ctx, s); err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	// The host's own sh (dash on Debian), which the tests were written
	// against: busybox's runs some commands (sleep) in its own process,
	// which tests that count a command's processes notice.
	if err := s.AddProgram("/bin/sh"); err != nil {
		return nil, fmt.Errorf("sh: %w", err)
	}
	if err := addBusybox(s); err != nil {
		return nil, err
	}
	s.WriteFile("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644)
	s.WriteFile("/etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	s.WriteFile("/etc/hosts", []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644)
	s.WriteFile("/etc/nsswitch.conf", []byte("hosts: files dns\npasswd: files\ngroup: files\n"), 0o644)
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		s.AddFile("/etc/ld.so.cache") // where the loader finds the libraries
	}
	s.Mkdir("/tmp", 0o777|os.ModeSticky)
	s.Mkdir("/root", 0o700)
	s.Mkdir("/src", 0o755)
	s.Mkdir("/gomod", 0o755)
	s.Mkdir("/gocache", 0o755)
	s.WriteFile("/Dockerfile.txt", fmt.Appendf(nil, goImageDockerfile, t.GoRoot), 0o644) // a record, in the image, of how it was made
	return t, nil
}

// goEnv reads go env.
func goEnv(ctx context.Context, names ...string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "go", append([]string{"env"}, names...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(names) {
		return nil, fmt.Errorf("go env %v: %q", names, out)
	}
	m := map[string]string{}
	for i, n := range names {
		m[n] = lines[i]
	}
	return m, nil
}

// addCompiler adds the C compiler cgo uses: its driver, cc1, the assembler
// and the linker (with their libraries), its own directory (crt files,
// libgcc, its headers), the C library's files for linking, and the system
// headers of the C library and the kernel.
func addCompiler(ctx context.Context, s *rootfs.Set, cc string) error {
	if cc == "" {
		cc = "gcc"
	}
	driver, err := exec.LookPath(cc)
	if err != nil {
		return err
	}
	if err := s.AddProgram(driver); err != nil {
		return err
	}
	ask := func(args ...string) string {
		out, _ := exec.CommandContext(ctx, driver, args...).Output()
		return strings.TrimSpace(string(out))
	}
	// Programs the driver runs.
	for _, prog := range []string{"cc1", "as", "ld", "collect2", "lto-wrapper"} {
		p := ask("-print-prog-name=" + prog)
		if !filepath.IsAbs(p) {
			if p, err = exec.LookPath(p); err != nil {
				if prog == "cc1" || prog == "as" || prog == "ld" {
					return fmt.Errorf("%s -print-prog-name=%s: not found", cc, prog)
				}
				continue
			}
		}
		if err := s.AddProgram(p); err != nil {
			return err
		}
	}
	// The compiler's own directories: crt files, libgcc, plugins, headers
	// (less the other languages' compilers and the sanitizers' archives).
	skip := func(rel string) bool {
		switch rel {
		case "cc1plus", "cc1obj", "lto1", "lto-dump", "f951", "g++-mapper-server", "plugin":
			return true
		}
		return strings.HasSuffix(rel, "san.a") || strings.HasPrefix(rel, "libstdc++") || strings.HasPrefix(rel, "libsupc++")
	}
	dirs := map[string]bool{}
	for _, p := range []string{ask("-print-libgcc-file-name"), ask("-print-prog-name=cc1")} {
		if filepath.IsAbs(p) {
			dirs[filepath.Dir(p)] = true
		}
	}
	for d := range dirs {
		if err := s.AddTree(d, skip); err != nil {
			return err
		}
		// liblto_plugin.so and the like are loaded by the linker.
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".so") && !skip(e.Name()) {
				if err := s.AddProgram(filepath.Join(d, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	// The C library's files for linking; a linker script (libc.so) names
	// the files it stands for.
	for _, name := range []string{"crt1.o", "crti.o", "crtn.o", "Scrt1.o", "libc.so", "libc_nonshared.a",
		"libpthread.a", "libpthread.so", "libdl.a", "libdl.so", "libm.so", "libm.a", "libmvec.so", "libresolv.so", "librt.a", "libutil.a", "libgcc_s.so"} {
		p := ask("-print-file-name=" + name)
		if !filepath.IsAbs(p) {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := addLinkerInput(s, p); err != nil {
			return err
		}
	}
	// The headers: the compiler's search path, less what is not the C
	// library's or the kernel's (the headers of every -dev package installed).
	for _, d := range includeDirs(ctx, driver) {
		if d == "/usr/include" {
			if err := addSystemHeaders(s, d); err != nil {
				return err
			}
			continue
		}
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := s.AddTree(d, nil); err != nil {
			return err
		}
	}
	return nil
}

// addLinkerInput adds a library for linking and, if it is a GNU ld script
// (libc.so is one), the files it names.
func addLinkerInput(s *rootfs.Set, p string) error {
	if err := s.AddFile(p); err != nil {
		return err
	}
	data, err := os.ReadFile(p)
	if err != nil || len(data) > 64<<10 || bytes.HasPrefix(data, []byte(elf.ELFMAG)) || !bytes.Contains(data, []byte("GROUP")) && !bytes.Contains(data, []byte("INPUT")) {
		return nil
	}
	for _, f := range strings.FieldsFunc(string(data), func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '(' || r == ')' }) {
		if filepath.IsAbs(f) {
			if _, err := os.Stat(f); err == nil {
				if err := s.AddFile(f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// includeDirs is the C compiler's header search path (cc -E -v).
func includeDirs(ctx context.Context, driver string) []string {
	cmd := exec.CommandContext(ctx, driver, "-xc", "-E", "-v", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run() // stdin is empty: the search path is all we want
	out := stderr.Bytes()
	var dirs []string
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "#include <...> search starts here:"):
			in = true
		case strings.HasPrefix(line, "End of search list."):
			in = false
		case in && strings.HasPrefix(line, " /"):
			dirs = append(dirs, filepath.Clean(strings.TrimSpace(line)))
		}
	}
	if len(dirs) == 0 {
		dirs = []string{"/usr/include"}
	}
	return dirs
}

// systemHeaderDirs are the directories of /usr/include that hold the C
// library's and the Linux kernel's headers.
var systemHeaderDirs = []string{"arpa", "asm", "asm-generic", "bits", "drm", "gnu", "linux", "misc", "mtd", "net",
	"netash", "netatalk", "netax25", "neteconet", "netinet", "netipx", "netiucv", "netpacket", "netrom", "netrose",
	"nfs", "protocols", "rdma", "regulator", "rpc", "rpcsvc", "scsi", "sound", "sys", "video", "xen"}

func addSystemHeaders(s *rootfs.Set, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !e.IsDir() {
			if err := s.AddFile(p); err != nil {
				return err
			}
		}
	}
	for _, d := range systemHeaderDirs {
		p := filepath.Join(dir, d)
		if _, err := os.Stat(p); err == nil {
			if err := s.AddTree(p, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// addGit adds git, its helpers (git --exec-path: git-upload-pack, git
// daemon...) with their libraries, and its templates.
func addGit(ctx context.Context, s *rootfs.Set) error {
	g, err := exec.LookPath("git")
	if err != nil {
		return err
	}
	if err := s.AddProgram(g); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, g, "--exec-path").Output()
	if err != nil {
		return fmt.Errorf("git --exec-path: %w", err)
	}
	execPath := strings.TrimSpace(string(out))
	if err := s.AddTree(execPath, nil); err != nil {
		return err
	}
	entries, err := os.ReadDir(execPath)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, e := range entries {
		p := filepath.Join(execPath, e.Name())
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		libs, err := rootfs.SharedLibraries(real)
		if err != nil {
			continue // a helper whose libraries are missing is left as it is
		}
		for _, l := range libs {
			if err := s.AddFile(l); err != nil {
				return err
			}
		}
	}
	for _, d := range []string{"/usr/share/git-core/templates"} {
		if _, err := os.Stat(d); err == nil {
			if err := s.AddTree(d, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// StaticBusybox finds Debian's busybox-static binary: a statically linked
// busybox (no ELF interpreter), as an image with no C library needs.
func StaticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no static busybox (apt-get install busybox-static; `make deps` does it)")
}

// addBusybox adds a static busybox as /bin/busybox and a link to it for
// each of its applets that the Set does not have yet (sh, ls, tar...).
func addBusybox(s *rootfs.Set) error {
	bb, err := StaticBusybox()
	if err != nil {
		return err
	}
	if err := s.AddFile(bb); err != nil {
		return err
	}
	real, _ := s.Resolve(bb)
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", bb, err)
	}
	for _, dir := range []string{"/bin", "/usr/bin"} {
		if d, ok := s.Resolve(dir); ok && s.Has(d) {
			for _, applet := range strings.Fields(string(out)) {
				p, _ := s.Resolve(filepath.Join(d, applet))
				if !s.Has(p) {
					s.Symlink(real, p)
				}
			}
		}
	}
	if !s.Has(mustResolve(s, "/bin/sh")) {
		s.Symlink(real, "/bin/sh")
	}
	return nil
}

func mustResolve(s *rootfs.Set, p string) string {
	r, _ := s.Resolve(p)
	return r
}
