package ci

import (
	"fmt"

	"github.com/dkgo/datakit/bridge"
	"github.com/dkgo/datakit/ci/pool"
	"github.com/dkgo/datakit/term"
)

// Jobs maps a job's name to its term. A job's result is its commit
// status: the success value, the pending reason or the failure message is
// the status description.
type Jobs map[string]term.Term[string]

// Project is one repository the CI tests.
type Project struct {
	// Repo is "user/repo".
	Repo string
	// Dashboards lists the branches shown on the web UI's dashboard: a
	// tile each, with their jobs' states. When empty, the dashboard shows
	// the branches main and master, those that exist, and says how to
	// choose others.
	Dashboards []string
	// Jobs returns the jobs of a target. It is called when the target
	// appears and again whenever its head (or title) changes; it may return
	// no jobs for targets that need none.
	Jobs func(Target) Jobs
}

// Config is a CI: its projects and who may see and rebuild them.
type Config struct {
	// Name is the CI's name: the web UI's heading (when unset, the
	// page is headed with the projects) and the default state directory's
	// last element ("datakit-ci" when unset).
	Name     string
	Projects []Project
	// CanRead may see the web UI (package ci/web): its pages, logs and
	// history. CanBuild may also rebuild and cancel steps there. Both are
	// enforced, for anonymous users too: with CanRead Everyone() the pages
	// are public, otherwise a visitor who is not logged in is sent to the
	// login page. The zero ACL allows no one (but the web UI's admin,
	// who is allowed everything).
	CanRead, CanBuild ACL
	// Pools are the resource pools the pipelines use: the CI reports their
	// metrics and shows them. Names must be unique.
	Pools []*pool.Pool
	// Secrets names the secrets the CI uses (files in --secrets-dir, or
	// else environment variables): their values are masked as "***" in
	// everything the CI writes — logs, statuses, history.
	Secrets []string
}

// project is a checked Project.
type project struct {
	repo Repo
	Project
}

func (c Config) check() ([]project, error) {
	if len(c.Projects) == 0 {
		return nil, fmt.Errorf("ci: the configuration lists no projects")
	}
	pools := map[string]bool{}
	for _, p := range c.Pools {
		if pools[p.Name()] {
			return nil, fmt.Errorf("ci: two pools are named %q", p.Name())
		}
		pools[p.Name()] = true
	}
	seen := map[Repo]bool{}
	var ps []project
	for _, p := range c.Projects {
		r, err := bridge.ParseRepo(p.Repo)
		if err != nil {
			return nil, fmt.Errorf("ci: project %q: %v", p.Repo, err)
		}
		if seen[r] {
			return nil, fmt.Errorf("ci: project %s is listed twice", r)
		}
		if p.Jobs == nil {
			return nil, fmt.Errorf("ci: project %s has no Jobs function", r)
		}
		seen[r] = true
		ps = append(ps, project{repo: r, Project: p})
	}
	return ps, nil
}
