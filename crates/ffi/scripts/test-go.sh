#!/usr/bin/env bash
# Runs the Go binding's tests (crates/ffi/go) with the race detector.
#
# The package links ../../../target/<profile> by default; this script passes
# the library directory chosen in common.sh through CGO_LDFLAGS, which cgo puts
# before the package's own flags, so CARGO_TARGET_DIR and NEMO_RELAY_PROFILE
# are honoured. The module has no dependencies outside the standard library,
# so nothing is downloaded.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_library

if ! command -v go >/dev/null; then
    echo "go is not installed (Debian: apt-get install golang-go)" >&2
    exit 1
fi

tags=()
if [[ "$PROFILE" == "release" ]]; then
    tags=(-tags nemorelay_release)
fi

cd "$FFI_DIR/go"
export CGO_ENABLED=1
export CGO_LDFLAGS="-L$LIB_DIR -Wl,-rpath,$LIB_DIR ${CGO_LDFLAGS:-}"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
    echo "gofmt needed on: $unformatted" >&2
    exit 1
fi
go vet "${tags[@]}" ./...
# -count=1: the Go test cache does not know when the Rust library changed.
timeout 900 go test -count=1 -race "${tags[@]}" ./...
