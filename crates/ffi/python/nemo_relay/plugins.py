"""Plugins: validate, activate and clear configuration documents, and plugin
kinds written in Python.

A document is ``{"version": 1, "components": [{"kind", "enabled",
"config"}], "policy": {...}}`` (or a ``.toml``/``.json`` file). A kind's
hooks run synchronously inside :func:`validate` / :func:`initialize`; the
:class:`ConfigCheck` and :class:`PluginContext` they get are valid only
until the hook returns (later use raises ``Status.INVALID_STATE``).
"""

from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Callable, Optional, Union

from . import _callbacks, _ffi
from .runtime import Family

Document = Union[dict, str, "os.PathLike[str]"]


def _out() -> ctypes.c_void_p:
    return ctypes.c_void_p()


def _run(function: str, doc: Document) -> Any:
    """Dict documents go as JSON; str/PathLike are file paths."""
    out = _out()
    if isinstance(doc, dict):
        arg = _ffi.c_string(json.dumps(doc), "config_json")
        _ffi.check(getattr(_ffi.lib(), function)(arg, ctypes.byref(out)))
    else:
        path = _ffi.c_string(os.fspath(doc), "path")
        _ffi.check(getattr(_ffi.lib(), function + "_file")(path, ctypes.byref(out)))
    return json.loads(_ffi.take_string(out.value))


def validate(doc: Document) -> dict:
    """``{"has_errors": bool, "diagnostics": [...]}``; changes nothing."""
    return _run("nemo_relay_plugin_validate", doc)


def initialize(doc: Document) -> dict:
    """Activates ``doc`` in place of the active configuration, atomically
    (on error nothing changes); returns the activation report."""
    return _run("nemo_relay_plugin_initialize", doc)


def clear() -> bool:
    """Removes what the active configuration installed; whether one was."""
    active = ctypes.c_bool(False)
    _ffi.check(_ffi.lib().nemo_relay_plugin_clear(ctypes.byref(active)))
    return active.value


def active_report() -> Optional[dict]:
    out = _out()
    _ffi.check(_ffi.lib().nemo_relay_plugin_active_report(ctypes.byref(out)))
    return json.loads(_ffi.take_string(out.value))


def kinds() -> list:
    """``[{"kind", "description"}]`` of every registered kind."""
    out = _out()
    _ffi.check(_ffi.lib().nemo_relay_plugin_kinds(ctypes.byref(out)))
    return json.loads(_ffi.take_string(out.value))


class ConfigCheck:
    """Where a validate hook reports findings; fields are relative to the
    component's ``config`` (``""``: the config itself)."""

    def __init__(self, token: Optional[int]) -> None:
        self._token = token

    def error(self, field: str, code: str, message: str) -> None:
        _ffi.check(_ffi.lib().nemo_relay_config_check_error(
            self._token, _ffi.c_string(field, "field"), _ffi.c_string(code, "code"),
            _ffi.c_string(message, "message")))

    def warn(self, field: str, code: str, message: str) -> None:
        _ffi.check(_ffi.lib().nemo_relay_config_check_warn(
            self._token, _ffi.c_string(field, "field"), _ffi.c_string(code, "code"),
            _ffi.c_string(message, "message")))

    def unsupported(self, field: str, message: str) -> None:
        """Level from the document's ``policy.unsupported_value``."""
        _ffi.check(_ffi.lib().nemo_relay_config_check_unsupported(
            self._token, _ffi.c_string(field, "field"), _ffi.c_string(message, "message")))

    def known_fields(self, path: str, known: list) -> None:
        """Level from the document's ``policy.unknown_field``."""
        _ffi.check(_ffi.lib().nemo_relay_config_check_known_fields(
            self._token, _ffi.c_string(path, "path"), _ffi.c_string(json.dumps(list(known)), "known_json")))


class PluginContext:
    """Where a register hook installs a component's behaviour. Names are
    local; the runtime sees ``"<kind>#<n>/<name>"``."""

    def __init__(self, token: Optional[int]) -> None:
        self._token = token

    def _register(self, function: str, trampoline, fn, *args) -> None:
        token = _callbacks.new_user_data(fn)  # the library releases it, even on failure
        _ffi.check(getattr(_ffi.lib(), function)(self._token, *args, trampoline, token, _callbacks.FREE))

    def register_guard(self, family: Family, name: str, fn, priority: int = 0) -> None:
        self._register("nemo_relay_plugin_context_register_guard", _callbacks.GUARD,
                       _callbacks.guard_verdict(name, fn),
                       _ffi.int32(family, "family"), _ffi.c_string(name, "name"), _ffi.int32(priority, "priority"))

    def register_rewrite(self, family: Family, name: str, fn, priority: int = 0, break_chain: bool = False) -> None:
        self._register("nemo_relay_plugin_context_register_rewrite", _callbacks.REWRITE, fn,
                       _ffi.int32(family, "family"), _ffi.c_string(name, "name"), _ffi.int32(priority, "priority"), break_chain)

    def register_intercept(self, family: Family, name: str, fn, priority: int = 0) -> None:
        self._register("nemo_relay_plugin_context_register_intercept", _callbacks.INTERCEPT, fn,
                       _ffi.int32(family, "family"), _ffi.c_string(name, "name"), _ffi.int32(priority, "priority"))

    def register_stream_intercept(self, name: str, fn, priority: int = 0) -> None:
        self._register("nemo_relay_plugin_context_register_stream_intercept", _callbacks.STREAM_INTERCEPT, fn,
                       _ffi.c_string(name, "name"), _ffi.int32(priority, "priority"))

    def register_subscriber(self, name: str, fn: Callable[[str], None], priority: int = 0) -> None:
        self._register("nemo_relay_plugin_context_register_subscriber", _callbacks.SUBSCRIBER, fn,
                       _ffi.c_string(name, "name"), _ffi.int32(priority, "priority"))

    def on_teardown(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` once when the activation ends (possibly on another thread)."""
        token = _callbacks.new_user_data(fn)
        _ffi.check(_ffi.lib().nemo_relay_plugin_context_on_teardown(self._token, token, _callbacks.TEARDOWN))

    def qualify(self, name: str) -> str:
        out = _out()
        _ffi.check(_ffi.lib().nemo_relay_plugin_context_qualify(
            self._token, _ffi.c_string(name, "local"), ctypes.byref(out)))
        return _ffi.take_string(out.value)


class PluginKind:
    """Subclass and override :meth:`register` (and :meth:`validate`), then
    pass an instance to :func:`register_kind`."""

    kind = ""
    description = ""
    allows_multiple = True

    def validate(self, config: dict, check: ConfigCheck) -> None:
        """Report problems through ``check``; raising is a validator failure."""

    def register(self, config: dict, ctx: PluginContext) -> None:
        raise NotImplementedError


def register_kind(kind: PluginKind) -> None:
    options = {"description": kind.description, "allows_multiple": kind.allows_multiple}
    token = _callbacks.new_user_data(kind)
    _ffi.check(_ffi.lib().nemo_relay_plugin_register_kind(
        _ffi.c_string(kind.kind, "kind"), _ffi.c_string(json.dumps(options), "options_json"),
        _callbacks.PLUGIN_VALIDATE, _callbacks.PLUGIN_REGISTER, token, _callbacks.FREE))


def deregister_kind(kind: str) -> bool:
    removed = ctypes.c_bool(False)
    _ffi.check(_ffi.lib().nemo_relay_plugin_deregister_kind(_ffi.c_string(kind, "kind"), ctypes.byref(removed)))
    return removed.value
