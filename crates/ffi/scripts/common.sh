# Shared settings for the crates/ffi test scripts; source it, don't run it.
#
# Where the library is found:
#   CARGO_TARGET_DIR    cargo's target directory (default: <repo>/target)
#   NEMO_RELAY_PROFILE  cargo profile directory to test (default: debug)
# so the library under test is $CARGO_TARGET_DIR/$NEMO_RELAY_PROFILE/libnemo_relay_ffi.so.
# Scratch output (test binaries) goes to $CARGO_TARGET_DIR/ffi-tests.

set -euo pipefail

FFI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$FFI_DIR/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
PROFILE="${NEMO_RELAY_PROFILE:-debug}"
LIB_DIR="$TARGET_DIR/$PROFILE"
INCLUDE_DIR="$FFI_DIR/include"
HEADER="$INCLUDE_DIR/nemo_relay.h"
BUILD_DIR="$TARGET_DIR/ffi-tests"

case "$(uname -s)" in
    Darwin) LIB_FILE="$LIB_DIR/libnemo_relay_ffi.dylib" ;;
    *) LIB_FILE="$LIB_DIR/libnemo_relay_ffi.so" ;;
esac

mkdir -p "$BUILD_DIR"

require_library() {
    if [[ ! -f "$LIB_FILE" ]]; then
        echo "missing $LIB_FILE; run: cargo build -p nemo-relay-ffi" >&2
        exit 1
    fi
}
