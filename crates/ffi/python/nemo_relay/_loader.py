"""Finding and loading ``libnemo_relay_ffi``.

Lookup order, first hit wins:

1. ``NEMO_RELAY_LIB``: full path to the shared library file.
2. The cargo target directory: ``CARGO_TARGET_DIR`` if set, else ``target/``
   at the root of the repository this package sits in, then the profile
   subdirectory named by ``NEMO_RELAY_PROFILE`` (default ``debug``).

There is deliberately no "newest of debug and release" guessing: a stale
release build silently shadowing a fresh debug build is a classic source of
confusing test results. Choose the profile explicitly.

The library is loaded with ``ctypes.CDLL``, never ``PyDLL``: ``CDLL`` releases
the GIL for the duration of each call, which the library's background threads
need in order to run Python callbacks without deadlocking.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Mapping, Optional

# crates/ffi/python/nemo_relay/_loader.py -> repository root is 4 levels up.
_REPO_ROOT = Path(__file__).resolve().parents[4]


def library_file_name() -> str:
    """Platform-specific file name cargo gives the cdylib."""
    if sys.platform == "darwin":
        return "libnemo_relay_ffi.dylib"
    if sys.platform == "win32":
        return "nemo_relay_ffi.dll"
    return "libnemo_relay_ffi.so"


def find_library(env: Optional[Mapping[str, str]] = None) -> Path:
    """Returns the path of the library to load, per the module docs.

    Raises ``FileNotFoundError`` naming every place that was tried.
    """
    env = os.environ if env is None else env
    explicit = env.get("NEMO_RELAY_LIB")
    if explicit:
        path = Path(explicit)
        if path.is_file():
            return path
        raise FileNotFoundError(f"NEMO_RELAY_LIB={explicit} does not name a file")

    target_dir = Path(env.get("CARGO_TARGET_DIR") or _REPO_ROOT / "target")
    profile = env.get("NEMO_RELAY_PROFILE") or "debug"
    candidate = target_dir / profile / library_file_name()
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(
        f"nemo-relay library not found at {candidate}; build it with "
        "`cargo build -p nemo-relay-ffi` or set NEMO_RELAY_LIB to its path"
    )


def load_library(env: Optional[Mapping[str, str]] = None) -> ctypes.CDLL:
    """Loads the library found by :func:`find_library`."""
    return ctypes.CDLL(str(find_library(env)))
