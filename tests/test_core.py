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
from __future__ import annotations

from dataclasses import dataclass

from templates_hub import hookimpl
from templates_hub.formats import FormatAdapter


@dataclass
class Settings:  # dataclasses look their module up in sys.modules while the file runs
    column: str = "line"


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
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "my_lines.py").write_text(_SINGLE_FILE_PLUGIN, encoding="utf-8")
    try:
        result = cli_runner.invoke(main, ["--plugins-dir", str(tmp_path), "list", "formats", "--json"])
        assert result.exit_code == 0, result.output
        rows = {r["name"]: r for r in json.loads(result.stdout)}
        assert rows["dir_plugin_lines"]["plugin"] == "my_lines"
        described = {d["name"]: d for d in json.loads(cli_runner.invoke(main, ["plugins"]).stdout)}
        assert "not_a_module_anywhere" in described["broken_one"]["broken"]
        assert described["my_lines"]["registered"] == {"formats": ["dir_plugin_lines"]}
        assert described["my_lines"]["broken"] is None
        result = cli_runner.invoke(main, ["--plugins-dir", str(taken), "plugins"])
        described = {d["name"]: d for d in json.loads(result.stdout)}
        assert "a plugin named 'my_lines' is already loaded" in described[str(taken / "my_lines.py")]["broken"]
    finally:
        for name in ("my_lines", "broken_one", str(taken / "my_lines.py")):
            plugins.unregister_plugin(name)
        plugins._loaded_dirs.difference_update({str(tmp_path.resolve()), str(taken.resolve())})


def test_plugins_dir_that_is_not_a_directory_is_a_clear_error(tmp_path, cli_runner):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["--plugins-dir", str(tmp_path / "missing"), "list", "formats"])
    assert result.exit_code == 2
    assert "not a directory" in result.output and "Traceback" not in result.output


def test_a_broken_plugin_leaves_the_registry_as_it_was():
    """A hook that overrides a name and then raises must not take the overridden component with it."""
    reg: Registry[str] = Registry("formats")
    reg.add("builtin-text", "text", plugin="builtin")
    reg.add("first", "x", plugin="builtin")
    reg.add("mine", "text", plugin="broken", override=True)
    with pytest.raises(PluginError):
        reg.add("second", "x", plugin="broken")
    reg.remove_plugin("broken")
    assert reg.get("text") == "builtin-text" and reg.entry("text").plugin == "builtin"
    assert reg.get("x") == "first" and not reg.conflicts


class _OverridesThenRaises:
    __name__ = "overrides_then_raises"

    @staticmethod
    @hookimpl
    def register_formats(register):
        from templates_hub.formats.text import TextFormat

        register(TextFormat, name="text", override=True)
        raise RuntimeError("half-way")


def test_a_hook_that_raises_after_overriding_keeps_the_builtin(isolated_plugins):
    from templates_hub.plugins import BROKEN

    isolated_plugins(_OverridesThenRaises(), "overrides_then_raises")
    entry = get_registry("formats").entry("text")
    assert entry.plugin == "templates_hub.formats.builtin" and entry.overrides is None
    assert "half-way" in BROKEN["overrides_then_raises"]


class _Collides:
    __name__ = "collides"

    @staticmethod
    @hookimpl
    def register_formats(register):
        from templates_hub.formats.text import TextFormat

        register(TextFormat, name="sharegpt")

    @staticmethod
    @hookimpl
    def register_filter(register):  # misspelt: never called
        raise AssertionError("not a hook")


def test_collisions_and_misspelt_hooks_are_reported(isolated_plugins, cli_runner):
    from templates_hub.cli import main
    from templates_hub.plugins import describe_plugins

    isolated_plugins(_Collides(), "collides")
    with pytest.raises(PluginError, match="'templates_hub.formats.builtin' and 'collides'"):
        get_registry("formats").get("sharegpt")
    problems = {d["name"]: d["problems"] for d in describe_plugins()}["collides"]
    assert any("register_filter is not a templates-hub hook (did you mean register_filters?)" in p for p in problems)
    assert any("'sharegpt' is registered by both plugin 'templates_hub.formats.builtin' and plugin 'collides'" in p
               for p in problems)
    rows = json.loads(cli_runner.invoke(main, ["list", "formats", "--json"]).stdout)
    sharegpt = [r for r in rows if r["name"] == "sharegpt"]
    assert len(sharegpt) == 1 and sharegpt[0]["description"].startswith("CONFLICT")


def test_a_plugins_dir_env_var_that_is_not_a_folder_fails_every_time(monkeypatch, tmp_path):
    from templates_hub import plugins

    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setenv("TEMPLATES_HUB_PLUGINS_DIR", str(tmp_path / "missing"))
    for _ in range(2):  # not only on the first call: the next one must not silently run without it
        with pytest.raises(PluginError, match="TEMPLATES_HUB_PLUGINS_DIR .*missing: not a directory"):
            plugins.get_registry("formats")


def test_a_broken_builtin_is_listed_without_all(monkeypatch):
    from templates_hub import plugins

    monkeypatch.setitem(plugins.BROKEN, "templates_hub.export.builtin", "ImportError: no module named x")
    monkeypatch.setitem(plugins.BROKEN, "templates_hub.never_imported", "ImportError: y")
    described = {d["name"]: d for d in plugins.describe_plugins()}
    assert described["templates_hub.export.builtin"]["broken"] == "ImportError: no module named x"
    assert described["templates_hub.never_imported"]["broken"] == "ImportError: y"
    assert "templates_hub.formats.builtin" not in described  # healthy built-ins only with --all
