"""The public functions. Each one converts arguments, makes one C call and
converts the result; the conventions live in :mod:`nemo_relay._ffi`."""

from __future__ import annotations

import ctypes
from typing import Union

from . import _ffi
from .errors import RelayError
from .status import Status


def abi_version() -> int:
    """ABI version of the loaded library."""
    return _ffi.lib().nemo_relay_abi_version()


def version() -> str:
    """Package version of the loaded library, e.g. ``"0.1.0"``."""
    return _ffi.lib().nemo_relay_version().decode("ascii")


def status_name(code: int) -> str:
    """Header spelling of a status code, e.g. ``NEMO_RELAY_STATUS_NOT_FOUND``."""
    name = _ffi.lib().nemo_relay_status_name(code)
    if name is None:
        raise ValueError(f"unknown status code {code}")
    return name.decode("ascii")


def normalize_json(text: Union[str, bytes]) -> str:
    """Parses ``text`` with the library's JSON parser and returns it compact.

    Raises :class:`RelayError` with ``Status.INVALID_JSON`` for malformed
    input and ``Status.INVALID_UTF8`` for bytes that are not UTF-8.
    """
    return _normalize_raw(_ffi.c_string(text, "json"))


def _normalize_raw(data) -> str:
    # `data` may be None here on purpose: tests pass NULL through this path.
    out = ctypes.c_void_p()
    _ffi.check(_ffi.lib().nemo_relay_json_normalize(data, ctypes.byref(out)))
    return _ffi.take_string(out.value)


def _debug_panic() -> None:
    """Makes the library panic internally; it must come back as
    ``RelayError(Status.PANIC)`` rather than abort the interpreter."""
    _ffi.check(_ffi.lib().nemo_relay_debug_panic())


__all__ = [
    "RelayError",
    "Status",
    "abi_version",
    "normalize_json",
    "status_name",
    "version",
]
