#!/usr/bin/env bash
# Every check the project has, in one place: `npm test` runs this script and
# CI (.ci/run) runs `npm test`. Each step is a section below; add new ones
# (FFI C tests, go test, pytest, …) as sections of their own, and register any
# committed generated file in GENERATED so the drift check covers it.
#
# Environment:
#   NEMO_RELAY_BUILD_PROFILE  debug (default) or release: how the addon is
#                             built for the JS tests. Debug keeps overflow
#                             checks and debug assertions on while the JS
#                             tests drive the addon, and skips LTO.
#                             `npm run build` restores a release build.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# Files that a tool generates and that are committed. After the build step
# regenerates them they must be byte-identical to what is in git.
GENERATED=(
  binding.js
  binding.d.ts
)

section() {
  printf '\n\033[1m==> %s\033[0m\n' "$*"
}

check_generated() {
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "not a git checkout: skipping the drift check"
    return 0
  fi
  local changed
  changed=$(git status --porcelain --untracked-files=all -- "$@")
  if [[ -n $changed ]]; then
    echo "these generated files differ from the committed ones:"
    echo "$changed"
    git --no-pager diff -- "$@"
    echo
    echo "regenerate them (npm run build) and commit the result; never edit them by hand"
    return 1
  fi
  echo "up to date: $*"
}

profile=${NEMO_RELAY_BUILD_PROFILE:-debug}
case $profile in
  debug) build_script=build:debug ;;
  release) build_script=build ;;
  *)
    echo "NEMO_RELAY_BUILD_PROFILE must be debug or release, not '$profile'" >&2
    exit 2
    ;;
esac

section "Rust: formatting (cargo fmt --check)"
cargo fmt --all -- --check

section "Rust: lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

section "Rust: tests (cargo test --workspace)"
cargo test --workspace

# The dispatcher queue is the one lock-free structure everything relies on:
# stress it for longer, optimised, so races show up at real speed.
section "Rust: dispatcher queue stress (optimised, ${NEMO_RELAY_STRESS_SECS:-20} s)"
NEMO_RELAY_STRESS_SECS=${NEMO_RELAY_STRESS_SECS:-20} cargo test --profile bench -p nemo-relay-core --test queue_stress

# Benchmarks are not tests: CI only checks that they still build.
section "Rust: benchmarks build (core, observability)"
cargo bench -p nemo-relay-core -p nemo-relay-observability --no-run

# napi build always passes `--target <host triple>`, so it compiles into
# target/<triple>/ and cannot reuse what `cargo test` compiled in target/debug.
section "Node addon: build ($profile)"
npm run --silent "$build_script"

section "Generated files: no drift from git"
check_generated "${GENERATED[@]}"

section "TypeScript: typecheck (tsc --noEmit)"
npm run --silent typecheck

section "Node addon: tests (ava)"
ava

crates/ffi/scripts/test-all.sh # C ABI checks, C/Go/Python tests, golden stream, fuzz (30 s)

section "All checks passed"
