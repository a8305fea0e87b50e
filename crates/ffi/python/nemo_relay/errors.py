"""The exception raised for every failure the library reports."""

from __future__ import annotations

from typing import Union

from .status import Status


class RelayError(Exception):
    """A nemo-relay call failed.

    ``code`` is the :class:`~nemo_relay.status.Status` the C function returned
    (a plain ``int`` if this binding does not know the code yet) and
    ``message`` the text the library stored for the calling thread.

    Match on the code::

        try:
            nemo_relay.normalize_json(text)
        except nemo_relay.RelayError as err:
            if err.code == nemo_relay.Status.INVALID_JSON:
                ...
    """

    def __init__(self, code: Union[Status, int], message: str) -> None:
        try:
            code = Status(code)
        except ValueError:
            pass  # keep unknown codes as int: newer library, older binding
        super().__init__(f"{message} ({_code_name(code)})")
        self.code = code
        self.message = message


def _code_name(code: Union[Status, int]) -> str:
    if isinstance(code, Status):
        return f"NEMO_RELAY_STATUS_{code.name}"
    return f"NemoRelayStatus({int(code)})"
