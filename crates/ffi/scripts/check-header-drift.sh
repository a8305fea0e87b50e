#!/usr/bin/env bash
# Fails when building left crates/ffi/include different from what is committed.
#
# Run it after `cargo build -p nemo-relay-ffi`, which regenerates the header
# (build.rs). A difference means someone changed the ABI without committing the
# regenerated header; the fix is to commit crates/ffi/include/nemo_relay.h.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$REPO_ROOT"
untracked="$(git ls-files --others --exclude-standard -- crates/ffi/include)"
if [[ -n "$untracked" ]]; then
    echo "header drift: untracked generated files:" >&2
    echo "$untracked" >&2
    exit 1
fi
if ! git diff --exit-code -- crates/ffi/include; then
    echo "header drift: nemo_relay.h changed during the build; commit the regenerated header" >&2
    exit 1
fi
echo "header matches the committed nemo_relay.h"
