package swarm

import (
	"context"
	"time"

	"github.com/dkgo/datakit/ci/docker"
	"github.com/moby/moby/client"
)

// sweep, at the first run that names owner (the CI), lists the services
// an earlier run of that CI left: killed mid-step, it could not remove
// them. Each waits to be adopted by its step run again (Run finds it by
// name); after AdoptWithin, those not adopted are removed.
func (x *Executor) sweep(ctx context.Context, api *client.Client, owner string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.swept[owner] {
		return nil
	}
	var list client.ServiceListResult
	err := x.call(ctx, "list services", func(ctx context.Context) (err error) {
		f := client.Filters{}.Add("label", docker.OwnerLabel+"=1").Add("label", docker.CILabel+"="+owner)
		list, err = api.ServiceList(ctx, client.ServiceListOptions{Filters: f})
		return err
	})
	if err != nil {
		return err
	}
	x.swept[owner] = true
	if len(list.Items) == 0 {
		return nil
	}
	for _, s := range list.Items {
		x.leftovers[s.Spec.Name] = leftover{id: s.ID, owner: owner}
	}
	x.log.Info("swarm: found services left by an earlier run of this CI: each is adopted if its step runs again soon, else removed",
		"count", len(list.Items), "owner", owner, "within", x.opts.AdoptWithin)
	x.sweeps.Add(1)
	x.timers = append(x.timers, time.AfterFunc(x.opts.AdoptWithin, func() {
		defer x.sweeps.Done()
		x.removeLeftovers(owner)
	}))
	return nil
}

// removeLeftovers removes owner's leftovers that no step adopted.
func (x *Executor) removeLeftovers(owner string) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	var ids []string
	for name, l := range x.leftovers {
		if l.owner == owner {
			ids = append(ids, l.id)
			delete(x.leftovers, name)
		}
	}
	x.mu.Unlock()
	n := 0
	for _, id := range ids {
		if err := x.remove(context.Background(), id); err != nil {
			x.log.Warn("swarm: cannot remove a service left by an earlier run of this CI", "id", id, "err", err)
			continue
		}
		n++
	}
	if n > 0 {
		x.log.Info("swarm: removed services left by an earlier run of this CI", "count", n, "owner", owner)
	}
}
