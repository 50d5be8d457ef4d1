// Package pool limits how many builds use a resource at once: monitored
// resource pools, as the original DataKitCI's Monitored_pool, with
// priorities.
//
// A Pool has a name and a capacity. Acquire takes one of its slots, or
// waits in the pool's queue for one; a waiting build shows the pending
// reason Reason() (`Waiting for resource in "docker"`). Requests of higher
// Priority are served first (PR and branch work before background
// rebuilds), in arrival order within a priority. A request whose context
// is done while queued leaves the queue. Status lists who holds and who
// waits for the slots, for the dashboard; a Registry holds the pools a CI
// shows. Metrics, when given, are the original's datakitci_pool_* gauges
// and summaries, labelled by pool name.
//
// Pools and Registries are safe for concurrent use, and so is a release
// function.
package pool
