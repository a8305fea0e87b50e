"""The runtime surface from Python: scopes, calls, middleware, streams,
errors, re-entrancy and threads."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import nemo_relay as nr
from nemo_relay import RelayError, Status, _callbacks


@pytest.fixture
def stack():
    with nr.Stack() as s:
        yield s


@pytest.fixture
def events():
    collected = []
    nr.register_subscriber("py-events", collected.append)
    yield collected
    nr.deregister(nr.Family.SUBSCRIBER, "py-events")
    nr.flush()


def test_scopes_pop_in_order_and_misuse_raises_typed_errors(stack):
    outer = stack.push("outer")
    inner = stack.push("inner", nr.ScopeType.FUNCTION)
    with pytest.raises(RelayError) as info:
        stack.pop(outer)
    assert info.value.code == Status.SCOPE_NOT_ON_TOP
    stack.pop(inner)
    with pytest.raises(RelayError) as info:
        stack.pop(inner)
    assert info.value.code == Status.NOT_FOUND
    stack.pop(outer)
    assert len(outer.uuid) == 36
    for bad, code in [(lambda: stack.push("s", 999), Status.INVALID_ARGUMENT),
                      (lambda: stack.push("s", 0, {"inptu": 1}), Status.INVALID_JSON),
                      (lambda: stack.push(b"\xff", 0), Status.INVALID_UTF8)]:
        with pytest.raises(RelayError) as info:
            bad()
        assert info.value.code == code


def test_a_closed_handle_is_an_error_not_a_crash(stack):
    scope = stack.push("s")
    stack.pop(scope)
    scope.close()
    scope.close()
    with pytest.raises(RelayError) as info:
        stack.pop(scope)
    assert info.value.code == Status.INVALID_STATE


def test_a_guardrail_answers_as_in_node_none_or_true_allow_false_or_a_reason_reject(stack):
    answers = {"none": None, "true": True, "false": False, "reason": "no", "zero": 0}
    nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "py-verdicts",
                      lambda ctx, req: answers[ctx["name"]])
    try:
        assert stack.tool_call("none", {}, lambda a: 1) == 1
        assert stack.tool_call("true", {}, lambda a: 1) == 1
        for name, code, text in [("false", Status.GUARDRAIL_REJECTED, "rejected by guardrail 'py-verdicts'"),
                                 ("reason", Status.GUARDRAIL_REJECTED, "no"),
                                 ("zero", Status.CALLBACK_FAILED, "must return None, a bool or a reason string")]:
            with pytest.raises(RelayError) as info:
                stack.tool_call(name, {}, lambda a: 1)
            assert info.value.code == code
            assert text in str(info.value)
    finally:
        nr.deregister(nr.Family.TOOL_CONDITIONAL_EXECUTION, "py-verdicts")


def test_an_intercept_handing_back_the_error_of_next_reports_its_message_not_its_rendering(stack):
    nr.register_intercept(nr.Family.TOOL_EXECUTION_INTERCEPT, "py-pass-error", lambda ctx, req, next_: next_(req))

    def tool(args):
        raise ValueError("disk full")

    try:
        with pytest.raises(RelayError) as info:
            stack.tool_call("fails", {}, tool)
        assert info.value.message.count("disk full") == 1
        # Not the binding's rendering of the inner error ("RelayError: …
        # (NEMO_RELAY_STATUS_…)") inside the outer one.
        assert "RelayError" not in info.value.message, info.value.message
        assert "NEMO_RELAY_STATUS" not in info.value.message, info.value.message
    finally:
        nr.deregister(nr.Family.TOOL_EXECUTION_INTERCEPT, "py-pass-error")


def test_a_raising_subscriber_is_isolated_and_counted(stack):
    def broken(event):
        raise RuntimeError("subscriber bug")

    before = nr.stats()["subscriber_errors"]
    nr.register_subscriber("py-broken", broken)
    try:
        stack.mark("a")
        stack.mark("b")
        nr.flush()
    finally:
        nr.deregister(nr.Family.SUBSCRIBER, "py-broken")
    assert nr.stats()["subscriber_errors"] - before == 2


def test_tool_calls_run_middleware_in_pipeline_order(stack):
    order = []
    nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "o-guard",
                      lambda ctx, req: order.append("guard"))
    nr.register_rewrite(nr.Family.TOOL_REQUEST_INTERCEPT, "o-request",
                        lambda ctx, req: order.append("request") or {"rewritten": True})

    def around(ctx, req, next_):
        order.append("exec:" + ctx["name"])
        return next_(req)

    nr.register_intercept(nr.Family.TOOL_EXECUTION_INTERCEPT, "o-exec", around)
    try:
        result = stack.tool_call("ordered", {"x": 1}, lambda args: order.append(("tool", args)) or {"ok": 1})
    finally:
        nr.deregister(nr.Family.TOOL_CONDITIONAL_EXECUTION, "o-guard")
        nr.deregister(nr.Family.TOOL_REQUEST_INTERCEPT, "o-request")
        nr.deregister(nr.Family.TOOL_EXECUTION_INTERCEPT, "o-exec")
    assert result == {"ok": 1}
    assert order == ["guard", "request", "exec:ordered", ("tool", {"rewritten": True})]


def test_python_exceptions_in_callbacks_become_callback_failed(stack):
    def boom(args):
        raise ValueError("tool exploded")

    with pytest.raises(RelayError) as info:
        stack.tool_call("fails", {}, boom)
    assert info.value.code == Status.CALLBACK_FAILED
    assert "ValueError: tool exploded" in info.value.message


def test_a_continuation_kept_past_its_intercept_is_expired(stack):
    kept = []

    def keeper(ctx, req, next_):
        kept.append(next_)
        return next_(req)

    nr.register_intercept(nr.Family.TOOL_EXECUTION_INTERCEPT, "keeper", keeper)
    try:
        stack.tool_call("kept", 1, lambda args: args)
    finally:
        nr.deregister(nr.Family.TOOL_EXECUTION_INTERCEPT, "keeper")
    with pytest.raises(RelayError) as info:
        kept[0]({})
    assert info.value.code == Status.CONTINUATION_EXPIRED


def test_double_registration_fails_and_releases_the_second_callback():
    before = _callbacks.live_user_data()
    nr.register_guard(nr.Family.LLM_CONDITIONAL_EXECUTION, "dup", lambda c, r: None)
    with pytest.raises(RelayError) as info:
        nr.register_guard(nr.Family.LLM_CONDITIONAL_EXECUTION, "dup", lambda c, r: None)
    assert info.value.code == Status.ALREADY_EXISTS
    with pytest.raises(RelayError) as info:
        nr.register_guard(nr.Family.SUBSCRIBER, "wrong-shape", lambda c, r: None)
    assert info.value.code == Status.INVALID_ARGUMENT
    assert _callbacks.live_user_data() == before + 1
    assert nr.deregister(nr.Family.LLM_CONDITIONAL_EXECUTION, "dup") is True
    assert nr.deregister(nr.Family.LLM_CONDITIONAL_EXECUTION, "dup") is False
    assert _callbacks.live_user_data() == before


def test_arguments_that_do_not_convert_are_invalid_argument_and_keep_no_callback(stack):
    before = _callbacks.live_user_data()
    attempts = [
        lambda: stack.tool_call("t", {1, 2}, lambda a: a),
        lambda: stack.tool_call("t\0x", {}, lambda a: a),
        lambda: stack.llm_stream("s", {"content": {1}}, lambda r, i: None),
        lambda: nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "g\0", lambda c, r: None),
        lambda: nr.register_subscriber("huge", lambda e: None, priority=2**32),
        lambda: nr.register_subscriber("float", lambda e: None, priority=1.5),
        lambda: stack.push("s", scope_type=2**31),
    ]
    for attempt in attempts:
        with pytest.raises(RelayError) as info:
            attempt()
        assert info.value.code == Status.INVALID_ARGUMENT
    assert _callbacks.live_user_data() == before
    assert nr.registrations(nr.Family.SUBSCRIBER) == []


def test_an_error_of_the_library_handed_back_by_a_callback_reaches_the_caller_unchanged(stack):
    nr.register_intercept(nr.Family.TOOL_EXECUTION_INTERCEPT, "pass", lambda c, r, nxt: nxt(r))
    nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "no-inner", lambda c, r: "no" if c["name"] == "inner" else None)
    try:
        with pytest.raises(RelayError) as info:
            stack.tool_call("t", {}, lambda a: 1 / 0)
        assert info.value.code == Status.CALLBACK_FAILED
        assert str(info.value).count("callback failed") == 1, str(info.value)

        def outer(args):
            return nr.Stack.current().tool_call("inner", {}, lambda a: a)

        with pytest.raises(RelayError) as info:
            stack.tool_call("outer", {}, outer)
        assert info.value.code == Status.GUARDRAIL_REJECTED
        assert "callback failed" not in str(info.value)
    finally:
        nr.deregister(nr.Family.TOOL_EXECUTION_INTERCEPT, "pass")
        nr.deregister(nr.Family.TOOL_CONDITIONAL_EXECUTION, "no-inner")


def test_scope_local_guardrails_vanish_with_their_scope(stack):
    session = stack.push("session")
    nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "local", lambda c, r: "not here",
                      owner=session, stack=stack)
    with pytest.raises(RelayError) as info:
        stack.tool_call("t", {}, lambda a: 1)
    assert info.value.code == Status.GUARDRAIL_REJECTED
    stack.pop(session)
    assert stack.tool_call("t", {}, lambda a: 1) == 1


def test_a_streaming_call_yields_chunks_and_records_the_aggregate(stack, events):
    stream = stack.llm_stream("streamed", {"content": "hi"},
                              lambda request, i: {"delta": i} if i < 3 else None)
    with stream:
        assert list(stream) == [{"delta": 0}, {"delta": 1}, {"delta": 2}]
        assert list(stream) == []  # finished stays finished
    nr.flush()
    assert sum('"chunks":[{"delta":0},{"delta":1},{"delta":2}]' in e for e in events) == 1


def test_closing_a_stream_from_another_thread_while_it_is_read_ends_it_cleanly(stack):
    for _ in range(40):
        def pull(request, i):
            time.sleep(0.001)
            return {"i": i}

        stream = stack.llm_stream("slow", {"content": "x"}, pull)
        read = []
        reader = threading.Thread(target=lambda: read.extend(stream))
        reader.start()
        time.sleep(0.003)
        stream.close()
        reader.join(timeout=10)
        assert not reader.is_alive()
        assert list(stream) == []  # closed is over, not an error
        assert read == [{"i": i} for i in range(len(read))]


def _run_python(script: str) -> subprocess.CompletedProcess:
    """``script`` in a Python process of its own, with this package."""
    env = {**os.environ, "PYTHONPATH": str(Path(nr.__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_a_process_with_queued_events_exits_normally_and_delivers_them():
    # Without the shutdown at exit, the dispatcher thread ran subscribers in
    # a finalizing interpreter, and the process aborted (exit 134).
    script = (
        "import nemo_relay as nr\n"
        "nr.register_subscriber('print', lambda e: print('event'))\n"
        "with nr.Stack() as s:\n"
        "    for _ in range(50):\n"
        "        s.tool_call('t', {}, lambda a: 1)\n"
    )
    for _ in range(3):
        done = _run_python(script)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("event") == 100


def test_a_forked_child_is_told_its_events_are_not_delivered_instead_of_hanging():
    # fork() keeps the parent's dispatcher state but not its thread (a
    # preforking server imports the app, then forks workers).
    script = (
        "import os, sys\n"
        "import nemo_relay as nr\n"
        "nr.register_subscriber('s', lambda e: None)\n"
        "with nr.Stack() as s:\n"
        "    s.mark('parent')\n"
        "nr.flush()\n"
        "if os.fork() == 0:\n"
        "    with nr.Stack() as s:\n"
        "        s.mark('child')\n"
        "    try:\n"
        "        nr.flush()\n"
        "    except nr.RelayError as e:\n"
        "        print(e.code.name, 'fork' in e.message)\n"
        "    sys.exit(0)\n"
        "print('child exit', os.wait()[1])\n"
    )
    done = _run_python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["SHUT_DOWN True", "child exit 0"], done.stdout
    assert "panicked" not in done.stderr, done.stderr


def test_a_subscriber_calling_flush_does_not_deadlock(stack):
    results = []
    nr.register_subscriber("py-flusher", lambda event: results.append(nr.flush()))
    try:
        stack.mark("ping")
        nr.flush(timeout_ms=10_000)
    finally:
        nr.deregister(nr.Family.SUBSCRIBER, "py-flusher")
    assert results and results[0] is None


def test_flush_refuses_a_timeout_outside_uint32_instead_of_wrapping_it(stack):
    for bad in (2**32, -1, 1.5, True):
        with pytest.raises(ValueError):
            nr.flush(timeout_ms=bad)
    stack.mark("ping")
    nr.flush()
    nr.flush(timeout_ms=0)  # nothing left to deliver: no timeout


def test_a_tool_calling_a_tool_nests_under_the_outer_call(stack, events):
    outer = {}

    def spy(ctx, request):
        if ctx["name"] == "outer":
            outer["uuid"] = ctx["uuid"]

    nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "py-spy", spy)
    try:
        def outer_tool(args):
            # Inside a callback, the current stack's top is the call itself.
            with nr.Stack.current() as inner:
                return inner.tool_call("inner", {}, lambda a: "deep")

        assert stack.tool_call("outer", {}, outer_tool) == "deep"
    finally:
        nr.deregister(nr.Family.TOOL_CONDITIONAL_EXECUTION, "py-spy")
    nr.flush()
    assert sum(f'"parent_uuid":"{outer["uuid"]}"' in e for e in events) == 2


def test_threads_with_their_own_stacks_do_not_interfere():
    errors = []

    def work():
        try:
            with nr.Stack() as s:
                for i in range(50):
                    scope = s.push("a")
                    assert s.tool_call("t", i, lambda args: args) == i
                    s.pop(scope)
                    scope.close()
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


def test_an_intercept_that_continues_on_another_thread_still_runs_the_tool_inside_its_call(stack, events):
    # An intercept that hands the rest of the chain to a worker thread (a
    # thread pool, a timeout wrapper) and waits for it: the tool must still
    # run inside its call, so what it opens nests under the call.
    def on_a_thread(ctx, req, next_):
        out = {}
        worker = threading.Thread(target=lambda: out.update(result=next_(req)))
        worker.start()
        worker.join()
        return out["result"]

    def tool(args):
        nr.Stack.current().mark("inside-the-tool")
        return {"ok": True}

    nr.register_intercept(nr.Family.TOOL_EXECUTION_INTERCEPT, "threaded", on_a_thread)
    try:
        assert stack.tool_call("threaded-tool", {}, tool) == {"ok": True}
    finally:
        nr.deregister(nr.Family.TOOL_EXECUTION_INTERCEPT, "threaded")
    nr.flush()
    import json
    parsed = [json.loads(e) for e in events]
    call = next(e for e in parsed if e["name"] == "threaded-tool" and e.get("scope_category") == "start")
    mark = next(e for e in parsed if e["name"] == "inside-the-tool")
    assert mark["parent_uuid"] == call["uuid"]
