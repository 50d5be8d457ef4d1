package dkstore

// SpareStats reports how many files the store recycled and how many it had
// to create because no spare was ready (for the benchmarks).
func SpareStats(s *GitStore) (reused, created int64) {
	if s.objs.spares == nil {
		return 0, 0
	}
	return s.objs.spares.reused.Load(), s.objs.spares.missed.Load()
}
