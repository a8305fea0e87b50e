"""Manually reported tool and LLM calls: the application runs the tool or
calls the provider itself and reports start and end."""

from __future__ import annotations

import ctypes
from typing import Any, Optional

from . import _ffi
from .runtime import Stack, _Handle, _enc, _opts


class _Call(_Handle):
    _prefix = ""

    def __init__(self, ptr: int) -> None:
        super().__init__(ptr)
        out = ctypes.c_void_p()
        _ffi.check(getattr(_ffi.lib(), f"nemo_relay_{self._prefix}_uuid")(ptr, ctypes.byref(out)))
        self.uuid = _ffi.take_string(out.value)

    def end(self, stack: Stack, result: Any, options: Optional[dict] = None) -> None:
        """Emits the success end event with ``result``."""
        _ffi.check(getattr(_ffi.lib(), f"nemo_relay_{self._prefix}_end")(
            stack.ptr, self.ptr, _enc(result, "result"), _opts(options)))

    def fail(self, stack: Stack, message: str, options: Optional[dict] = None) -> None:
        """Emits the failure end event with ``message``."""
        _ffi.check(getattr(_ffi.lib(), f"nemo_relay_{self._prefix}_fail")(
            stack.ptr, self.ptr, _ffi.c_string(message, "message"), _opts(options)))


class Tool(_Call):
    """A manually reported tool call."""

    _prefix = "tool"
    _free_name = "nemo_relay_tool_free"


class Llm(_Call):
    """A manually reported LLM call."""

    _prefix = "llm"
    _free_name = "nemo_relay_llm_free"


def start(stack: Stack, kind: str, name: str, request: Any, options: Optional[dict]) -> _Call:
    out = ctypes.c_void_p()
    _ffi.check(getattr(_ffi.lib(), f"nemo_relay_{kind}_start")(
        stack.ptr, _ffi.c_string(name, "name"), _enc(request, "request"), _opts(options), ctypes.byref(out)))
    return (Tool if kind == "tool" else Llm)(out.value)
