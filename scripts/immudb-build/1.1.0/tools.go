//go:build tools

// Package tools pins the immudb 1.1.0 server so that `go build` in this module builds it.
// immudb's go.mod has `replace` lines, which `go install …@v1.1.0` refuses; this wrapper module
// requires immudb and repeats them (see go.mod).
package tools

import _ "github.com/codenotary/immudb/cmd/immudb"
