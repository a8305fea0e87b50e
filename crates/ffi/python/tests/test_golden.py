"""The scripted agent run of tests/golden/README.md, from Python."""

import json
import sys
from pathlib import Path

import pytest

import nemo_relay as nr

GOLDEN = Path(__file__).resolve().parents[4] / "tests" / "golden"
sys.path.insert(0, str(GOLDEN))
import normalize  # noqa: E402  (tests/golden/normalize.py, shared with C)


def test_the_scripted_agent_run_matches_the_golden_stream():
    events = []
    nr.register_subscriber("golden", events.append)

    def add_trace(ctx, args):
        return {**args, "trace": True} if isinstance(args, dict) else None

    def redact_api_key(ctx, args):
        if isinstance(args, dict) and "api_key" in args:
            return {**args, "api_key": "[REDACTED]"}
        return None

    def no_rm(ctx, args):
        if ctx["name"] == "shell" and str(args.get("cmd", "")).startswith("rm"):
            return "destructive command"
        return None

    nr.register_rewrite(nr.Family.TOOL_REQUEST_INTERCEPT, "add-trace", add_trace)
    nr.register_rewrite(nr.Family.TOOL_SANITIZE_REQUEST, "redact-api-key", redact_api_key)
    nr.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "no-rm", no_rm)
    try:
        with nr.Stack() as stack:
            agent = stack.push("agent", nr.ScopeType.AGENT, {"input": {"task": "find docs"}})
            stack.mark("plan", {"data": {"step": 1}})
            seen = {}

            def search(args):
                seen.update(args)
                return {"hits": [args["query"]], "traced": args["trace"]}

            stack.tool_call("search", {"query": "nemo relay", "api_key": "sk-123"}, search,
                            {"tool_call_id": "call-1"})
            assert seen == {"api_key": "sk-123", "query": "nemo relay", "trace": True}
            stack.llm_call(
                "chat",
                {"headers": {"authorization": "Bearer sk-live", "x-team": "docs"},
                 "content": {"messages": [{"role": "user", "content": "summarize"}]}},
                lambda request: {"message": {"role": "assistant", "content": "summary"}},
                {"model_name": "demo-model"},
            )
            ran = []
            with pytest.raises(nr.RelayError) as info:
                stack.tool_call("shell", {"cmd": "rm -rf /"}, lambda args: ran.append(1) or {})
            assert info.value.code == nr.Status.GUARDRAIL_REJECTED and not ran
            stack.mark("done", {"data": {"ok": True}})
            stack.pop(agent, {"output": {"answer": "summary"}})
            agent.close()
            nr.flush()
    finally:
        for family, name in [(nr.Family.SUBSCRIBER, "golden"),
                             (nr.Family.TOOL_REQUEST_INTERCEPT, "add-trace"),
                             (nr.Family.TOOL_SANITIZE_REQUEST, "redact-api-key"),
                             (nr.Family.TOOL_CONDITIONAL_EXECUTION, "no-rm")]:
            nr.deregister(family, name)

    actual = normalize.normalize([json.loads(e) for e in events])
    expected = normalize.parse_lines((GOLDEN / "agent_run.jsonl").read_text())
    assert normalize.compare(actual, expected) == []
