"""The runtime surface: stacks, scopes, calls, streams, middleware.

Values cross as JSON: arguments, results, requests and options are plain
Python values (``dict``, ``list``, ``str``, numbers, ``None``) that this
module encodes and decodes. Callbacks receive decoded values too.

Callback shapes (all synchronous; exceptions become failures):

* guard ``(ctx, request) -> reason | None``: a string rejects the call.
* rewrite ``(ctx, value) -> new_value | None``: ``None`` keeps ``value``.
* intercept ``(ctx, request, next) -> result``: call ``next(request)``.
* subscriber ``(event_json: str) -> None``: on the dispatcher thread.
* tool / provider ``(request) -> result``.
* pull ``(request, index) -> chunk | None``: ``None`` ends the stream.

``ctx`` is ``{"kind", "name", "uuid", "parent_uuid", "tool_call_id",
"model_name"}``.
"""

from __future__ import annotations

import ctypes
import enum
import json
import threading
from typing import Any, Callable, Iterator, Optional

from . import _callbacks, _ffi
from .errors import RelayError
from .status import Status


class Family(enum.IntEnum):
    """``NEMO_RELAY_FAMILY_*``: which registry a callback joins."""

    TOOL_CONDITIONAL_EXECUTION = 0
    TOOL_REQUEST_INTERCEPT = 1
    TOOL_SANITIZE_REQUEST = 2
    TOOL_SANITIZE_RESPONSE = 3
    TOOL_EXECUTION_INTERCEPT = 4
    LLM_CONDITIONAL_EXECUTION = 5
    LLM_REQUEST_INTERCEPT = 6
    LLM_SANITIZE_REQUEST = 7
    LLM_SANITIZE_RESPONSE = 8
    LLM_EXECUTION_INTERCEPT = 9
    LLM_STREAM_EXECUTION_INTERCEPT = 10
    SUBSCRIBER = 11


class ScopeType(enum.IntEnum):
    """``NEMO_RELAY_SCOPE_TYPE_*``."""

    AGENT = 0
    FUNCTION = 1
    TOOL = 2
    LLM = 3
    RETRIEVER = 4
    EMBEDDER = 5
    RERANKER = 6
    GUARDRAIL = 7
    EVALUATOR = 8
    CUSTOM = 9
    UNKNOWN = 10


def _lib():
    return _ffi.lib()


def _enc(value: Any, arg: str) -> bytes:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as err:
        raise RelayError(Status.INVALID_ARGUMENT, f"argument `{arg}` is not JSON: {err}") from None
    return _ffi.c_string(text, arg)


def _opts(options: Optional[dict]) -> Optional[bytes]:
    return None if options is None else _enc(options, "options_json")


def _out() -> ctypes.c_void_p:
    return ctypes.c_void_p()


def _take_json(out: ctypes.c_void_p) -> Any:
    return json.loads(_ffi.take_string(out.value))


