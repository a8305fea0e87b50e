"""Python callables behind C callbacks.

C gets an integer token as ``user_data``; the callable lives in a table
under that token until the library calls ``free_fn`` (exactly once, possibly
on another thread), which removes it. The ``CFUNCTYPE`` trampolines are
module-level objects, so they outlive every registration.

Every trampoline catches all exceptions: ctypes would print an exception
and return 0 (which reads as "OK, no result"), silently turning a failure
into success. Instead the exception becomes a failure status plus message.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, Callable, Dict, Optional

from . import _ffi
from .errors import RelayError
from .status import Status

_table: Dict[int, Callable] = {}
_table_lock = threading.Lock()
_tokens = itertools.count(1)


def new_user_data(fn: Callable) -> int:
    """Stores ``fn`` and returns the token to pass as ``user_data``."""
    token = next(_tokens)
    with _table_lock:
        _table[token] = fn
    return token


def live_user_data() -> int:
    """How many callables are still referenced by the library."""
    with _table_lock:
        return len(_table)


def _lookup(user_data: Optional[int]) -> Callable:
    with _table_lock:
        return _table[user_data or 0]


@_ffi.FREE_FN
def _free(user_data):
    with _table_lock:
        _table.pop(user_data or 0, None)


def _message(err: BaseException) -> str:
    # The library's own error handed back (from next_, say): its message,
    # which the library wraps in its own words again.
    return err.message if isinstance(err, RelayError) and err.message else f"{type(err).__name__}: {err}"


def _fail(out, err: BaseException) -> int:
    try:
        out[0] = _ffi.lib_string(_message(err))
    except Exception:  # noqa: BLE001 - nothing else can be reported
        pass
    return _status(err)


def _status(err: BaseException) -> int:
    # The library's own error handed back (a nested call's) keeps its
    # status: the caller gets it unchanged. Anything else is INTERNAL, which
    # the library reports as CALLBACK_FAILED.
    code = err.code if isinstance(err, RelayError) else None
    return int(code) if isinstance(code, int) and code != Status.OK else Status.INTERNAL


def _text(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else raw.decode("utf-8")


@_ffi.GUARD_FN
def _guard(user_data, ctx, request, out):
    try:
        reason = _lookup(user_data)(json.loads(ctx), json.loads(request))
        if reason is not None:
            out[0] = _ffi.lib_string(str(reason))
        return Status.OK
    except BaseException as err:  # noqa: BLE001 - must not reach ctypes
        return _fail(out, err)


def guard_verdict(name: str, fn):
    """``fn`` as the guard trampoline calls it: ``None`` allows the call, a
    string rejects it. ``fn`` answers as a Node guardrail does: ``None`` or
    ``True`` allows, ``False`` or a reason string rejects, anything else
    fails the call."""

    def verdict(ctx, request):
        answer = fn(ctx, request)
        if answer is None or answer is True:
            return None
        if answer is False:
            return f"rejected by guardrail '{name}'"
        if isinstance(answer, str):
            return answer
        raise TypeError(f"conditional guardrail '{name}' must return None, a bool or a reason string, "
                        f"not {type(answer).__name__}")

    return verdict


@_ffi.REWRITE_FN
def _rewrite(user_data, ctx, value, out):
    try:
        result = _lookup(user_data)(json.loads(ctx), json.loads(value))
        if result is not None:
            out[0] = _ffi.lib_string(json.dumps(result))
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        return _fail(out, err)


@_ffi.INTERCEPT_FN
def _intercept(user_data, ctx, request, next_token, out):
    from .runtime import Next  # local import: runtime imports this module

    try:
        result = _lookup(user_data)(json.loads(ctx), json.loads(request), Next(next_token))
        out[0] = _ffi.lib_string(json.dumps(result))
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        return _fail(out, err)


_subscriber_errors = 0


def subscriber_errors() -> int:
    """Exceptions raised by subscribers (isolated, so only counted)."""
    return _subscriber_errors


@_ffi.SUBSCRIBER_FN
def _subscriber(user_data, event):
    global _subscriber_errors
    try:
        _lookup(user_data)(_text(event))
    except BaseException:  # noqa: BLE001 - a subscriber cannot report failure
        _subscriber_errors += 1  # one dispatcher thread: no lost update


@_ffi.CALL_FN
def _call(user_data, request, out):
    try:
        result = _lookup(user_data)(json.loads(request))
        out[0] = _ffi.lib_string(json.dumps(result))
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        return _fail(out, err)


@_ffi.PULL_FN
def _pull(user_data, request, index, out):
    try:
        fn = _lookup(user_data)
        chunk = fn(None if request is None else json.loads(request), index)
        if chunk is not None:
            out[0] = _ffi.lib_string(json.dumps(chunk))
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        return _fail(out, err)


@_ffi.FREE_FN
def _teardown(user_data):
    # A teardown is a free_fn that also runs the stored function.
    with _table_lock:
        fn = _table.pop(user_data or 0, None)
    if fn is not None:
        try:
            fn()
        except BaseException:  # noqa: BLE001 - runs on a library thread
            pass


@_ffi.STREAM_INTERCEPT_FN
def _stream_intercept(user_data, ctx, request, next_token, out):
    from .runtime import Next  # local import: runtime imports this module

    try:
        stream = _lookup(user_data)(json.loads(ctx), json.loads(request), Next(next_token))
        # Ownership of the stream passes to the library with the return.
        out[0] = stream.detach()
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        # This typedef has no message slot: the message goes through
        # nemo_relay_stream_intercept_set_error, on this thread.
        try:
            _ffi.lib().nemo_relay_stream_intercept_set_error(_message(err).encode("utf-8"))
        except Exception:  # noqa: BLE001 - nothing else can be reported
            pass
        return _status(err)


@_ffi.PLUGIN_VALIDATE_FN
def _plugin_validate(user_data, config, check, out):
    from .plugins import ConfigCheck  # local import: plugins imports this module

    try:
        _lookup(user_data).validate(json.loads(config), ConfigCheck(check))
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        return _fail(out, err)


@_ffi.PLUGIN_REGISTER_FN
def _plugin_register(user_data, config, ctx, out):
    from .plugins import PluginContext

    try:
        _lookup(user_data).register(json.loads(config), PluginContext(ctx))
        return Status.OK
    except BaseException as err:  # noqa: BLE001
        return _fail(out, err)


FREE = _free
TEARDOWN = _teardown
STREAM_INTERCEPT = _stream_intercept
PLUGIN_VALIDATE = _plugin_validate
PLUGIN_REGISTER = _plugin_register
GUARD = _guard
REWRITE = _rewrite
INTERCEPT = _intercept
SUBSCRIBER = _subscriber
CALL = _call
PULL = _pull
