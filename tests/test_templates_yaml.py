"""YAML template declarations: validation with YAML paths and line numbers, and registration by path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from templates_hub.errors import ConfigError, PluginError
from templates_hub.hookspecs import hookimpl
from templates_hub.plugins import get_registry
from templates_hub.templates import SpecialTokens, get_template, render_text
from templates_hub.templates.jinja_template import JinjaTemplate
from templates_hub.templates.slot import SlotTemplate
from templates_hub.templates.spec import load_template_file, template_from_spec, template_to_spec

TOK = SpecialTokens(bos_token="<s>", eos_token="</s>")
ROW = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], "tools": None}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_a_yaml_slot_template_renders(tmp_path):
    path = write(tmp_path, "mine.yaml", """
        description: My format
        prefix: [{special: bos}]
        user: "<u>{{content}}</u>\\n<a>"
        assistant: ["{{content}}", {special: eos_token}, "\\n"]
        system: "<sys>{{content}}</sys>\\n"
        stop_words: ["</u>"]
    """)
    template = get_template(path)  # a path goes to the file loader
    assert isinstance(template, SlotTemplate) and template.name == "mine" and template.description == "My format"
    assert render_text(template.render(ROW, TOK)) == "<s><u>Hi</u>\n<a>Yo</s>\n"
    assert get_template(str(path)).name == "mine"


def test_every_problem_is_reported_with_path_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", """
        name: bad
        user: "<u>{{content}}</u>"
        assistant:
          - "{{content}}"
          - {special: eos}
          - {tokn: "<x>"}
        stop_wordz: ["a"]
        efficient_eos: 1
        system: "no placeholder"
    """)
    with pytest.raises(ConfigError) as info:
        load_template_file(path)
    problems = dict(info.value.problems)
    assert problems["assistant[2]"].startswith("line 6: an element must be a string")
    assert problems["stop_wordz"] == "line 7: unknown key"
    assert problems["efficient_eos"].startswith("line 8:")  # 1 is not a boolean (strict, unlike pydantic lax mode)
    assert "line 9: the system slot needs a {{content}} placeholder" == problems["system"]
    assert str(path) in str(info.value)


def test_yaml_syntax_and_shape_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_template_file(write(tmp_path, "broken.yaml", "user: [unclosed\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_template_file(write(tmp_path, "list.yaml", "- a\n- b\n"))
    with pytest.raises(ConfigError, match="kind must be 'slot' or 'jinja'"):
        load_template_file(write(tmp_path, "kind.yaml", "kind: python\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_template_file(tmp_path / "missing.yaml")


def test_based_on_overrides_a_builtin(tmp_path):
    path = write(tmp_path, "pirate.yaml", """
        based_on: qwen
        description: Qwen with a pirate system prompt
        default_system: "You are a pirate."
    """)
    template = load_template_file(path)
    assert template.name == "pirate" and template.stop_words == ("<|im_end|>",) and template.replace_eos
    assert template.render(ROW, TOK)[0].text == "<|im_start|>system\nYou are a pirate.<|im_end|>\n"


def test_jinja_declarations_inline_or_by_path(tmp_path):
    inline = load_template_file(write(tmp_path, "inline.yaml", """
        kind: jinja
        description: inline template
        chat_template: "{% for m in messages %}{{ m.role }}: {{ m.content }}\\n{% endfor %}"
    """))
    assert isinstance(inline, JinjaTemplate) and inline.description == "inline template"
    assert inline.render_text(ROW)[0] == "user: Hi\nassistant: Yo\n"
    write(tmp_path, "t.jinja", "{% for m in messages %}[{{ m.content }}]{% endfor %}")
    by_path = load_template_file(write(tmp_path, "bypath.yaml", "kind: jinja\npath: t.jinja\n"))
    assert by_path.render_text(ROW)[0] == "[Hi][Yo]"
    with pytest.raises(ConfigError, match="exactly one"):
        load_template_file(write(tmp_path, "neither.yaml", "kind: jinja\n"))
    with pytest.raises(ConfigError, match="line 2"):
        load_template_file(write(tmp_path, "nofile.yaml", "kind: jinja\npath: nope.jinja\n"))


def test_jinja_file_is_a_template(tmp_path):
    path = write(tmp_path, "plain.jinja", "{{ messages[0].content }}")
    template = get_template(path)
    assert isinstance(template, JinjaTemplate) and template.name == "plain"


@pytest.mark.parametrize("name", get_registry("templates").names())
def test_builtin_declarations_round_trip_through_yaml(name):
    import yaml

    template = get_template(name)
    if not isinstance(template, SlotTemplate):
        pytest.skip("not a slot template")
    declaration = yaml.safe_load(yaml.safe_dump(template_to_spec(template), allow_unicode=True))
    assert template_from_spec(declaration) == template


def test_builtins_have_one_line_descriptions():
    for entry in get_registry("templates"):
        assert entry.obj.description and "\n" not in entry.obj.description, entry.name


def test_a_plugin_registers_a_yaml_file_by_path(tmp_path, isolated_plugins):
    path = write(tmp_path, "plugin_tpl.yaml", """
        name: from_plugin
        description: registered from a plugin
        user: "Q: {{content}}\\nA: "
    """)
    bad = write(tmp_path, "bad_tpl.yaml", "user: 3\n")

    class Plugin:
        @hookimpl
        def register_templates(self, register):
            register(path)
            register(bad, name="bad_one")

    isolated_plugins(Plugin(), "yaml_plugin")
    registry = get_registry("templates")
    assert render_text(registry.get("from_plugin").render(ROW, TOK)) == "Q: Hi\nA: Yo</s>"
    assert registry.entry("from_plugin").plugin == "yaml_plugin"
    assert "bad_one" not in registry  # the broken declaration is reported, the good one still works
    from templates_hub.plugins import PROBLEMS

    assert any("bad_tpl.yaml" in p for p in PROBLEMS["yaml_plugin"])


def test_unknown_template_names_suggest_close_ones():
    with pytest.raises(PluginError, match="Did you mean 'qwen3'"):
        get_template("qwen33")
