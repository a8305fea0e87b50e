"""Surface Python gained for parity with C: stream intercepts, manual tool
and LLM calls, stats and registration listings."""

import pytest

import nemo_relay as nr
from nemo_relay import RelayError, Status


def test_stream_intercepts_wrap_the_downstream_stream():
    def upper(ctx, request, nxt):
        down = nxt.stream(request)

        def pull(_request, _index):
            chunk = next(down, None)
            return None if chunk is None else {k: v.upper() for k, v in chunk.items()}

        return nr.Stream.new(pull)

    nr.register_stream_intercept("py-upper", upper)
    try:
        with nr.Stack() as stack:
            chunks = list(stack.llm_stream("chat", {"content": {}},
                                           lambda req, i: {"delta": "hi"} if i < 2 else None))
        assert chunks == [{"delta": "HI"}, {"delta": "HI"}]
    finally:
        nr.deregister(nr.Family.LLM_STREAM_EXECUTION_INTERCEPT, "py-upper")


def test_a_failing_stream_intercept_fails_the_call():
    def refuse(ctx, request, nxt):
        raise RuntimeError("no streams today")

    nr.register_stream_intercept("py-refuse", refuse)
    try:
        with nr.Stack() as stack, pytest.raises(RelayError) as info:
            stack.llm_stream("chat", {"content": 1}, lambda req, i: None)
        assert info.value.code == Status.CALLBACK_FAILED
        assert "no streams today" in str(info.value)
    finally:
        nr.deregister(nr.Family.LLM_STREAM_EXECUTION_INTERCEPT, "py-refuse")


def test_manual_tool_and_llm_calls_emit_start_and_end_events():
    seen = []
    nr.register_subscriber("py-manual", seen.append)
    try:
        with nr.Stack() as stack:
            with stack.start_llm("manual-chat", {"headers": {}, "content": "hi"}, {"model_name": "m1"}) as llm:
                llm.end(stack, {"text": "hello"})
            with stack.start_llm("manual-chat-2", {"content": "hi"}) as failed:
                failed.fail(stack, "provider down")
            with stack.start_tool("manual-tool", {}) as tool:
                tool.fail(stack, "tool broke")
            with pytest.raises(RelayError) as info:
                tool.end(stack, 1)
            assert info.value.code == Status.INVALID_STATE  # the handle is closed
        nr.flush()
        assert sum(llm.uuid in e for e in seen) == 2
        assert sum("provider down" in e for e in seen) == 1
        assert sum("tool broke" in e for e in seen) == 1
    finally:
        nr.deregister(nr.Family.SUBSCRIBER, "py-manual")


def test_stats_and_registrations_are_readable():
    nr.register_subscriber("py-stats", lambda e: None)
    try:
        assert "py-stats" in nr.registrations(nr.Family.SUBSCRIBER)
        with nr.Stack() as stack:
            stack.mark("stats-probe")
        nr.flush()
        stats = nr.stats()
        assert stats["delivered"] > 0 and stats["capacity"] > 0
        with pytest.raises(RelayError) as info:
            nr.registrations(99)
        assert info.value.code == Status.INVALID_ARGUMENT
    finally:
        nr.deregister(nr.Family.SUBSCRIBER, "py-stats")
