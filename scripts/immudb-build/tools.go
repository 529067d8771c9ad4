//go:build tools

// Package tools pins the immudb 1.1.0 server so that `go build` in this module builds it.
// immudb's own go.mod has a `replace`, which `go install …@v1.1.0` refuses; a wrapper module
// that requires immudb and repeats the replace (see go.mod) builds it with the local toolchain.
package tools

import _ "github.com/codenotary/immudb/cmd/immudb"
