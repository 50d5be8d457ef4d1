package selfci

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/dkgo/datakit/selfci/rootfs"
)

// ImageTargets are the Quick Start images, the targets of deploy/Dockerfile,
// in the order BuildImages builds them.
var ImageTargets = []string{"server", "bridge", "client", "ci-base", "selfci"}

// ImagesOptions say how to build the Quick Start images.
type ImagesOptions struct {
	// Root is the checkout: its deploy/ holds the Dockerfile and scripts,
	// its cmd/ the programs (default ".").
	Root string
	// Prefix names the images: PREFIX-server, PREFIX-bridge... (default
	// "datakit").
	Prefix string
	// Targets are the images to build (default ImageTargets).
	Targets []string
	// Docker is how to reach the daemon.
	Docker docker.Options
}

// ImageName is the name of a Quick Start image.
func (o ImagesOptions) ImageName(target string) string {
	p := o.Prefix
	if p == "" {
		p = "datakit"
	}
	return p + "-" + target
}

// BuildImages builds the Quick Start images from this machine, with no
// registry: it stages deploy/'s files, the static binaries of cmd/datakit and
// cmd/selfci, the host's static busybox and its git (with the libraries it
// loads) in a temporary directory, makes sure the self-CI's Go image exists,
// and builds each target of deploy/Dockerfile. Docker's build cache makes an
// unchanged image a cache hit (the same image, found by its content). It
// returns the images' names, by target.
func BuildImages(ctx context.Context, o ImagesOptions, log io.Writer) (map[string]string, error) {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Targets == nil {
		o.Targets = ImageTargets
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	c, err := docker.New(ctx, o.Docker)
	if err != nil {
		return nil, fmt.Errorf("Docker is not available: %w", err)
	}
	defer c.Close()
	stage, err := os.MkdirTemp("", "datakit-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	// deploy/: the Dockerfile, the scripts.
	entries, err := os.ReadDir(filepath.Join(root, "deploy"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), ".yml") {
			if err := copyRegular(filepath.Join(root, "deploy", e.Name()), filepath.Join(stage, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	// bin/: the static binaries.
	fmt.Fprintln(log, "selfci images: building the static binaries")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(stage, "bin")+"/", "./cmd/datakit", "./cmd/selfci")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	// busybox/ and git/: from the host.
	bb := rootfs.New()
	if err := addBusybox(bb); err != nil {
		return nil, err
	}
	bb.WriteFile("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644)
	bb.WriteFile("/etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	bb.Mkdir("/tmp", 0o777|os.ModeSticky)
	bb.Mkdir("/root", 0o700)
	if err := bb.Write(filepath.Join(stage, "busybox")); err != nil {
		return nil, err
	}
	g := rootfs.New()
	if err := addGit(ctx, g); err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	if err := g.Write(filepath.Join(stage, "git")); err != nil {
		return nil, err
	}
	// The Go image, FROM which the selfci image is built.
	args := map[string]string{}
	for _, t := range o.Targets {
		if t == "selfci" {
			tag, err := ensureGoImage(ctx, c, log)
			if err != nil {
				return nil, err
			}
			args["GO_IMAGE"] = tag
		}
	}
	names := map[string]string{}
	for _, t := range o.Targets {
		name := o.ImageName(t)
		fmt.Fprintf(log, "selfci images: building %s\n", name)
		if _, err := c.Build(ctx, docker.BuildOptions{ContextDir: stage, Target: t, Tags: []string{name}, BuildArgs: args}, log); err != nil {
			return nil, fmt.Errorf("building %s: %w", name, err)
		}
		names[t] = name
	}
	return names, nil
}

// ensureGoImage builds the self-CI's Go image from the host's toolchain if
// it does not exist yet, and returns its tag.
func ensureGoImage(ctx context.Context, c *docker.Client, log io.Writer) (string, error) {
	tc, err := FindToolchain(ctx)
	if err != nil {
		return "", err
	}
	tag := tc.Tag()
	ok, err := c.ImageExists(ctx, tag)
	if err != nil || ok {
		return tag, err
	}
	fmt.Fprintf(log, "selfci images: building the Go image %s from the host's toolchain\n", tag)
	return tag, buildGoImage(ctx, c, tc, os.TempDir(), log)
}

// buildGoImage builds the Go image of toolchain tc, its build context in a
// temporary directory under dir.
func buildGoImage(ctx context.Context, c *docker.Client, tc *Toolchain, dir string, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctxDir, err := os.MkdirTemp(dir, "go-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ctxDir)
	if err := tc.Set.Write(filepath.Join(ctxDir, "rootfs")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), fmt.Appendf(nil, goImageDockerfile, tc.GoRoot), 0o644); err != nil {
		return err
	}
	_, err = c.Build(ctx, docker.BuildOptions{ContextDir: ctxDir, Tags: []string{tc.Tag()}}, log)
	return err
}

func copyRegular(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, fi.Mode().Perm())
}
