"""Plugins from Python: the host functions, and a plugin kind written in
Python used end to end."""

import pytest

import nemo_relay as nr
from nemo_relay import RelayError, Status, plugins


class DenyKind(plugins.PluginKind):
    """{"tool": name}: a guardrail rejecting that tool and an intercept
    tagging every tool result."""

    kind = "py-deny"
    description = "denies one tool"

    def __init__(self):
        self.teardowns = 0
        self.kept_ctx = None

    def validate(self, config, check):
        check.known_fields("", ["tool"])
        if not isinstance(config.get("tool"), str):
            check.error("tool", "plugin.missing_field", "missing required field 'tool'")

    def register(self, config, ctx):
        tool = config["tool"]
        if tool == "fail":
            raise ValueError("py-deny refuses tool 'fail'")
        self.kept_ctx = ctx
        ctx.register_guard(nr.Family.TOOL_CONDITIONAL_EXECUTION, "deny",
                           lambda c, _req: "blocked by py-deny" if c["name"] == tool else None)
        ctx.register_intercept(nr.Family.TOOL_EXECUTION_INTERCEPT, "tag",
                               lambda _c, req, nxt: {"via": "py-deny", "result": nxt(req)})
        assert ctx.qualify("deny") == "py-deny#1/deny"
        ctx.on_teardown(self._torn_down)

    def _torn_down(self):
        self.teardowns += 1


def doc(tool=None, **config):
    if tool is not None:
        config["tool"] = tool
    return {"version": 1, "components": [{"kind": "py-deny", "config": config}]}


def run_tool(name):
    with nr.Stack() as stack:
        return stack.tool_call(name, {}, lambda args: "ran")


@pytest.fixture
def deny_kind():
    kind = DenyKind()
    plugins.register_kind(kind)
    yield kind
    plugins.clear()
    assert plugins.deregister_kind("py-deny")


def test_a_python_plugin_kind_validates_activates_survives_a_failure_and_clears(deny_kind):
    assert {"kind": "py-deny", "description": "denies one tool"} in plugins.kinds()
    with pytest.raises(RelayError) as info:
        plugins.register_kind(DenyKind())
    assert info.value.code == Status.ALREADY_EXISTS

    report = plugins.validate(doc(colour=1))
    assert report["has_errors"]
    assert [(d["level"], d["code"], d["field"]) for d in report["diagnostics"]] == [
        ("warning", "plugin.unknown_field", "config.colour"),
        ("error", "plugin.missing_field", "config.tool"),
    ]

    activation = plugins.initialize(doc("shell"))
    assert ["tool_execution_intercept", "py-deny#1/tag"] in activation["components"][0]["registrations"]
    with pytest.raises(RelayError) as info:
        run_tool("shell")
    assert info.value.code == Status.GUARDRAIL_REJECTED
    assert run_tool("search") == {"via": "py-deny", "result": "ran"}

    with pytest.raises(RelayError) as info:
        plugins.initialize(doc("fail"))
    assert info.value.code == Status.CALLBACK_FAILED
    assert "refuses tool 'fail'" in info.value.message
    with pytest.raises(RelayError):
        run_tool("shell")  # the previous configuration is still active

    assert plugins.clear()
    assert deny_kind.teardowns == 1
    assert run_tool("shell") == "ran"
    assert plugins.active_report() is None


def test_a_context_kept_past_its_hook_is_refused(deny_kind):
    plugins.initialize(doc("shell"))
    with pytest.raises(RelayError) as info:
        deny_kind.kept_ctx.register_subscriber("late", print)
    assert info.value.code == Status.INVALID_STATE


def test_builtin_kinds_load_from_a_toml_file(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text('version = 1\n[[components]]\nkind = "policy"\nconfig = { deny = ["rm*"] }\n')
    assert plugins.validate(path) == {"has_errors": False, "diagnostics": []}
    plugins.initialize(path)
    with pytest.raises(RelayError):
        run_tool("rmdir")
    assert plugins.clear()
    assert run_tool("rmdir") == "ran"
    with pytest.raises(RelayError) as info:
        plugins.initialize(tmp_path / "missing.toml")
    assert info.value.code == Status.NOT_FOUND
