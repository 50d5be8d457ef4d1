package ci

import (
	"sort"
	"strings"
)

// depIndex records which jobs read which metadata paths, and which jobs
// are due for evaluation (dirty). It belongs to the engine's Run
// goroutine.
type depIndex struct {
	readers map[string]map[*job]struct{} // metadata path -> jobs that read it
	dirty   map[*job]struct{}
}

func newDepIndex() *depIndex {
	return &depIndex{readers: map[string]map[*job]struct{}{}, dirty: map[*job]struct{}{}}
}

// setPaths replaces the metadata paths j read.
func (d *depIndex) setPaths(j *job, paths []string) {
	for _, p := range j.paths {
		if s := d.readers[p]; s != nil {
			delete(s, j)
			if len(s) == 0 {
				delete(d.readers, p)
			}
		}
	}
	j.paths = paths
	for _, p := range paths {
		s := d.readers[p]
		if s == nil {
			s = map[*job]struct{}{}
			d.readers[p] = s
		}
		s[j] = struct{}{}
	}
}

// markPath marks dirty the jobs that read path or a directory above it.
func (d *depIndex) markPath(path string) {
	for {
		for j := range d.readers[path] {
			d.dirty[j] = struct{}{}
		}
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			return
		}
		path = path[:i]
	}
}

// mark marks j dirty.
func (d *depIndex) mark(j *job) { d.dirty[j] = struct{}{} }

// forget drops j (a job that went away).
func (d *depIndex) forget(j *job) {
	d.setPaths(j, nil)
	delete(d.dirty, j)
}

// idle reports whether no job is dirty.
func (d *depIndex) idle() bool { return len(d.dirty) == 0 }

// take returns the dirty jobs, by target and name, and marks them clean.
func (d *depIndex) take() []*job {
	jobs := make([]*job, 0, len(d.dirty))
	for j := range d.dirty {
		if !j.dropped {
			jobs = append(jobs, j)
		}
	}
	clear(d.dirty)
	sort.Slice(jobs, func(a, b int) bool {
		if jobs[a].t != jobs[b].t {
			return lessID(jobs[a].t.ID, jobs[b].t.ID)
		}
		return jobs[a].name < jobs[b].name
	})
	return jobs
}
