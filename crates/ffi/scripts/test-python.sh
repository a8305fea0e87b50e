#!/usr/bin/env bash
# Runs the Python binding's tests (crates/ffi/python) with pytest against the
# library chosen in common.sh, installing pytest first if it is missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_library

python="${PYTHON:-python3}"
if ! "$python" -m pytest --version >/dev/null 2>&1; then
    echo "installing pytest"
    "$python" -m pip install --quiet pytest
fi

cd "$FFI_DIR/python"
export NEMO_RELAY_LIB="$LIB_FILE"
# Keep the source tree clean: no bytecode, no .pytest_cache.
export PYTHONDONTWRITEBYTECODE=1
timeout 300 "$python" -m pytest -q -p no:cacheprovider
