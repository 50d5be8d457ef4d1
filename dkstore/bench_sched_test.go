package dkstore_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// schedTimes sums the run time and the run-queue wait of this process's
// threads (/proc/self/task/*/schedstat).
func schedTimes() (run, wait time.Duration) {
	files, _ := filepath.Glob("/proc/self/task/*/schedstat")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fs := strings.Fields(string(data))
		if len(fs) < 2 {
			continue
		}
		r, _ := strconv.ParseInt(fs[0], 10, 64)
		w, _ := strconv.ParseInt(fs[1], 10, 64)
		run += time.Duration(r)
		wait += time.Duration(w)
	}
	return
}
