#!/usr/bin/env bash
# Every check of the C ABI, in the order that fails fastest:
#
#   1. cargo build -p nemo-relay-ffi   (also regenerates nemo_relay.h)
#   2. header drift       the build left the committed header unchanged
#   3. header compiles    as C11 and C++17, -Wall -Wextra -Werror
#   4. symbol parity      exported nemo_relay_* == declared, and all link
#   5. C tests            under ASan/UBSan/LSan, or valgrind; golden run
#   6. Go                 go vet + go test -race; golden run
#   7. Python             pytest; golden run
#   8. fuzz               libFuzzer on the JSON entry points (plugin documents
#                         and ATIF options included), FUZZ_SECONDS
#                         (default 30 here; installs clang if missing)
#
# Later checks still run after a failure so one run reports everything; the
# exit status is non-zero if any failed. NEMO_RELAY_PROFILE=release tests a
# release build instead of debug.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scripts="$FFI_DIR/scripts"

cargo_flags=(-p nemo-relay-ffi)
if [[ "$PROFILE" == "release" ]]; then
    cargo_flags+=(--release)
elif [[ "$PROFILE" != "debug" ]]; then
    cargo_flags+=(--profile "$PROFILE")
fi
(cd "$REPO_ROOT" && cargo build "${cargo_flags[@]}")

passed=0
failed=0
failures=()
run_step() {
    local name="$1"
    shift
    echo "=== ffi: $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "=== ffi: $name FAILED"
    fi
}

run_step "header drift" "$scripts/check-header-drift.sh"
run_step "header compiles" "$scripts/check-header-compiles.sh"
run_step "symbol parity" "$scripts/check-symbols.sh"
run_step "C tests" "$scripts/test-c.sh"
run_step "Go" "$scripts/test-go.sh"
run_step "Python" "$scripts/test-python.sh"
run_step "fuzz" env FUZZ_SECONDS="${FUZZ_SECONDS:-30}" "$scripts/fuzz.sh"

if ((failed > 0)); then
    echo "failed steps: ${failures[*]}"
fi
echo "ffi: $passed passed, $failed failed"
((failed == 0))
