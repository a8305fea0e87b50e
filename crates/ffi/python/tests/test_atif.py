"""The ATIF exporter from Python over a small scripted agent run."""

import pytest

import nemo_relay as nr
from nemo_relay import RelayError, Status

FIRST_TURN = {"choices": [{"message": {"role": "assistant", "content": "Let me check.", "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}


def test_a_scripted_run_exports_as_an_atif_trajectory():
    with pytest.raises(RelayError) as info:
        nr.AtifExporter({"agnet_name": "x"})
    assert info.value.code == Status.INVALID_JSON

    with nr.AtifExporter({"agent_version": "9.9"}) as exporter:
        exporter.register("py-atif")
        with pytest.raises(RelayError) as info:
            exporter.export()
        assert info.value.code == Status.NOT_FOUND

        with nr.Stack() as stack:
            agent = stack.push("weather-agent", nr.ScopeType.AGENT)
            request = {"headers": {}, "content": {"messages": [{"role": "user", "content": "Weather in Paris?"}]}}
            stack.llm_call("openai.chat", request, lambda req: FIRST_TURN)
            stack.tool_call("get_weather", {}, lambda args: "18C", {"tool_call_id": "call_1"})
            stack.pop(agent)

        doc = exporter.export()
        assert doc["schema_version"] == "ATIF-v1.7"
        assert doc["agent"]["name"] == "weather-agent"
        assert doc["agent"]["version"] == "9.9"
        assert [s["source"] for s in doc["steps"]] == ["user", "agent"]
        assert doc["steps"][1]["tool_calls"][0]["tool_call_id"] == "call_1"
        exporter.clear()
        with pytest.raises(RelayError):
            exporter.export()
