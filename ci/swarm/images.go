package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dkgo/datakit/term"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// loadImages loads image (an ID) onto the ready nodes of Options.Nodes
// that lack it, and returns the nodes it could not load it onto (the run
// avoids them).
func (r *run) loadImages(ctx context.Context, image string) (failed []string, err error) {
	if len(r.x.opts.Nodes) == 0 {
		return nil, nil
	}
	var list client.NodeListResult
	err = r.x.call(ctx, "list nodes", func(ctx context.Context) (err error) {
		list, err = r.api.NodeList(ctx, client.NodeListOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, n := range list.Items {
		addr := r.x.opts.Nodes[n.ID]
		if addr == "" {
			addr = r.x.opts.Nodes[n.Description.Hostname]
		}
		if addr == "" || n.ID == r.x.self || n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
			continue
		}
		wg.Go(func() {
			loaded, err := r.x.loadImage(ctx, addr, image)
			mu.Lock()
			defer mu.Unlock()
			name := n.Description.Hostname + " (" + n.ID + ")"
			switch {
			case err != nil:
				failed = append(failed, n.ID)
				r.printf("Cannot load the image onto node %s, which will not run this step: %v", name, err)
			case loaded:
				r.printf("Loaded image %.19s onto node %s", image, name)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, contextError(ctx, "load images")
	}
	return failed, nil
}

// loadImage loads image onto the daemon at addr unless it has it, and
// reports whether it did.
func (x *Executor) loadImage(ctx context.Context, addr, image string) (bool, error) {
	node, lock, err := x.nodeAPI(addr)
	if err != nil {
		return false, err
	}
	lock.Lock() // one load at a time onto one node: a second finds the first's
	defer lock.Unlock()
	err = x.call(ctx, "inspect image on "+addr, func(ctx context.Context) error {
		_, err := node.ImageInspect(ctx, image)
		return err
	})
	if err == nil {
		return false, nil
	}
	if term.IsInfra(err) || !cerrdefs.IsNotFound(err) {
		return false, err
	}
	api, err := x.connect(ctx)
	if err != nil {
		return false, err
	}
	// Not bounded by CallTimeout (an image takes its time), but by ctx.
	saved, err := api.ImageSave(ctx, []string{image})
	if err != nil {
		return false, fmt.Errorf("swarm: save image %s: %w", image, err)
	}
	defer saved.Close()
	res, err := node.ImageLoad(ctx, saved, client.ImageLoadWithQuiet(true))
	if err != nil {
		return false, fmt.Errorf("swarm: load image %s on %s: %w", image, addr, err)
	}
	defer res.Close()
	if err := loadError(res); err != nil {
		return false, fmt.Errorf("swarm: load image %s on %s: %w", image, addr, err)
	}
	return true, nil
}

// loadError reads the answer to a load (a stream of JSON messages) and
// returns the error it reports, if any.
func loadError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string
			ErrorDetail *struct{ Message string }
		}
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// nodeAPI is the connection to the daemon at addr, made at first use.
func (x *Executor) nodeAPI(addr string) (*client.Client, *sync.Mutex, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, nil, errors.New("swarm: the executor is closed")
	}
	if x.nodeAPIs == nil {
		x.nodeAPIs, x.loadMu = map[string]*client.Client{}, map[string]*sync.Mutex{}
	}
	if c := x.nodeAPIs[addr]; c != nil {
		return c, x.loadMu[addr], nil
	}
	c, err := client.New(client.WithHost(addr))
	if err != nil {
		return nil, nil, fmt.Errorf("swarm: node %s: %w", addr, err)
	}
	x.nodeAPIs[addr], x.loadMu[addr] = c, &sync.Mutex{}
	return c, x.loadMu[addr], nil
}
