package docker

import (
	"bytes"
	"context"
	"hash"
	"hash/fnv"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// seqLines is how many lines the throughput test streams.
const seqLines = 200_000

// lineCounter is the log of the throughput test: it counts lines, hashes
// the bytes and notes when the first and the last write came.
type lineCounter struct {
	lines       int
	sum         hash.Hash64
	first, last time.Time
}

func newLineCounter() *lineCounter { return &lineCounter{sum: fnv.New64a()} }

func (l *lineCounter) Write(p []byte) (int, error) {
	now := time.Now()
	if l.first.IsZero() {
		l.first = now
	}
	l.last = now
	l.lines += bytes.Count(p, []byte{'\n'})
	l.sum.Write(p)
	return len(p), nil
}

// streamRate is lines per second between the first and the last write.
func (l *lineCounter) streamRate() float64 {
	return float64(l.lines) / l.last.Sub(l.first).Seconds()
}

// runSeqLocal runs busybox seq as a local process into a lineCounter.
func runSeqLocal(t testing.TB, busybox string) (*lineCounter, time.Duration) {
	lc := newLineCounter()
	cmd := exec.Command(busybox, "seq", strconv.Itoa(seqLines))
	cmd.Stdout = lc
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s seq: %v", busybox, err)
	}
	return lc, time.Since(start)
}

// runSeqDocker runs the same seq in a container into a lineCounter.
func runSeqDocker(t testing.TB, c *Client) (*lineCounter, time.Duration) {
	lc := newLineCounter()
	start := time.Now()
	err := c.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"seq", strconv.Itoa(seqLines)}, Labels: testLabels()}, lc)
	if err != nil {
		t.Fatalf("Run seq: %v", err)
	}
	return lc, time.Since(start)
}

// TestOutputThroughput streams 200,000 lines from a container and logs the
// rate, against busybox seq run as a local process into the same writer.
// Every line must arrive, in order (the same bytes as locally).
func TestOutputThroughput(t *testing.T) {
	c := needDocker(t)
	busybox, err := staticBusybox()
	if err != nil {
		t.Fatal(err)
	}
	local, localTotal := runSeqLocal(t, busybox)
	remote, remoteTotal := runSeqDocker(t, c)
	if remote.lines != seqLines || remote.sum.Sum64() != local.sum.Sum64() {
		t.Fatalf("the container's output: %d lines, hash %x; want %d lines, hash %x (as locally)",
			remote.lines, remote.sum.Sum64(), seqLines, local.sum.Sum64())
	}
	// The fixed cost of a run (create, attach, start, wait, remove), to
	// tell it from the cost of the lines.
	start := time.Now()
	if err := c.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: testLabels()}, nil); err != nil {
		t.Fatal(err)
	}
	empty := time.Since(start)
	rate := func(d time.Duration) float64 { return seqLines / d.Seconds() }
	t.Logf("%d lines: docker run %v in all (%.0f lines/s); an empty run %v; local process %v (%.0f lines/s)",
		seqLines, remoteTotal.Round(time.Millisecond), rate(remoteTotal), empty.Round(time.Millisecond),
		localTotal.Round(time.Millisecond), rate(localTotal))
	t.Logf("docker/local lines/s: %.3f in all, %.2f less the empty run's time (%.0f lines/s), %.2f first to last write (%.0f vs %.0f lines/s)",
		rate(remoteTotal)/rate(localTotal), rate(max(remoteTotal-empty, time.Millisecond))/rate(localTotal), rate(max(remoteTotal-empty, time.Millisecond)),
		remote.streamRate()/local.streamRate(), remote.streamRate(), local.streamRate())
}

// BenchmarkSeqOutput reports lines/s for 200,000 lines streamed from a
// container (Run, container start included) and from a local process.
func BenchmarkSeqOutput(b *testing.B) {
	if dockerClient == nil {
		b.Skip("SKIP: " + skipReason)
	}
	busybox, err := staticBusybox()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("docker", func(b *testing.B) {
		for b.Loop() {
			runSeqDocker(b, dockerClient)
		}
		b.ReportMetric(float64(seqLines*b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			runSeqLocal(b, busybox)
		}
		b.ReportMetric(float64(seqLines*b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}
