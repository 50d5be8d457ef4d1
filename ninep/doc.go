// Package ninep serves a dkstore.Store as the DataKit file tree over
// 9P2000.L (Server, on github.com/hugelgupf/p9), and implements
// dkstore.Store remotely over that tree (Client). docs/ninep.md describes
// the tree, and the comments in tree.go, files.go and remotes.go
// describe its nodes.
//
// The same listeners also serve the original DataKit's dialects, 9P2000.u
// and plain 9P2000, chosen by each connection's Tversion: pfile.go adapts
// the tree to p9 for 9P2000.L, styxserver.go serves it for the others
// with the codec of internal/styx, and the tree is the same.
//
// A Server is safe for concurrent use; each connection has its own
// namespace (transactions, remotes, branches made by mkdir, command
// results), dropped when it closes. A Client is safe for concurrent use.
//
// Streams (head.live, reflog, tree.live, branch/.changes, a remote's head)
// block a read until their value changes. Such a read ends when the
// client flushes it: the server answers 9P's Tflush itself, on the wire,
// by cancelling the read's context (serverWire), rather than leaving it to
// p9, which answers a flush only once the request has ended by itself. So
// Ctrl-C of a `cat head.live` works through the kernel's 9p client, and,
// with RawConn.Interrupt, through datakit mount (package ninep/mount).
// Errors map to errnos in one table (vfs.go) and back in the client.
package ninep
