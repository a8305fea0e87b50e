#!/usr/bin/env bash
# Fuzzes the JSON-taking entry points with libFuzzer (fuzz/fuzz_json.c) for a
# bounded time, under ASan + UBSan + LeakSanitizer.
#
# Why a C libFuzzer harness instead of cargo-fuzz: cargo-fuzz needs a nightly
# toolchain (-Zsanitizer), which is not available here; a C harness fuzzes the
# real boundary (the exported functions, as C calls them) with clang's
# libFuzzer against the cdylib, on stable Rust.
#
#   FUZZ_SECONDS   run time (default 30; CI keeps it <= 60)
#
# Installs clang with apt-get when it is missing (needs root). Crashing
# inputs are written to $BUILD_DIR/fuzz-artifacts; copy one into
# fuzz/regressions/ to have it replayed on every run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_library

seconds="${FUZZ_SECONDS:-30}"
if ! command -v clang >/dev/null; then
    echo "installing clang (libFuzzer)"
    if [[ $(id -u) -ne 0 ]]; then
        echo "clang is missing and this is not root; install clang to fuzz" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
fi

fuzz_dir="$FFI_DIR/fuzz"
binary="$BUILD_DIR/fuzz_json"
work_corpus="$BUILD_DIR/fuzz-corpus"
artifacts="$BUILD_DIR/fuzz-artifacts"
mkdir -p "$work_corpus" "$artifacts"

clang -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -I"$INCLUDE_DIR" "$fuzz_dir/fuzz_json.c" \
    -L"$LIB_DIR" -lnemo_relay_ffi -Wl,-rpath,"$LIB_DIR" -o "$binary"

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Saved crashers first: each must now pass.
if compgen -G "$fuzz_dir/regressions/*" >/dev/null; then
    "$binary" -runs=0 "$fuzz_dir"/regressions/*
fi

log="$BUILD_DIR/fuzz.log"
status=0
timeout $((seconds + 60)) "$binary" \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -dict="$fuzz_dir/json.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$work_corpus" "$fuzz_dir/corpus" > "$log" 2>&1 || status=$?
# libFuzzer's progress lines are noise in CI; show the summary, or the whole
# report when it found something.
if ((status != 0)); then
    cat "$log"
    echo "fuzzing FAILED (exit $status); crashing input in $artifacts" >&2
    exit "$status"
fi
grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::(number_of_executed_units|peak_rss_mb))' "$log" || true
echo "fuzzing ok: ${seconds}s without a crash, leak or failed oracle"
