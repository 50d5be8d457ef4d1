package local_test

import (
	"fmt"

	"github.com/dkgo/datakit/bridge/local"
)

func ExampleParseSource() {
	src, err := local.ParseSource("me/project:/src/project")
	fmt.Println(src.Repo, src.Path, err)
	_, err = local.ParseSource("/src/project")
	fmt.Println(err)
	// Output:
	// me/project /src/project <nil>
	// local: invalid source "/src/project": want USER/REPO:PATH (e.g. me/project:/src/project)
}

func ExampleOwner() {
	fmt.Println(local.Owner("Jane Doe"))
	fmt.Println(local.Owner("李"))
	// Output:
	// Jane-Doe
	// local
}
