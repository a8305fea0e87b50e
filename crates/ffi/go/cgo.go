package nemorelay

// Compiler flags shared by every file of the package. The library search path
// is chosen per build tag in link_debug.go / link_release.go.

// #cgo CFLAGS: -I${SRCDIR}/../include
// #cgo LDFLAGS: -lnemo_relay_ffi
import "C"
