#!/usr/bin/env bash
# Builds the C test programs in tests/c against nemo_relay.h and the cdylib,
# then runs them under memory checking:
#
#   abi_test.c          conventions (status, last error, strings, panics)
#   surface_test.c      scopes, calls, middleware, streams, error paths
#   reentrancy_test.c   callbacks calling back into the library, threads
#   plugin_test.c       a plugin kind written in C, end to end; built-in kinds
#   atif_test.c         the ATIF exporter over a scripted agent run
#   golden_agent_run.c  the scripted run of tests/golden, compared with
#                       tests/golden/agent_run.jsonl by normalize.py
#
# Preferred: gcc -fsanitize=address,undefined with LeakSanitizer. The Rust
# library itself is not instrumented, but its allocations go through the
# system malloc, which ASan intercepts, so a library string the harness forgets
# to free, or frees with the wrong function, is reported.
# Fallback, when a probe shows sanitizers cannot run here (some sandboxes forbid
# what LSan needs): plain build under valgrind --leak-check=full.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_library

programs=(abi_test surface_test reentrancy_test plugin_test atif_test golden_agent_run)
common_flags=(-std=c11 -Wall -Wextra -Werror -g -O1 -I"$INCLUDE_DIR")
link_flags=(-L"$LIB_DIR" -lnemo_relay_ffi -Wl,-rpath,"$LIB_DIR" -lpthread)
sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

sanitizers_work() {
    local probe="$BUILD_DIR/asan_probe"
    printf '#include <stdlib.h>\nint main(void){void *p = malloc(1); free(p); return 0;}\n' \
        > "$probe.c"
    gcc "${sanitize[@]}" "$probe.c" -o "$probe" 2>/dev/null \
        && ASAN_OPTIONS=detect_leaks=1 "$probe" >/dev/null 2>&1
}

if [[ "${NEMO_RELAY_C_CHECKER:-auto}" != "valgrind" ]] && sanitizers_work; then
    echo "C tests: gcc ASan + UBSan + LSan"
    build_flags=("${sanitize[@]}")
    runner=(env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 timeout 300)
elif command -v valgrind >/dev/null; then
    echo "C tests: sanitizers unavailable here, using valgrind"
    build_flags=()
    runner=(timeout 600 valgrind --quiet --error-exitcode=1 --leak-check=full
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
else
    echo "C tests: neither working sanitizers nor valgrind are available" >&2
    exit 1
fi

for program in "${programs[@]}"; do
    gcc "${common_flags[@]}" "${build_flags[@]}" "$FFI_DIR/tests/c/$program.c" "${link_flags[@]}" \
        -o "$BUILD_DIR/$program"
done

for program in abi_test surface_test reentrancy_test plugin_test atif_test; do
    echo "--- $program"
    "${runner[@]}" "$BUILD_DIR/$program"
done

echo "--- golden_agent_run"
raw="$BUILD_DIR/golden_agent_run.c.jsonl"
"${runner[@]}" "$BUILD_DIR/golden_agent_run" > "$raw"
python3 "$REPO_ROOT/tests/golden/normalize.py" --check "$REPO_ROOT/tests/golden/agent_run.jsonl" < "$raw"
