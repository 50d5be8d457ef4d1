// Command selfci is the CI that tests DataKit for Go itself (package
// selfci): the unit tests by area, vet, gofmt, the examples, the tutorial
// and the server's Docker image, for every branch, tag and pull request of
// the repository. `make run` runs it on this checkout:
//
//	go run ./cmd/selfci --src . --local-repo dkgo/datakit:. --state-dir .state/selfci
//
// "selfci images" builds the Quick Start images (deploy/Dockerfile's
// targets) with no registry, as `make images` does.
//
// The Go jobs run in a Go image made from this machine's toolchain when
// Docker answers (--go-in docker), else on the host (--go-in host). Run it
// with --help for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/selfci"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "images" {
		os.Exit(images(os.Args[2:]))
	}
	src := flag.String("src", ".", "the repository to test: a local Git repository's path or a URL")
	workDir := flag.String("work-dir", filepath.Join(os.TempDir(), "datakit-selfci"), "`DIR` for the Git mirror, the Go jobs' build cache and the Go image's build context")
	goIn := flag.String("go-in", "auto", "where the Go jobs run: docker (a Go image made from this host's toolchain), host, or auto (docker if Docker answers at start)")
	repo := flag.String("repo", selfci.Repo, "the project's name in the metadata: `USER/REPO`")
	heavy := flag.Int("heavy-jobs", 0, "how many heavy jobs (tests, vet, builds) run at once (default: 1 per 4 CPUs, at least 1)")
	cimain.Main(func() ci.Config {
		switch selfci.Placement(*goIn) {
		case selfci.Auto, selfci.InDocker, selfci.OnHost:
		default:
			fmt.Fprintf(os.Stderr, "selfci: --go-in %q: want auto, docker or host\n", *goIn)
			os.Exit(2)
		}
		p := selfci.New(context.Background(), selfci.Options{
			Src:     *src,
			Repo:    *repo,
			WorkDir: *workDir,
			GoIn:    selfci.Placement(*goIn),
			Heavy:   *heavy,
		})
		where, why := p.Placement()
		slog.Info("selfci: Go jobs "+string(where), "why", why)
		return p.Config()
	})
}

// images is "selfci images": it builds the Quick Start images.
func images(args []string) int {
	fs := flag.NewFlagSet("selfci images", flag.ContinueOnError)
	root := fs.String("root", ".", "the checkout of DataKit (its deploy/ and cmd/)")
	prefix := fs.String("prefix", "datakit", "name the images `PREFIX`-server, PREFIX-bridge, PREFIX-client, PREFIX-ci-base, PREFIX-selfci")
	verbose := fs.Bool("v", false, "show the builds' output")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: selfci images [--root DIR] [--prefix PREFIX] [TARGET...]\n\nBuild the Quick Start images from this machine, with no registry: the targets of\ndeploy/Dockerfile (default: %s).\n\nFlags:\n", strings.Join(selfci.ImageTargets, " "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o := selfci.ImagesOptions{Root: *root, Prefix: *prefix, Targets: selfci.ImageTargets}
	if fs.NArg() > 0 {
		o.Targets = fs.Args()
	}
	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	names, err := selfci.BuildImages(ctx, o, progress{log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "selfci images:", err)
		return 1
	}
	for _, t := range o.Targets {
		fmt.Println(names[t])
	}
	return 0
}

// progress shows the "selfci images:" lines, and the rest when verbose.
type progress struct{ rest io.Writer }

func (p progress) Write(b []byte) (int, error) {
	if strings.HasPrefix(string(b), "selfci images:") {
		os.Stderr.Write(b)
		return len(b), nil
	}
	return p.rest.Write(b)
}
