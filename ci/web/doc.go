// Package web is the CI's web UI (the original DataKitCI's, reference
// section 6.5, and more): a dashboard, the lists of PRs, branches and
// tags, a page per target with its jobs, their steps and logs, its
// recorded history and why a pending job waits, the commit pages that
// statuses link to, live logs streamed as a step writes them, saved logs,
// rebuilds, cancellations and "rebuild all failed" — for the users the
// configuration's ACLs allow (ci.Config.CanRead, CanBuild).
//
// A Server is an http.Handler made by New from a ci.Engine; ci/cimain
// serves it on --listen. Pages are html/template templates with their
// assets embedded; JavaScript only confirms destructive buttons and keeps
// a live log's end in view. Logs are rendered by
// github.com/buildkite/terminal-to-html/v3, line by line, each line
// numbered and linkable.
//
// # Users and roles
//
// The local user "admin" has a password, stored as an argon2id hash in
// the secrets directory and chosen through a one-time link (IntroURL) on
// the first start; other users log in with GitHub (OAuth, through
// golang.org/x/oauth2) as "github:<login>", and GitHub tells at login
// their organizations and which repositories the ACLs name they can read.
// Readers (CanRead) see the pages; builders (CanBuild) may also rebuild
// and cancel; the admin may do everything. Anonymous visitors are judged
// by the same ACLs: not readers, they are sent to the login page.
//
// Sessions are kept in memory; every POST carries the session's CSRF
// token. TLSConfig makes a self-signed certificate for HTTPS when none is
// given. See docs/web.md for the routes and their rules.
//
// # Concurrency
//
// A Server is safe for concurrent use. A live log's request lasts as long
// as the step writes (or the client stays).
package web
