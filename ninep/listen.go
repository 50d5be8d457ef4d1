package ninep

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
)

// DefaultPort is the port of tcp:// addresses that give none.
const DefaultPort = "5640"

// ParseAddr splits a listen or dial URL into a network and an address:
// tcp://HOST[:PORT] (default port 5640) or unix:///PATH. A bare HOST:PORT
// is taken as tcp.
func ParseAddr(url string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(url, "tcp://"):
		addr = strings.TrimPrefix(url, "tcp://")
		if addr == "" {
			return "", "", fmt.Errorf("%q: no host", url)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			host := strings.Trim(addr, "[]")
			if strings.Contains(host, ":") && net.ParseIP(host) == nil {
				return "", "", fmt.Errorf("%q: want tcp://HOST[:PORT]", url) // a:b:c is no IPv6 address
			}
			addr = net.JoinHostPort(host, DefaultPort)
		}
		if !validHostPort(addr) {
			return "", "", fmt.Errorf("%q: want tcp://HOST[:PORT]", url)
		}
		return "tcp", addr, nil
	case strings.HasPrefix(url, "unix://"):
		addr = strings.TrimPrefix(url, "unix://")
		if addr == "" {
			return "", "", fmt.Errorf("%q: no socket path", url)
		}
		return "unix", addr, nil
	case strings.Contains(url, "://"):
		return "", "", fmt.Errorf("%q: unsupported scheme (want tcp:// or unix://)", url)
	case url == "":
		return "", "", errors.New("empty address")
	}
	if !validHostPort(url) {
		return "", "", fmt.Errorf("%q: want tcp://HOST:PORT or unix:///PATH", url)
	}
	return "tcp", url, nil
}

// validHostPort reports whether addr is HOST:PORT with a port number
// (0 to 65535) and a host with no '/' (empty: every interface).
func validHostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(host, "/?#") {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n <= 65535
}

// Listen listens on a URL as ParseAddr reads it. A stale unix socket file
// is removed first.
func Listen(url string) (net.Listener, error) {
	network, addr, err := ParseAddr(url)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if st, err := os.Lstat(addr); err == nil && st.Mode().Type() == fs.ModeSocket {
			if c, err := net.Dial("unix", addr); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen %s: a server is already listening there", url)
			}
			os.Remove(addr)
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", url, err)
	}
	return ln, nil
}
