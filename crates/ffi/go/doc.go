// Package nemorelay is the Go binding of the nemo-relay C ABI.
//
// It calls libnemo_relay_ffi through cgo, compiling against the generated
// header crates/ffi/include/nemo_relay.h, so every call is type-checked by the
// C compiler against the real declarations (upstream hand-wrote prototypes).
//
// # Building and linking
//
// Build the library first:
//
//	cargo build -p nemo-relay-ffi            # debug, the default here
//	cargo build -p nemo-relay-ffi --release  # then build Go with -tags nemorelay_release
//
// By default the package links ../../../target/debug/libnemo_relay_ffi.so
// (the workspace target directory, relative to this package) and records that
// directory as an rpath, so tests and binaries run without LD_LIBRARY_PATH.
// The build tag nemorelay_release switches to target/release. To use a library
// elsewhere (another CARGO_TARGET_DIR, an installed copy), put its directory
// first through the environment; cgo places CGO_LDFLAGS before the package's
// own flags, so the first -L and rpath win:
//
//	CGO_LDFLAGS="-L/path/to/lib -Wl,-rpath,/path/to/lib" go test ./...
//
// # Errors
//
// Every failing call returns an *Error carrying the C status code and the
// library's message. Compare with errors.Is against the sentinels:
//
//	if errors.Is(err, nemorelay.ErrInvalidJSON) { ... }
//
// The message lives in thread-local storage in the library, so the binding
// pins the goroutine to its OS thread between the call and reading the error
// (see call in errors.go); goroutines may otherwise migrate between the two.
package nemorelay
