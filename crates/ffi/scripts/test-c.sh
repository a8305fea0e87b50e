#!/usr/bin/env bash
# Builds tests/c/abi_test.c against nemo_relay.h and the cdylib, then runs it
# under memory checking.
#
# Preferred: gcc -fsanitize=address,undefined with LeakSanitizer. The Rust
# library itself is not instrumented, but its allocations go through the
# system malloc, which ASan intercepts, so a library string the harness forgets
# to free, or frees with the wrong function, is reported.
# Fallback, when a probe shows sanitizers cannot run here (some sandboxes forbid
# what LSan needs): plain build under valgrind --leak-check=full.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_library

src="$FFI_DIR/tests/c/abi_test.c"
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
    echo "C harness: gcc ASan + UBSan + LSan"
    gcc "${common_flags[@]}" "${sanitize[@]}" "$src" "${link_flags[@]}" -o "$BUILD_DIR/abi_test_asan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout 300 "$BUILD_DIR/abi_test_asan"
elif command -v valgrind >/dev/null; then
    echo "C harness: sanitizers unavailable here, using valgrind"
    gcc "${common_flags[@]}" "$src" "${link_flags[@]}" -o "$BUILD_DIR/abi_test"
    timeout 600 valgrind --quiet --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        "$BUILD_DIR/abi_test"
else
    echo "C harness: neither working sanitizers nor valgrind are available" >&2
    exit 1
fi
