"""The ATIF trajectory exporter: agent runs as ATIF-v1.7 documents."""

from __future__ import annotations

import ctypes
import json
from typing import Optional

from . import _ffi
from .runtime import _Handle


class AtifExporter(_Handle):
    """Options: ``output_directory``, ``filename_template``, ``agent_name``,
    ``agent_version``, ``session_id``, ``include_raw_events``."""

    _free_name = "nemo_relay_atif_exporter_free"

    def __init__(self, options: Optional[dict] = None) -> None:
        out = ctypes.c_void_p()
        arg = None if options is None else _ffi.c_string(json.dumps(options), "options_json")
        _ffi.check(_ffi.lib().nemo_relay_atif_exporter_create(arg, ctypes.byref(out)))
        super().__init__(out.value)

    def register(self, name: Optional[str] = None) -> None:
        """Subscribes to the runtime (default name ``nemo_relay.atif``)."""
        arg = None if name is None else _ffi.c_string(name, "name")
        _ffi.check(_ffi.lib().nemo_relay_atif_exporter_register(self.ptr, arg))

    def export(self) -> dict:
        """The trajectory of the configured (or most recent) session;
        ``Status.NOT_FOUND`` when nothing is buffered."""
        out = ctypes.c_void_p()
        _ffi.check(_ffi.lib().nemo_relay_atif_exporter_export(self.ptr, ctypes.byref(out)))
        return json.loads(_ffi.take_string(out.value))

    def clear(self) -> None:
        _ffi.check(_ffi.lib().nemo_relay_atif_exporter_clear(self.ptr))

    def flush(self) -> None:
        _ffi.check(_ffi.lib().nemo_relay_atif_exporter_flush(self.ptr))
