//go:build nemorelay_release

package nemorelay

// Link against the release build in the workspace target directory.

// #cgo LDFLAGS: -L${SRCDIR}/../../../target/release -Wl,-rpath,${SRCDIR}/../../../target/release
import "C"
