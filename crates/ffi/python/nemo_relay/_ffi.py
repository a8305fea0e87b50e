"""ctypes declarations for the C functions this binding uses, and the helpers
that apply the ABI conventions on the Python side.

Rules followed here (each one avoids a known ctypes pitfall):

* Every function used gets ``argtypes`` and ``restype``; ctypes otherwise
  assumes ``int`` and truncates pointers on 64-bit platforms.
* Strings the library *owns and the caller must free* are declared
  ``c_void_p``, not ``c_char_p``: a ``c_char_p`` result is copied into a
  Python ``bytes`` and the original pointer is lost, i.e. leaked. They are
  read with ``ctypes.string_at`` and then passed to ``nemo_relay_string_free``.
* The last error is read right after the failing call, on the same Python
  thread. Python threads are OS threads and ctypes does not move them, so the
  library's per-thread slot is the one that call wrote.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import POINTER, c_char_p, c_int32, c_size_t, c_uint32, c_void_p
from typing import Optional

from ._loader import load_library
from .errors import RelayError
from .status import Status

# The ABI this binding was written against; compared with the library's on
# load. tests/test_status.py ties it to NEMO_RELAY_ABI_VERSION in the header.
ABI_VERSION = 1

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def _declare(lib: ctypes.CDLL) -> None:
    def fn(name, restype, *argtypes):
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = list(argtypes)

    fn("nemo_relay_abi_version", c_uint32)
    fn("nemo_relay_version", c_char_p)  # static string: copying it is right
    fn("nemo_relay_status_name", c_char_p, c_int32)  # static string
    fn("nemo_relay_last_error", c_char_p)  # borrowed: copy, never free
    fn("nemo_relay_last_error_code", c_int32)
    fn("nemo_relay_last_error_copy", c_size_t, c_char_p, c_size_t)
    fn("nemo_relay_clear_last_error", None)
    fn("nemo_relay_string_new", c_void_p, c_char_p, c_size_t)  # owned
    fn("nemo_relay_string_free", None, c_void_p)
    fn("nemo_relay_json_normalize", c_int32, c_char_p, POINTER(c_void_p))
    fn("nemo_relay_debug_panic", c_int32)


def lib() -> ctypes.CDLL:
    """The loaded library, declared and ABI-checked on first use."""
    global _lib
    with _lock:
        if _lib is None:
            loaded = load_library()
            _declare(loaded)
            found = loaded.nemo_relay_abi_version()
            if found != ABI_VERSION:
                raise ImportError(
                    f"nemo-relay library has ABI version {found}, "
                    f"this binding needs {ABI_VERSION}"
                )
            _lib = loaded
        return _lib


def check(status: int) -> None:
    """Raises :class:`RelayError` for a non-OK status, with this thread's
    last-error message."""
    if status == Status.OK:
        return
    message = lib().nemo_relay_last_error()
    raise RelayError(status, message.decode("utf-8", "replace") if message else "")


def take_string(ptr: Optional[int]) -> str:
    """Copies a library-owned string into Python and frees it."""
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib().nemo_relay_string_free(ptr)


def c_string(text, arg: str) -> bytes:
    """Encodes a ``str`` (or passes ``bytes`` through) for a ``const char *``
    argument. A NUL would silently end the C string early, so it is an error."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    nul = data.find(b"\0")
    if nul >= 0:
        raise RelayError(
            Status.INVALID_ARGUMENT,
            f"argument `{arg}` contains a NUL byte at offset {nul}",
        )
    return data
