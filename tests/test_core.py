"""Plugin manager, registry and schema basics."""

from __future__ import annotations

import json

import pytest

from templates_hub import Conversation, Message, hookimpl, validate_row
from templates_hub.errors import PluginError
from templates_hub.plugins import get_registry
from templates_hub.registry import Registry


def test_registry_collision_names_both_plugins():
    reg: Registry[object] = Registry("templates")
    reg.add(object(), "x", plugin="first")
    with pytest.raises(PluginError, match="'first' and plugin 'second'"):
        reg.add(object(), "x", plugin="second")
    with pytest.raises(PluginError, match="'first' and 'second'"):
        reg.get("x")


def test_registry_override_is_explicit_and_recorded():
    reg: Registry[str] = Registry("filters")
    reg.add("a", "x", plugin="builtin")
    entry = reg.add("b", "x", plugin="mine", override=True)
    assert reg.get("x") == "b" and entry.overrides == "builtin"


def test_unknown_name_suggests_close_matches():
    reg: Registry[str] = Registry("templates")
    reg.add("a", "chatml", plugin="p")
    with pytest.raises(PluginError, match="Did you mean 'chatml'"):
        reg.get("chatm")


class _Formats:
    __name__ = "in_test_formats"

    @staticmethod
    @hookimpl
    def register_formats(register):
        register(object(), name="in_test_format")


class _Raises:
    __name__ = "raises"

    @staticmethod
    @hookimpl
    def register_formats(register):
        register(object(), name="half_registered")
        raise RuntimeError("boom")


def test_plugin_registers_and_broken_plugin_is_isolated(isolated_plugins):
    isolated_plugins(_Formats(), "in_test_formats")
    isolated_plugins(_Raises(), "raises")
    reg = get_registry("formats")
    assert reg.entry("in_test_format").plugin == "in_test_formats"
    assert "half_registered" not in reg  # rolled back
    from templates_hub.plugins import BROKEN, describe_plugins

    assert "boom" in BROKEN["raises"]
    described = {d["name"]: d for d in describe_plugins()}
    assert described["raises"]["broken"] and described["in_test_formats"]["registered"] == {"formats": ["in_test_format"]}


def test_message_model_and_row_shape():
    conv = Conversation(messages=[Message(role="user", content="hi"), Message(role="assistant", content="yo")])
    row = conv.to_row()
    assert row["messages"][1] == {"role": "assistant", "content": "yo", "tool_calls": None, "reasoning": None, "train": None}
    assert validate_row("sft", row) == (row, [])


@pytest.mark.parametrize(
    "row,expected",
    [
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "messages[1].role"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}, "messages[1].content"),
        ({"messages": [{"role": "bot", "content": "a"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "s"}]}, "messages[1].role"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "tools": "{"}, "tools"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "r"}]}, "messages[1].role"),
        ({"messages": [{"role": "tool", "content": "r"}, {"role": "assistant", "content": "b"}]}, "messages[0].role"),
    ],
)
def test_validation_errors_are_located(row, expected):
    clean, problems = validate_row("sft", row)
    assert clean is None
    assert expected in [field for field, _ in problems]


def test_consecutive_tool_results_are_accepted():
    row = {
        "messages": [
            {"role": "user", "content": "weather in A and B?"},
            {"role": "assistant", "tool_calls": [{"name": "w", "arguments": {"c": "A"}}, {"name": "w", "arguments": '{"c": "B"}'}]},
            {"role": "tool", "content": "sunny"},
            {"role": "tool", "content": "rain"},
            {"role": "assistant", "content": "A is sunny, B rainy."},
        ],
        "tools": [{"name": "w", "parameters": {}}],
    }
    clean, problems = validate_row("sft", row)
    assert problems == []
    assert json.loads(clean["tools"]) == [{"name": "w", "parameters": {}}]
    assert json.loads(clean["messages"][1]["tool_calls"][0]["arguments"]) == {"c": "A"}


class _BasedOnBuiltin:
    __name__ = "based_on_builtin"

    @staticmethod
    @hookimpl
    def register_templates(register):
        from templates_hub.templates import get_template

        register(get_template("chatml").replace(name="chatml_variant", default_system="Be brief."))


def test_hook_may_look_up_builtins_while_registering(isolated_plugins):
    from templates_hub.plugins import BROKEN

    isolated_plugins(_BasedOnBuiltin(), "based_on_builtin")
    reg = get_registry("templates")
    assert "based_on_builtin" not in BROKEN
    assert reg.entry("chatml_variant").plugin == "based_on_builtin"
    assert reg.get("chatml_variant").default_system == "Be brief."


_SINGLE_FILE_PLUGIN = '''
from templates_hub import hookimpl
from templates_hub.formats import FormatAdapter


class LinesFormat(FormatAdapter):
    """One question per line."""

    name = "dir_plugin_lines"
    description = "from a single-file plugin"
    kinds = ("sft",)


@hookimpl
def register_formats(register):
    register(LinesFormat)
'''


def test_plugins_dir_loads_single_file_plugins(tmp_path, cli_runner):
    from templates_hub import plugins
    from templates_hub.cli import main

    (tmp_path / "my_lines.py").write_text(_SINGLE_FILE_PLUGIN, encoding="utf-8")
    (tmp_path / "broken_one.py").write_text("import not_a_module_anywhere\n", encoding="utf-8")
    try:
        result = cli_runner.invoke(main, ["--plugins-dir", str(tmp_path), "list", "formats", "--json"])
        assert result.exit_code == 0, result.output
        rows = {r["name"]: r for r in json.loads(result.stdout)}
        assert rows["dir_plugin_lines"]["plugin"] == "my_lines"
        described = {d["name"]: d for d in json.loads(cli_runner.invoke(main, ["plugins"]).stdout)}
        assert "not_a_module_anywhere" in described["broken_one"]["broken"]
        assert described["my_lines"]["registered"] == {"formats": ["dir_plugin_lines"]}
    finally:
        for name in ("my_lines", "broken_one"):
            plugins.unregister_plugin(name)
        plugins._loaded_dirs.discard(str(tmp_path.resolve()))


def test_plugins_dir_that_is_not_a_directory_is_a_clear_error(tmp_path, cli_runner):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["--plugins-dir", str(tmp_path / "missing"), "list", "formats"])
    assert result.exit_code == 2
    assert "not a directory" in result.output and "Traceback" not in result.output
