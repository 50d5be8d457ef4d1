// Package github is the GitHub bridge: it keeps the metadata branch of a
// store (github-metadata, in package bridge's layout) and GitHub in
// agreement, both ways.
package github
