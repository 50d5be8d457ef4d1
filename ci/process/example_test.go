package process_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/dkgo/datakit/ci/process"
)

func ExampleRun() {
	err := process.Run(context.Background(), process.Cmd{Argv: []string{"sh", "-c", "echo hello; exit 2"}}, os.Stdout, os.Stderr)
	fmt.Println(err)
	// Output:
	// hello
	// Command "sh" "-c" "echo hello; exit 2" exited with status 2
}

func ExampleWithTimeout() {
	ctx, cancel := process.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := process.Run(ctx, process.Cmd{Argv: []string{"sleep", "10"}}, nil, nil)
	fmt.Println(err)
	// Output:
	// Exceeded timeout of 0.1 seconds
}

func ExampleCmd_String() {
	c := process.Cmd{Argv: []string{"git", "clone", "https://user:s3cret@example.com/repo"}, Mask: []string{"s3cret"}}
	fmt.Println(c)
	// Output:
	// "git" "clone" "https://user:***@example.com/repo"
}

// A program that runs long-lived commands, started again after it was
// killed, first kills what its killed predecessor's commands left (Run
// does it too, before the program's first command).
func ExampleKillOrphans() {
	n, err := process.KillOrphans(context.Background())
	if err != nil {
		log.Printf("processes left by killed programs: %v", err)
	} else if n > 0 {
		log.Printf("killed %d processes left by killed programs", n)
	}
}
