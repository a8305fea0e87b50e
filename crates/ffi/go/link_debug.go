//go:build !nemorelay_release

package nemorelay

// Link against the debug build in the workspace target directory.

// #cgo LDFLAGS: -L${SRCDIR}/../../../target/debug -Wl,-rpath,${SRCDIR}/../../../target/debug
import "C"
