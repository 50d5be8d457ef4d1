package process_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/dkgo/datakit/ci/process"
)

// The test binary is also a program that uses this package, for the tests
// of what a program leaves when it is killed (see runAsProgram).
func TestMain(m *testing.M) {
	if script, ok := os.LookupEnv(programEnv); ok {
		os.Exit(runAsProgram(script))
	}
	goleak.VerifyTestMain(m)
}

// programEnv, in the test binary's environment, makes it run the script
// it holds with process.Run, and exit with the script.
const programEnv = "DK_PROCESS_TEST_PROGRAM"

func runAsProgram(script string) int {
	err := process.Run(context.Background(), process.Cmd{Argv: []string{"sh", "-c", script}}, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
