package record_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/dkgo/datakit/dkstore"
	"github.com/dkgo/datakit/dkstore/record"
	"github.com/dkgo/datakit/ninep"
)

// A program keeps its settings in a record: defaults it writes itself,
// values a user sets on master, and Wait for the user's changes.
func Example() {
	ctx := context.Background()
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()

	settings, err := record.New(ctx, store, record.Options{
		Lookup:   []dkstore.BranchName{"master", "defaults"}, // master wins
		Defaults: "defaults",
		State:    "state",
		Dir:      "vm",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer settings.Close()
	cpus, err := settings.IntField(ctx, "cpus", 2)
	if err != nil {
		log.Fatal(err)
	}
	name, err := settings.StringField(ctx, "name", "default-vm")
	if err != nil {
		log.Fatal(err)
	}
	if err := settings.Seal(ctx); err != nil {
		log.Fatal(err)
	}
	n, v := cpus.Get()
	s, _ := name.Get()
	fmt.Printf("%s: %d CPUs\n", s, n)

	// Someone (another program, a shell in a 9P mount) sets vm/cpus on
	// master.
	master, _ := store.Branch("master")
	tx, _ := master.Transaction(ctx, dkstore.TxOptions{})
	tx.WriteFile(ctx, "vm/cpus", []byte("4\n"), dkstore.KindFile)
	tx.Commit(ctx, "More CPUs")

	if _, err := settings.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("cpus changed:", cpus.HasChanged(v), "name changed:", name.HasChanged(v))
	n, _ = cpus.Get()
	fmt.Println("cpus:", n)
	// Output:
	// default-vm: 2 CPUs
	// cpus changed: true name changed: false
	// cpus: 4
}

// The same record over 9P: a ninep.Client is a dkstore.Store, so the
// program can run on another machine than the server.
func Example_ninep() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- ninep.NewServer(store, ninep.Options{}).Serve(serveCtx, ln) }()
	defer func() { stop(); <-served }()

	client, err := ninep.Dial(ctx, "tcp://"+ln.Addr().String(), ninep.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	settings, err := record.New(ctx, client, record.Options{
		Lookup:   []dkstore.BranchName{"master", "defaults"},
		Defaults: "defaults",
		Dir:      "app",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer settings.Close()
	debug, err := settings.BoolField(ctx, "debug", false)
	if err != nil {
		log.Fatal(err)
	}
	if err := debug.Set(ctx, "turn debugging on", true); err != nil {
		log.Fatal(err)
	}
	if _, err := settings.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	on, _ := debug.Get()
	fmt.Println("debug:", on)
	// Output:
	// debug: true
}

// SetMultiple changes several fields in one commit, so that a program
// waiting for them never sees half of the change.
func ExampleRecord_SetMultiple() {
	ctx := context.Background()
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	settings, err := record.New(ctx, store, record.Options{
		Lookup: []dkstore.BranchName{"master", "defaults"}, Defaults: "defaults", Dir: "vm",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer settings.Close()
	cpus, _ := settings.IntField(ctx, "cpus", 2)
	memory, _ := settings.IntField(ctx, "memory-mib", 2048)
	proxy, _ := settings.StringRefField(ctx, "proxy", nil)

	url := "http://proxy:3128"
	if err := settings.SetMultiple(ctx, "Resize the VM", cpus.To(4), memory.To(8192), proxy.To(&url)); err != nil {
		log.Fatal(err)
	}
	v, err := settings.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c, cv := cpus.Get()
	m, mv := memory.Get()
	p, _ := proxy.Get()
	fmt.Println(c, m, *p, cv == v && mv == v)

	master, _ := store.Branch("master")
	head, _ := master.Head(ctx)
	commit, _ := store.Commit(ctx, head)
	fmt.Println(commit.Message)
	// Output:
	// 4 8192 http://proxy:3128 true
	// Resize the VM
}

// Upgrade moves the settings to a new schema version once: it rewrites
// the defaults and tells the program to migrate the rest.
func ExampleRecord_Upgrade() {
	ctx := context.Background()
	store := dkstore.NewMemory(dkstore.Options{})
	defer store.Close()
	opts := record.Options{Lookup: []dkstore.BranchName{"master", "defaults"}, Defaults: "defaults", Dir: "app"}

	start := func() {
		settings, err := record.New(ctx, store, opts)
		if err != nil {
			log.Fatal(err)
		}
		defer settings.Close()
		if _, err := settings.IntField(ctx, "workers", 8); err != nil {
			log.Fatal(err)
		}
		upgraded, err := settings.Upgrade(ctx, 2)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("upgraded:", upgraded, "schema:", settings.SchemaVersion())
	}
	start() // the first start of the new version
	start() // later starts find the store upgraded
	// Output:
	// upgraded: true schema: 2
	// upgraded: false schema: 2
}