class _Handle:
    """An owned library handle, released once by ``close`` (or GC)."""

    _free_name = ""

    def __init__(self, ptr: int) -> None:
        self._ptr: Optional[int] = ptr

    def close(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            getattr(_lib(), self._free_name)(ptr)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def ptr(self) -> int:
        if not self._ptr:
            raise RelayError(Status.INVALID_STATE, f"{type(self).__name__} is closed")
        return self._ptr


class Scope(_Handle):
    """An open (or closed) scope; ``uuid`` is the id its events carry."""

    _free_name = "nemo_relay_scope_free"

    def __init__(self, ptr: int) -> None:
        super().__init__(ptr)
        out = _out()
        _ffi.check(_lib().nemo_relay_scope_uuid(ptr, ctypes.byref(out)))
        self.uuid = _ffi.take_string(out.value)


class Next:
    """Continues an execution chain; valid only during its intercept."""

    def __init__(self, token: Optional[int]) -> None:
        self._token = token

    def __call__(self, request: Any) -> Any:
        out = _out()
        _ffi.check(_lib().nemo_relay_next_run(self._token, _enc(request, "request"), ctypes.byref(out)))
        return _take_json(out)

    def stream(self, request: Any) -> "Stream":
        """Runs the rest of a streaming chain; for stream intercepts."""
        out = _out()
        _ffi.check(_lib().nemo_relay_next_run_stream(self._token, _enc(request, "request"), ctypes.byref(out)))
        return Stream(out.value)


class Stream(_Handle):
    """The caller's side of a streaming LLM call; iterate it for chunks.

    ``close`` may be called from another thread while one is in ``next``
    (to stop a stream being read): it waits for the pull in progress (that
    ``next`` returns what the provider gives), then finishes the stream:
    every later ``next`` returns the end, and the handle is released once no
    thread uses it. A provider that never returns cannot be stopped this
    way; give it a timeout of its own."""

    _free_name = "nemo_relay_stream_free"

    def __init__(self, ptr: int) -> None:
        super().__init__(ptr)
        self._lock = threading.Lock()
        self._users = 0  # threads in next() or close() with the handle
        self._closed = False

    @classmethod
    def new(cls, pull: Callable[[Any, int], Any]) -> "Stream":
        """A stream whose chunks come from ``pull(None, index)`` (``None``
        ends it); e.g. what a stream intercept returns."""
        out = _out()
        token = _callbacks.new_user_data(pull)
        _ffi.check(_lib().nemo_relay_stream_new(_callbacks.PULL, token, _callbacks.FREE, ctypes.byref(out)))
        return cls(out.value)

    def detach(self) -> int:
        """Gives up ownership of the handle (the library takes it); not
        while another thread reads it or after ``close``."""
        with self._lock:
            if self._users or self._closed:
                raise RelayError(Status.INVALID_STATE, "Stream is being read or closed")
            ptr = self.ptr
            self._ptr = None
            return ptr

    def _use(self) -> Optional[int]:
        with self._lock:
            if self._closed or not self._ptr:
                return None
            self._users += 1
            return self._ptr

    def _done(self) -> None:
        with self._lock:
            self._users -= 1
            ptr = self._ptr if self._closed and self._users == 0 else None
            if ptr:
                self._ptr = None
        if ptr:
            _lib().nemo_relay_stream_free(ptr)

    def close(self) -> None:
        with self._lock:
            if self._closed or not self._ptr:
                return
            self._closed = True
            self._users += 1
            ptr = self._ptr
        try:
            # Thread-safe, unlike freeing: it waits for a next() in progress.
            _lib().nemo_relay_stream_close(ptr)
        finally:
            self._done()

    def next(self) -> Any:
        """The next chunk; raises ``StopIteration`` at the end."""
        ptr = self._use()
        if ptr is None:
            raise StopIteration
        out = _out()
        try:
            _ffi.check(_lib().nemo_relay_stream_next(ptr, ctypes.byref(out)))
        finally:
            self._done()
        if not out.value:
            raise StopIteration
        return _take_json(out)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return self.next()


class Stack(_Handle):
    """A scope stack. Create one per task and call its methods; threads
    that share a ``Stack`` share its scopes."""

    _free_name = "nemo_relay_stack_free"

    def __init__(self) -> None:
        out = _out()
        _ffi.check(_lib().nemo_relay_stack_new(ctypes.byref(out)))
        super().__init__(out.value)

    @classmethod
    def current(cls) -> "Stack":
        """A handle on the calling thread's current stack. Inside a library
        callback (a tool, an intercept) that is the call being executed, so
        work done on it nests under the call."""
        out = _out()
        _ffi.check(_lib().nemo_relay_stack_current(ctypes.byref(out)))
        stack = cls.__new__(cls)
        _Handle.__init__(stack, out.value)
        return stack

    def push(self, name: str, scope_type: int = ScopeType.AGENT, options: Optional[dict] = None) -> Scope:
        out = _out()
        _ffi.check(_lib().nemo_relay_scope_push(
            self.ptr, _ffi.c_string(name, "name"), _ffi.int32(scope_type, "scope_type"), _opts(options),
            ctypes.byref(out)))
        return Scope(out.value)

    def pop(self, scope: Scope, options: Optional[dict] = None) -> None:
        _ffi.check(_lib().nemo_relay_scope_pop(self.ptr, scope.ptr, _opts(options)))

    def mark(self, name: str, options: Optional[dict] = None) -> None:
        _ffi.check(_lib().nemo_relay_mark(self.ptr, _ffi.c_string(name, "name"), _opts(options)))

    def tool_call(self, name: str, args: Any, fn: Callable[[Any], Any], options: Optional[dict] = None) -> Any:
        """Runs tool ``fn`` through the pipeline and returns its result."""
        return self._execute(_lib().nemo_relay_tool_execute, name, args, fn, options)

    def llm_call(self, name: str, request: dict, fn: Callable[[Any], Any], options: Optional[dict] = None) -> Any:
        """Runs provider ``fn`` for ``request`` (``{"headers", "content"}``)."""
        return self._execute(_lib().nemo_relay_llm_execute, name, request, fn, options)

    def llm_stream(self, name: str, request: dict, pull: Callable[[Any, int], Any],
                   options: Optional[dict] = None) -> Stream:
        out = _out()
        args = (self.ptr, _ffi.c_string(name, "name"), _enc(request, "request"), _opts(options))
        token = _callbacks.new_user_data(pull)  # the library releases it, even on failure
        _ffi.check(_lib().nemo_relay_llm_stream_execute(*args, _callbacks.PULL, token, _callbacks.FREE,
                                                        ctypes.byref(out)))
        return Stream(out.value)

    def start_tool(self, name: str, args: Any, options: Optional[dict] = None):
        """Emits the start event of a tool call the caller runs itself."""
        from .manual import start  # local import: manual imports this module

        return start(self, "tool", name, args, options)

    def start_llm(self, name: str, request: dict, options: Optional[dict] = None):
        """Emits the start event of an LLM call the caller makes itself."""
        from .manual import start

        return start(self, "llm", name, request, options)

    def _execute(self, function, name, request, fn, options) -> Any:
        out = _out()
        # Arguments first: one that does not convert must fail before the
        # token exists. From the call on, the library releases the token
        # (free_fn) once the call is over, also when it fails.
        args = (self.ptr, _ffi.c_string(name, "name"), _enc(request, "request"), _opts(options))
        token = _callbacks.new_user_data(fn)
        _ffi.check(function(*args, _callbacks.CALL, token, _callbacks.FREE, ctypes.byref(out)))
        return _take_json(out)


def _ptr(handle: Optional[_Handle]) -> Optional[int]:
    return handle.ptr if handle is not None else None


def _register(function: str, fn, trampoline, *args) -> None:
    """``function(*args, trampoline, token, free)`` with a new token for
    ``fn``: the arguments are converted before the token exists, and the
    library releases it from the call on, even if registering fails."""
    token = _callbacks.new_user_data(fn)
    _ffi.check(getattr(_lib(), function)(*args, trampoline, token, _callbacks.FREE))


def _scoped(name: str, priority: int, owner: Optional[Scope], stack: Optional[Stack]) -> tuple:
    return (_ffi.c_string(name, "name"), _ffi.int32(priority, "priority"), _ptr(owner), _ptr(stack))


def register_guard(family: Family, name: str, fn, priority: int = 0,
                   owner: Optional[Scope] = None, stack: Optional[Stack] = None) -> None:
    """A conditional-execution guardrail (``TOOL_``/``LLM_CONDITIONAL_EXECUTION``).
    ``fn(ctx, request)`` returns ``None`` or ``True`` to allow the call,
    ``False`` or a reason string to reject it (as in the Node binding);
    anything else fails the call. The library owns ``fn`` from here on,
    even if registering fails."""
    _register("nemo_relay_register_guard", _callbacks.guard_verdict(name, fn), _callbacks.GUARD,
              _ffi.int32(family, "family"), *_scoped(name, priority, owner, stack))


def register_rewrite(family: Family, name: str, fn, priority: int = 0, break_chain: bool = False,
                     owner: Optional[Scope] = None, stack: Optional[Stack] = None) -> None:
    """A request intercept or sanitize guardrail."""
    n, p, o, st = _scoped(name, priority, owner, stack)
    _register("nemo_relay_register_rewrite", fn, _callbacks.REWRITE,
              _ffi.int32(family, "family"), n, p, bool(break_chain), o, st)


def register_intercept(family: Family, name: str, fn, priority: int = 0,
                       owner: Optional[Scope] = None, stack: Optional[Stack] = None) -> None:
    """An execution intercept (``TOOL_``/``LLM_EXECUTION_INTERCEPT``)."""
    _register("nemo_relay_register_intercept", fn, _callbacks.INTERCEPT,
              _ffi.int32(family, "family"), *_scoped(name, priority, owner, stack))


def register_subscriber(name: str, fn: Callable[[str], None], priority: int = 0,
                        owner: Optional[Scope] = None, stack: Optional[Stack] = None) -> None:
    """An event subscriber; ``fn`` gets each event's canonical JSON text."""
    _register("nemo_relay_register_subscriber", fn, _callbacks.SUBSCRIBER, *_scoped(name, priority, owner, stack))


def register_stream_intercept(name: str, fn, priority: int = 0,
                               owner: Optional[Scope] = None, stack: Optional[Stack] = None) -> None:
    """An LLM stream execution intercept: ``fn(ctx, request, next) -> Stream``
    (``next.stream(request)``, or a ``Stream.new`` reading from it)."""
    _register("nemo_relay_register_stream_intercept", fn, _callbacks.STREAM_INTERCEPT,
              *_scoped(name, priority, owner, stack))


def deregister(family: Family, name: str, owner: Optional[Scope] = None, stack: Optional[Stack] = None) -> bool:
    """Removes a registration; returns whether it existed."""
    removed = ctypes.c_bool(False)
    _ffi.check(_lib().nemo_relay_deregister(int(family), _ffi.c_string(name, "name"),
                                            _ptr(owner), _ptr(stack), ctypes.byref(removed)))
    return removed.value


def flush(timeout_ms: Optional[int] = None) -> None:
    """Waits until every event emitted so far was delivered."""
    if timeout_ms is None:
        _ffi.check(_lib().nemo_relay_flush())
        return
    # ctypes would wrap a value outside uint32 silently (2**32 to 0, -1 to
    # ~49 days).
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not 0 <= timeout_ms <= 0xFFFF_FFFF:
        raise ValueError(f"timeout_ms must be an integer from 0 to 4294967295, not {timeout_ms!r}")
    _ffi.check(_lib().nemo_relay_flush_timeout(timeout_ms))


def shutdown() -> None:
    """Delivers queued events and stops delivery for good (call once, at exit)."""
    _ffi.check(_lib().nemo_relay_shutdown())


def stats() -> dict:
    """The runtime's counters (``delivered``, ``dropped_full``, ``queued``, ...),
    and ``subscriber_errors``: exceptions of Python subscribers, which are
    isolated and counted here (as Node's ``subscriberErrors``)."""
    out = _out()
    _ffi.check(_lib().nemo_relay_stats(ctypes.byref(out)))
    return {**_take_json(out), "subscriber_errors": _callbacks.subscriber_errors()}


def registrations(family: Family) -> list:
    """Names of the global registrations of ``family``, in run order."""
    out = _out()
    _ffi.check(_lib().nemo_relay_registrations(int(family), ctypes.byref(out)))
    return _take_json(out)
