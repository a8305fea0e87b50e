#!/usr/bin/env bash
# Symbol parity between the built library and nemo_relay.h, both directions.
#
# * Every exported nemo_relay_* function must be declared in the header.
#   (Upstream shipped 12 macro-generated exports that the header lacked.)
# * Every function the header declares must be exported, and must link: a
#   generated C file takes the address of each one and links against the
#   library, so a declaration with no definition fails here.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_library

exported="$BUILD_DIR/exported.txt"
declared="$BUILD_DIR/declared.txt"

nm -D --defined-only "$LIB_FILE" | awk '$2 == "T" { print $3 }' \
    | grep '^nemo_relay_' | sort -u > "$exported"
# Preprocess so only real declarations remain (no comments), then pick every
# identifier that is followed by an opening parenthesis.
gcc -E -P -x c -I"$INCLUDE_DIR" "$HEADER" \
    | grep -oE '\bnemo_relay_[A-Za-z0-9_]+[[:space:]]*\(' \
    | tr -d ' (' | sort -u > "$declared"

if ! diff -u --label "exported by $(basename "$LIB_FILE")" --label "declared in nemo_relay.h" \
    "$exported" "$declared"; then
    echo "symbol parity FAILED: '-' lines are exported but not declared, '+' lines declared but not exported" >&2
    exit 1
fi

{
    echo '#include "nemo_relay.h"'
    echo 'typedef void (*any_fn)(void);'
    echo 'static const any_fn every_function[] = {'
    sed 's/.*/    (any_fn)\&&,/' "$declared"
    echo '};'
    echo 'int main(void) { return every_function[0] == 0; }'
} > "$BUILD_DIR/address_of_all.c"
gcc -std=c11 -I"$INCLUDE_DIR" "$BUILD_DIR/address_of_all.c" -L"$LIB_DIR" -lnemo_relay_ffi \
    -Wl,-rpath,"$LIB_DIR" -o "$BUILD_DIR/address_of_all"
"$BUILD_DIR/address_of_all"

echo "symbol parity ok: $(wc -l < "$exported") functions exported and declared"
