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
from ctypes import CFUNCTYPE, POINTER, c_bool, c_char_p, c_int32, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Optional

from ._loader import load_library
from .errors import RelayError
from .status import Status

# The ABI this binding was written against; compared with the library's on
# load. tests/test_status.py ties it to NEMO_RELAY_ABI_VERSION in the header.
ABI_VERSION = 1

# Callback types, as in nemo_relay.h. `char **out` is POINTER(c_void_p): the
# callback stores a pointer from nemo_relay_string_new there, never a Python
# buffer. `const char *` inputs arrive as c_char_p (copied to bytes).
FREE_FN = CFUNCTYPE(None, c_void_p)
GUARD_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, c_char_p, POINTER(c_void_p))
REWRITE_FN = GUARD_FN
INTERCEPT_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, c_char_p, c_void_p, POINTER(c_void_p))
SUBSCRIBER_FN = CFUNCTYPE(None, c_void_p, c_char_p)
CALL_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, POINTER(c_void_p))
PULL_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, c_uint64, POINTER(c_void_p))
STREAM_INTERCEPT_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, c_char_p, c_void_p, POINTER(c_void_p))
# Plugin hooks: (user_data, config_json, lent check/context handle, char **out_error).
PLUGIN_VALIDATE_FN = CFUNCTYPE(c_int32, c_void_p, c_char_p, c_void_p, POINTER(c_void_p))
PLUGIN_REGISTER_FN = PLUGIN_VALIDATE_FN

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

    # The surface. Opaque handles are c_void_p; `char **out` is
    # POINTER(c_void_p) so owned strings keep their address (see above).
    out = POINTER(c_void_p)
    vp = c_void_p
    fn("nemo_relay_stack_new", c_int32, out)
    fn("nemo_relay_stack_current", c_int32, out)
    fn("nemo_relay_stack_top", c_int32, vp, out)
    fn("nemo_relay_stack_free", None, vp)
    fn("nemo_relay_scope_push", c_int32, vp, c_char_p, c_int32, c_char_p, out)
    fn("nemo_relay_scope_pop", c_int32, vp, vp, c_char_p)
    fn("nemo_relay_scope_uuid", c_int32, vp, out)
    fn("nemo_relay_scope_json", c_int32, vp, out)
    fn("nemo_relay_scope_free", None, vp)
    fn("nemo_relay_mark", c_int32, vp, c_char_p, c_char_p)
    fn("nemo_relay_tool_start", c_int32, vp, c_char_p, c_char_p, c_char_p, out)
    fn("nemo_relay_tool_end", c_int32, vp, vp, c_char_p, c_char_p)
    fn("nemo_relay_tool_free", None, vp)
    fn("nemo_relay_tool_execute", c_int32, vp, c_char_p, c_char_p, c_char_p, CALL_FN, vp, FREE_FN, out)
    fn("nemo_relay_llm_execute", c_int32, vp, c_char_p, c_char_p, c_char_p, CALL_FN, vp, FREE_FN, out)
    fn("nemo_relay_llm_stream_execute", c_int32, vp, c_char_p, c_char_p, c_char_p, PULL_FN, vp,
       FREE_FN, out)
    fn("nemo_relay_stream_next", c_int32, vp, out)
    fn("nemo_relay_stream_close", c_int32, vp)
    fn("nemo_relay_stream_free", None, vp)
    fn("nemo_relay_register_guard", c_int32, c_int32, c_char_p, c_int32, vp, vp, GUARD_FN, vp, FREE_FN)
    fn("nemo_relay_register_rewrite", c_int32, c_int32, c_char_p, c_int32, c_bool, vp, vp, REWRITE_FN,
       vp, FREE_FN)
    fn("nemo_relay_register_intercept", c_int32, c_int32, c_char_p, c_int32, vp, vp, INTERCEPT_FN, vp,
       FREE_FN)
    fn("nemo_relay_register_subscriber", c_int32, c_char_p, c_int32, vp, vp, SUBSCRIBER_FN, vp, FREE_FN)
    fn("nemo_relay_deregister", c_int32, c_int32, c_char_p, vp, vp, POINTER(c_bool))
    fn("nemo_relay_next_run", c_int32, vp, c_char_p, out)
    fn("nemo_relay_flush", c_int32)
    fn("nemo_relay_flush_timeout", c_int32, c_uint32)
    fn("nemo_relay_shutdown", c_int32)
    fn("nemo_relay_registrations", c_int32, c_int32, out)
    fn("nemo_relay_stats", c_int32, out)
    fn("nemo_relay_tool_fail", c_int32, vp, vp, c_char_p, c_char_p)
    fn("nemo_relay_tool_uuid", c_int32, vp, out)
    fn("nemo_relay_llm_start", c_int32, vp, c_char_p, c_char_p, c_char_p, out)
    fn("nemo_relay_llm_end", c_int32, vp, vp, c_char_p, c_char_p)
    fn("nemo_relay_llm_fail", c_int32, vp, vp, c_char_p, c_char_p)
    fn("nemo_relay_llm_uuid", c_int32, vp, out)
    fn("nemo_relay_llm_free", None, vp)
    fn("nemo_relay_register_stream_intercept", c_int32, c_char_p, c_int32, vp, vp, STREAM_INTERCEPT_FN, vp,
       FREE_FN)
    fn("nemo_relay_stream_intercept_set_error", c_int32, c_char_p)
    fn("nemo_relay_next_run_stream", c_int32, vp, c_char_p, out)
    fn("nemo_relay_stream_new", c_int32, PULL_FN, vp, FREE_FN, out)

    # Plugins.
    fn("nemo_relay_plugin_validate", c_int32, c_char_p, out)
    fn("nemo_relay_plugin_validate_file", c_int32, c_char_p, out)
    fn("nemo_relay_plugin_initialize", c_int32, c_char_p, out)
    fn("nemo_relay_plugin_initialize_file", c_int32, c_char_p, out)
    fn("nemo_relay_plugin_clear", c_int32, POINTER(c_bool))
    fn("nemo_relay_plugin_active_report", c_int32, out)
    fn("nemo_relay_plugin_kinds", c_int32, out)
    fn("nemo_relay_plugin_register_kind", c_int32, c_char_p, c_char_p, PLUGIN_VALIDATE_FN, PLUGIN_REGISTER_FN,
       vp, FREE_FN)
    fn("nemo_relay_plugin_deregister_kind", c_int32, c_char_p, POINTER(c_bool))
    fn("nemo_relay_config_check_error", c_int32, vp, c_char_p, c_char_p, c_char_p)
    fn("nemo_relay_config_check_warn", c_int32, vp, c_char_p, c_char_p, c_char_p)
    fn("nemo_relay_config_check_unsupported", c_int32, vp, c_char_p, c_char_p)
    fn("nemo_relay_config_check_known_fields", c_int32, vp, c_char_p, c_char_p)
    fn("nemo_relay_plugin_context_register_guard", c_int32, vp, c_int32, c_char_p, c_int32, GUARD_FN, vp,
       FREE_FN)
    fn("nemo_relay_plugin_context_register_rewrite", c_int32, vp, c_int32, c_char_p, c_int32, c_bool,
       REWRITE_FN, vp, FREE_FN)
    fn("nemo_relay_plugin_context_register_intercept", c_int32, vp, c_int32, c_char_p, c_int32, INTERCEPT_FN,
       vp, FREE_FN)
    fn("nemo_relay_plugin_context_register_stream_intercept", c_int32, vp, c_char_p, c_int32,
       STREAM_INTERCEPT_FN, vp, FREE_FN)
    fn("nemo_relay_plugin_context_register_subscriber", c_int32, vp, c_char_p, c_int32, SUBSCRIBER_FN, vp,
       FREE_FN)
    fn("nemo_relay_plugin_context_on_teardown", c_int32, vp, vp, FREE_FN)
    fn("nemo_relay_plugin_context_qualify", c_int32, vp, c_char_p, out)

    # ATIF exporter.
    fn("nemo_relay_atif_exporter_create", c_int32, c_char_p, out)
    fn("nemo_relay_atif_exporter_register", c_int32, vp, c_char_p)
    fn("nemo_relay_atif_exporter_export", c_int32, vp, out)
    fn("nemo_relay_atif_exporter_clear", c_int32, vp)
    fn("nemo_relay_atif_exporter_flush", c_int32, vp)
    fn("nemo_relay_atif_exporter_free", None, vp)


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


def lib_string(text: str) -> int:
    """A library-allocated copy of ``text``: what callbacks return through
    their ``char **out`` (the library frees it)."""
    data = text.encode("utf-8")
    ptr = lib().nemo_relay_string_new(data, len(data))
    if not ptr:
        raise MemoryError("nemo_relay_string_new failed")
    return ptr


def int32(value, arg: str) -> int:
    """``value`` for an ``int32_t`` argument: ctypes would wrap one out of
    range (2**32 becoming 0) or fail with its own error type."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise RelayError(Status.INVALID_ARGUMENT, f"argument `{arg}` must be an integer in the int32 range, not {value!r}")
    return int(value)


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
