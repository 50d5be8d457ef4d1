// Command selfci is the CI that tests DataKit for Go itself (package
// selfci): the unit tests by area, vet, gofmt, the examples, the tutorial
// and the server's Docker image, for every branch, tag and pull request of
// the repository. `make run` runs it on this checkout:
//
//	go run ./cmd/selfci --src . --local-repo dkgo/datakit:. --state-dir .state/selfci
//
// The Go jobs run in a Go image made from this machine's toolchain when
// Docker answers (--go-in docker), else on the host (--go-in host). Run it
// with --help for every flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/selfci"
)

func main() {
	src := flag.String("src", ".", "the repository to test: a local Git repository's path or a URL")
	workDir := flag.String("work-dir", filepath.Join(os.TempDir(), "datakit-selfci"), "`DIR` for the Git mirror, the Go jobs' build cache and the Go image's build context")
	goIn := flag.String("go-in", "auto", "where the Go jobs run: docker (a Go image made from this host's toolchain), host, or auto (docker if Docker answers at start)")
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
			WorkDir: *workDir,
			GoIn:    selfci.Placement(*goIn),
			Heavy:   *heavy,
		})
		where, why := p.Placement()
		slog.Info("selfci: Go jobs "+string(where), "why", why)
		return p.Config()
	})
}
