// Command flagci is a CI with a flag of its own, for the tests: its one job
// succeeds with --greeting's value, and it says on stderr each time
// cimain.Main calls its configuration function.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/dkgo/datakit/ci"
	"github.com/dkgo/datakit/ci/cimain"
	"github.com/dkgo/datakit/term"
)

func main() {
	greeting := flag.String("greeting", "hello", "the job's success value")
	calls := 0
	cimain.Main(func() ci.Config {
		calls++
		fmt.Fprintf(os.Stderr, "configure call %d: greeting %q\n", calls, *greeting)
		return ci.Config{Name: "flagci", Projects: []ci.Project{{Repo: "me/p", Jobs: func(ci.Target) ci.Jobs {
			return ci.Jobs{"greet": term.Return(*greeting)}
		}}}}
	})
}
