"""Python binding of the nemo-relay C ABI.

It loads the same ``libnemo_relay_ffi`` shared library that C and Go use
(see :mod:`nemo_relay._loader` for how it is found), so every language in
one process talks to one runtime.

Failures raise :class:`RelayError`, whose ``code`` is a :class:`Status`.
"""

from ._api import abi_version, normalize_json, status_name, version
from . import plugins
from ._ffi import ABI_VERSION
from .atif import AtifExporter
from .errors import RelayError
from .runtime import (
    Family,
    Next,
    Scope,
    ScopeType,
    Stack,
    Stream,
    deregister,
    flush,
    register_guard,
    register_intercept,
    register_rewrite,
    register_stream_intercept,
    register_subscriber,
    registrations,
    shutdown,
    stats,
)
from .status import Status


def _shutdown_at_exit() -> None:
    # Deliver what is queued and stop delivery while Python can still run
    # subscribers: the dispatcher thread calling into a finalizing
    # interpreter is killed there, which aborts the whole process. Atexit
    # handlers run last-registered first, so this (registered at import)
    # runs after the application's own, whose events it still delivers.
    try:
        shutdown()
    except Exception:  # noqa: BLE001 - nothing to report to at exit
        pass


import atexit as _atexit  # noqa: E402

_atexit.register(_shutdown_at_exit)

__all__ = [
    "ABI_VERSION",
    "AtifExporter",
    "Family",
    "Next",
    "RelayError",
    "Scope",
    "ScopeType",
    "Stack",
    "Status",
    "Stream",
    "deregister",
    "flush",
    "register_guard",
    "register_intercept",
    "register_rewrite",
    "register_stream_intercept",
    "register_subscriber",
    "registrations",
    "plugins",
    "shutdown",
    "stats",
    "abi_version",
    "normalize_json",
    "status_name",
    "version",
]
