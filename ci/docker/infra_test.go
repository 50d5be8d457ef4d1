package docker

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dkgo/datakit/term"
)

// A daemon that is not there gives an infrastructure error at once, naming
// its address: no socket file, a socket file nobody listens on, a refused
// TCP port, and (after CallTimeout) a daemon that accepts and never answers.
func TestUnreachableDaemon(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	mute := startMute(t)

	for _, tc := range []struct {
		name, host, want string
	}{
		{"no socket", "unix://" + filepath.Join(dir, "nothing.sock"), "cannot reach the Docker daemon at unix://"},
		{"stale socket", "unix://" + stale, "cannot reach the Docker daemon at unix://"},
		{"refused port", "tcp://127.0.0.1:1", "cannot reach the Docker daemon at tcp://127.0.0.1:1"},
		{"mute daemon", "unix://" + mute, "did not answer within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := New(context.Background(), Options{Host: tc.host, CallTimeout: time.Second})
			if err == nil {
				c.Close()
				t.Fatalf("New(%s) = nil error", tc.host)
			}
			if !term.IsInfra(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.host) {
				t.Errorf("New(%s) = %v (infra %v), want an infra error containing %q", tc.host, err, term.IsInfra(err), tc.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("New(%s) took %v", tc.host, d)
			}
		})
	}
}

// startMute listens on a unix socket, accepts connections and never
// answers; it stops when the test ends.
func startMute(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "mute.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return path
}

// The daemon goes away while a command runs (its connections and socket
// vanish): Run returns an infrastructure error within seconds, and says the
// container could not be removed. A later Run fails the same way at once.
func TestDaemonGoesAwayMidRun(t *testing.T) {
	c := needDocker(t)
	p := startProxy(t)
	pc := newProxyClient(t, p)

	log := newLogBuffer("started")
	errc := make(chan error, 1)
	go func() {
		errc <- pc.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 30"}, Labels: testLabels()}, log)
	}()
	waitSeen(t, log, errc)
	p.Close()
	err := waitErr(t, errc, 10*time.Second)
	t.Logf("Run = %v", err)
	if !term.IsInfra(err) || !strings.Contains(err.Error(), "unix://"+p.path) || !strings.Contains(err.Error(), "not removed") {
		t.Errorf("Run = %v (infra %v), want an infra error naming the daemon and the container left", err, term.IsInfra(err))
	}

	start := time.Now()
	err = pc.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"true"}, Labels: testLabels()}, nil)
	if !term.IsInfra(err) || time.Since(start) > 3*time.Second {
		t.Errorf("Run on a lost daemon = %v after %v, want an infra error at once", err, time.Since(start))
	}

	// The container outlived the connection; a CI that restarts removes
	// such leftovers.
	if n, err := c.RemoveContainers(context.Background(), testLabels()); n != 1 || err != nil {
		t.Errorf("RemoveContainers = %d, %v; want the 1 container left", n, err)
	}
}

// The daemon stops answering while a command runs (connections stay open,
// nothing passes): the heartbeat notices, and Run returns an
// infrastructure error instead of hanging.
func TestDaemonHangsMidRun(t *testing.T) {
	c := needDocker(t)
	p := startProxy(t)
	pc := newProxyClient(t, p)

	log := newLogBuffer("started")
	errc := make(chan error, 1)
	go func() {
		errc <- pc.Run(context.Background(), RunOptions{Image: baseImage, Cmd: []string{"sh", "-c", "echo started; sleep 30"}, Labels: testLabels()}, log)
	}()
	waitSeen(t, log, errc)
	p.Freeze()
	err := waitErr(t, errc, 15*time.Second)
	t.Logf("Run = %v", err)
	if !term.IsInfra(err) || !strings.Contains(err.Error(), "lost the Docker daemon at unix://"+p.path) {
		t.Errorf("Run = %v (infra %v), want an infra error: lost the Docker daemon", err, term.IsInfra(err))
	}
	p.Close()
	if n, err := c.RemoveContainers(context.Background(), testLabels()); n != 1 || err != nil {
		t.Errorf("RemoveContainers = %d, %v; want the 1 container left", n, err)
	}
}

