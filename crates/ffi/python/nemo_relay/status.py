"""Status codes returned by the C ABI.

The values mirror ``NemoRelayStatus`` in ``nemo_relay.h``. Python cannot
include the header, so ``tests/test_status.py`` parses it and fails if the two
ever differ.
"""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """``NemoRelayStatus``: 0 is success, everything else a failure class."""

    OK = 0
    ALREADY_EXISTS = 1
    NOT_FOUND = 2
    SCOPE_STACK_EMPTY = 3
    GUARDRAIL_REJECTED = 4
    INTERNAL = 5
    NULL_POINTER = 6
    INVALID_JSON = 7
    INVALID_UTF8 = 8
    INVALID_ARGUMENT = 9
    STREAM_END = 10
    BACKPRESSURED = 11
    PANIC = 12
    INVALID_STATE = 13
    CANCELLED = 14
    SHUT_DOWN = 15
    CALLBACK_FAILED = 16
    SCOPE_NOT_ON_TOP = 17
    FOREIGN_SCOPE = 18
    ROOT_SCOPE = 19
    CONTINUATION_EXPIRED = 20
    TIMEOUT = 21