// The daemon goes away in the middle of a build: an infrastructure error
// within seconds; the daemon, seeing its client gone, stops the build and
// removes its intermediate container.
func TestDaemonGoesAwayMidBuild(t *testing.T) {
	needDocker(t)
	p := startProxy(t)
	pc := newProxyClient(t, p)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + baseImage + "\nRUN echo \"running-$((1+1))\"; sleep 30\n"})

	log := newLogBuffer("running-2") // the step's output, not its title
	errc := make(chan error, 1)
	go func() {
		_, err := pc.Build(context.Background(), BuildOptions{ContextDir: dir, NoCache: true}, log)
		errc <- err
	}()
	waitSeen(t, log, errc)
	p.Close()
	err := waitErr(t, errc, 10*time.Second)
	t.Logf("Build = %v", err)
	if !term.IsInfra(err) || !strings.Contains(err.Error(), "unix://"+p.path) {
		t.Errorf("Build = %v (infra %v), want an infra error naming the daemon", err, term.IsInfra(err))
	}
}

// Cancelling a build stops it: the error wraps context.Canceled and the
// daemon removes the intermediate container.
func TestBuildCancel(t *testing.T) {
	c := needDocker(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + baseImage + "\nRUN echo \"running-$((1+1))\"; sleep 30\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := newLogBuffer("running-2") // the step's output, not its title
	errc := make(chan error, 1)
	go func() {
		_, err := c.Build(ctx, BuildOptions{ContextDir: dir, NoCache: true}, log)
		errc <- err
	}()
	waitSeen(t, log, errc)
	cancel()
	if err := waitErr(t, errc, 10*time.Second); !errors.Is(err, context.Canceled) || term.IsInfra(err) {
		t.Errorf("Build = %v, want context.Canceled, not infra", err)
	}
}

// A build past its timeout fails with the original's message.
func TestBuildTimeout(t *testing.T) {
	c := needDocker(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + baseImage + "\nRUN sleep 30\n"})
	start := time.Now()
	_, err := c.Build(context.Background(), BuildOptions{ContextDir: dir, NoCache: true, Timeout: time.Second}, nil)
	var te *TimeoutError
	if !errors.As(err, &te) || err.Error() != "Exceeded timeout of 1 seconds" {
		t.Errorf("Build = %v, want %q", err, "Exceeded timeout of 1 seconds")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Build returned after %v", d)
	}
}

// newProxyClient connects to the daemon through p, with limits short
// enough for a test and long enough for a loaded machine.
func newProxyClient(t *testing.T, p *proxy) *Client {
	t.Helper()
	pc, err := New(context.Background(), Options{Host: "unix://" + p.path, CallTimeout: 10 * time.Second, Heartbeat: time.Second})
	if err != nil {
		t.Fatalf("New through the proxy: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// proxy forwards a unix socket to the real daemon, and can go away (Close:
// listener, socket file and every connection) or hang (Freeze: nothing
// passes any more, connections stay open).
type proxy struct {
	path   string
	ln     net.Listener
	dial   func() (net.Conn, error)
	frozen chan struct{}
	closed chan struct{}
	once   sync.Once
	freeze sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T) *proxy {
	t.Helper()
	proto, addr, _ := strings.Cut(dockerClient.host, "://")
	if proto != "unix" && proto != "tcp" {
		t.Skipf("SKIP: cannot proxy to %s", dockerClient.host)
	}
	p := &proxy{
		path:   filepath.Join(t.TempDir(), "docker.sock"),
		dial:   func() (net.Conn, error) { return net.Dial(proto, addr) },
		frozen: make(chan struct{}),
		closed: make(chan struct{}),
		conns:  map[net.Conn]bool{},
	}
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	p.wg.Go(p.serve)
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(in) {
			return
		}
		p.wg.Go(func() {
			select {
			case <-p.frozen:
				return // hold it until Close
			default:
			}
			out, err := p.dial()
			if err != nil || !p.track(out) {
				in.Close()
				return
			}
			p.wg.Go(func() { p.pipe(out, in) })
			p.pipe(in, out)
		})
	}
}

// track remembers c for Close; false if the proxy is closed already.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

// pipe copies src to dst until either breaks or the proxy freezes.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.frozen:
				<-p.closed
				return
			default:
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				// Pass a half-close on, as a daemon would see it.
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}
			return
		}
	}
}

// Freeze makes the proxy pass nothing more, as a hung daemon.
func (p *proxy) Freeze() { p.freeze.Do(func() { close(p.frozen) }) }

// Close makes the daemon vanish: the socket goes, and every connection
// breaks.
func (p *proxy) Close() {
	p.once.Do(func() {
		close(p.closed)
		p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
		p.wg.Wait()
	})
}
