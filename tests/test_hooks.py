"""One test per hook: an in-test plugin implements it, and what it registered is used through the API/CLI.

``tests/test_plugin_docs.py::test_every_hook_has_a_test`` fails for a hookspec without a
``test_hook_<name>`` function somewhere in tests/ (datasette's ``test_plugin_hooks_have_tests``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from templates_hub import hookimpl
from templates_hub.errors import PluginError
from templates_hub.filters.base import Filter
from templates_hub.plugins import describe_plugins, get_registry


def _msg(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": None, "reasoning": None, "train": None}


def _chat(question: str, answer: str, row: int) -> dict[str, Any]:
    return {"messages": [_msg("user", question), _msg("assistant", answer)], "tools": None, "_row": row}


def _dataset(rows: list[dict[str, Any]]):
    from datasets import Dataset

    from templates_hub.schemas import features

    return Dataset.from_list(rows, features=features("sft"))


# ------------------------------------------------------------------------------------------- register_formats


def test_hook_register_formats(isolated_plugins, tmp_path):
    from templates_hub.formats import Converted, Detection, FormatAdapter
    from templates_hub.formats.base import message, need_str
    from templates_hub.io import load_canonical

    class PipeFormat(FormatAdapter):
        """Records {"qa": "question|answer"}."""

        name = "hook_pipe"
        description = "question|answer in one column"
        kinds = ("sft",)

        @classmethod
        def detect(cls, sample):
            hits = sum(1 for r in sample if isinstance(r.get("qa"), str) and "|" in r["qa"])
            return Detection(hits / len(sample), "sft", {}, "qa column with a |") if sample and hits else None

        def convert(self, record):
            question, _, answer = (need_str(record.get("qa"), "qa") or "").partition("|")
            return Converted({"messages": [message("user", question), message("assistant", answer)], "tools": None},
                             {"messages[0].content": "qa", "messages[1].content": "qa"})

    class Plugin:
        __name__ = "hook_formats_plugin"

        @staticmethod
        @hookimpl
        def register_formats(register):
            register(PipeFormat)

    isolated_plugins(Plugin(), "hook_formats_plugin")
    assert get_registry("formats").entry("hook_pipe").plugin == "hook_formats_plugin"
    data = tmp_path / "qa.jsonl"
    data.write_text('{"qa": "What is 6*7?|42"}\n{"qa": "Capital of France?|"}\n', encoding="utf-8")
    loaded = load_canonical(data)  # auto-detected: the plugin's format competes with the built-ins
    assert loaded.format == "hook_pipe" and loaded.detected
    assert loaded.dataset[0]["messages"][1]["content"] == "42"
    assert [(issue.row, issue.field) for issue in loaded.rejects] == [(2, "qa")]  # empty answer, located in "qa"


# ------------------------------------------------------------------------------------------- register_filters


def _no_questions(batch):
    """Drop rows whose answer ends with a question mark."""
    return [("answer is a question" if m[-1]["content"].rstrip().endswith("?") else None) for m in batch["messages"]]


class MinWords(Filter):
    """Drop answers with fewer than `words` words (module level: datasets pickles filters)."""

    name: ClassVar[str] = "hook_min_words"
    words: int = Field(default=2, ge=1)

    def check(self, row):
        n = len(row["messages"][-1]["content"].split())
        return f"answer has {n} word(s), fewer than {self.words}" if n < self.words else None


def test_hook_register_filters(isolated_plugins):
    from templates_hub.filters import apply_filters

    class Plugin:
        __name__ = "hook_filters_plugin"

        @staticmethod
        @hookimpl
        def register_filters(register):
            register(MinWords)  # a class: its fields are the recipe parameters
            register(_no_questions, name="hook_no_questions")  # a plain batch function

    isolated_plugins(Plugin(), "hook_filters_plugin")
    rows = [_chat("Hi", "Hello there, friend.", 1), _chat("Hi", "Hello.", 2), _chat("Hi", "Who are you then?", 3)]
    result = apply_filters(_dataset(rows), [{"name": "hook_min_words", "words": 2}, "hook_no_questions"])
    assert [r["_row"] for r in result.kept] == [1]
    assert [(i.row, i.kind, i.reason) for i in result.rejects] == [
        (2, "hook_min_words", "answer has 1 word(s), fewer than 2"),
        (3, "hook_no_questions", "answer is a question"),
    ]
    assert get_registry("filters").entry("hook_no_questions").plugin == "hook_filters_plugin"


# ------------------------------------------------------------------------------------------- register_templates

JINJA = ("{% for m in messages %}<<{{ m.role }}>>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
         "{{ eos_token }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}"
         "{% if add_generation_prompt %}<<assistant>>{% endif %}")


def test_hook_register_templates(isolated_plugins, tmp_path, tiny_tokenizer, tiny_tokenizer_dir, cli_runner):
    from templates_hub.cli import main
    from templates_hub.templates import SpecialTokens, get_template
    from templates_hub.templates.base import render_text
    from templates_hub.templates.slot import slot_template

    yaml_file = tmp_path / "hook_yaml.yaml"
    yaml_file.write_text('user: "Q: {{content}}\\nA: "\nassistant: ["{{content}}", {special: eos_token}]\n',
                         encoding="utf-8")
    jinja_file = tmp_path / "hook.jinja"
    jinja_file.write_text(JINJA, encoding="utf-8")
    chatml = get_template("chatml")

    class Plugin:
        __name__ = "hook_templates_plugin"

        @staticmethod
        @hookimpl
        def register_templates(register):
            register(slot_template("hook_object", user="U:{{content}}\n", assistant=["{{content}}", "\n"]))
            register({"user": "<u>{{content}}</u>", "assistant": "{{content}}</a>"}, name="hook_dict")
            register(yaml_file)  # named after the file (no name: key)
            register(jinja_file, name="hook_jinja")
            register(chatml.replace(default_system="Plugin default."), name="chatml", override=True)

    isolated_plugins(Plugin(), "hook_templates_plugin")
    registry = get_registry("templates")
    for name in ("hook_object", "hook_dict", "hook_yaml", "hook_jinja"):
        assert registry.entry(name).plugin == "hook_templates_plugin"
    assert registry.entry("chatml").overrides == "templates_hub.templates.builtin"
    described = {d["name"]: d for d in describe_plugins()}["hook_templates_plugin"]
    assert described["overrides"] == [{"kind": "templates", "name": "chatml",
                                       "replaces": "templates_hub.templates.builtin"}]

    row = {"messages": [_msg("user", "hi"), _msg("assistant", "yo")], "tools": None}
    tokens = SpecialTokens.from_tokenizer(tiny_tokenizer)
    assert render_text(get_template("hook_object").render(row, tokens)) == "U:hi\nyo\n"
    assert render_text(get_template("hook_dict").render(row, tokens)) == "<u>hi</u>yo</a>"
    assert render_text(get_template("hook_yaml").render(row, tokens)) == "Q: hi\nA: yo</s>"
    pieces = get_template("hook_jinja").render(row, tokens)
    assert [p.text for p in pieces if p.trainable] == ["yo</s>"]
    assert "Plugin default." in render_text(get_template("chatml").render(row, tokens))

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "yo"}]}) + "\n", encoding="utf-8")
    result = cli_runner.invoke(main, ["render", str(data), "-t", "hook_yaml", "--tokenizer", str(tiny_tokenizer_dir),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(getattr(result, "stdout", result.output).strip().splitlines()[-1])["samples"][0]["text"] == \
        "Q: hi\nA: yo</s>"


def test_a_plugin_cannot_silently_replace_a_builtin(isolated_plugins):
    class Plugin:
        __name__ = "hook_sneaky_plugin"

        @staticmethod
        @hookimpl
        def register_templates(register):
            register({"user": "{{content}}", "assistant": "{{content}}"}, name="qwen")  # no override=True

    isolated_plugins(Plugin(), "hook_sneaky_plugin")
    with pytest.raises(PluginError, match="'templates_hub.templates.builtin' and 'hook_sneaky_plugin'"):
        get_registry("templates").get("qwen")
    described = {d["name"]: d for d in describe_plugins()}["hook_sneaky_plugin"]
    assert described["overrides"] == [] and "override=True" in described["problems"][0]


# ------------------------------------------------------------------------------------------- register_preprocessors


def test_hook_register_preprocessors(isolated_plugins, tiny_tokenizer):
    from templates_hub.preprocess import PreprocessConfig, preprocess_dataset
    from templates_hub.preprocess.supervised import SupervisedPreprocessor
    from templates_hub.templates import get_template

    class EverythingTrained(SupervisedPreprocessor):
        """Supervised rows whose prompt tokens are trained too (train_on_prompt, always)."""

        name: ClassVar[str] = "hook_everything"

        def check(self):
            self.config = self.config.model_copy(update={"train_on_prompt": True})
            super().check()

    class Plugin:
        __name__ = "hook_preprocessors_plugin"

        @staticmethod
        @hookimpl
        def register_preprocessors(register):
            register(EverythingTrained)

    isolated_plugins(Plugin(), "hook_preprocessors_plugin")
    assert get_registry("preprocessors").entry("hook_everything").plugin == "hook_preprocessors_plugin"
    rows = _dataset([_chat("What is 2 + 2?", "4.", 1), _chat("Hi", "Hello!", 2)])
    config = PreprocessConfig(preprocessor="hook_everything", cutoff_len=64)
    result = preprocess_dataset(rows, template=get_template("chatml"), tokenizer=tiny_tokenizer, config=config,
                                progress=False)
    assert result.preprocessor == "hook_everything" and result.stats["rows_out"] == 2
    for row in result.dataset:
        assert row["labels"] == row["input_ids"]  # every token trained
    plain = preprocess_dataset(rows, template=get_template("chatml"), tokenizer=tiny_tokenizer,
                               config=PreprocessConfig(cutoff_len=64), progress=False)
    assert -100 in plain.dataset[0]["labels"]  # the built-in default still masks the prompt


# ------------------------------------------------------------------------------------------- register_exporters


def test_hook_register_exporters(isolated_plugins, tmp_path):
    from templates_hub.export.api import export_dataset
    from templates_hub.export.base import BaseExporter, BuildOutput
    from templates_hub.export.records import write_split

    class LinesExporter(BaseExporter):
        name: ClassVar[str] = "hook_lines"
        description: ClassVar[str] = "OpenAI messages, one JSON object per line"
        kinds: ClassVar[tuple[str, ...]] = ("sft",)

        def build(self, ctx, staged):
            written = write_split(ctx, staged, "train", "train.jsonl", layout="openai")
            return BuildOutput(commands=[f"mytool train {ctx.export_dir / 'train.jsonl'}"],
                               manifest={"counts": {"train": written.rows}})

    class Plugin:
        __name__ = "hook_exporters_plugin"

        @staticmethod
        @hookimpl
        def register_exporters(register):
            register(LinesExporter)  # a class is instantiated without arguments

    isolated_plugins(Plugin(), "hook_exporters_plugin")
    assert get_registry("exporters").entry("hook_lines").plugin == "hook_exporters_plugin"
    result = export_dataset(_dataset([_chat("Hi", "Hello!", 1), _chat("2+2?", "4", 2)]), target="hook_lines",
                            out_dir=tmp_path, name="mine", progress=False)
    lines = (Path(result.export_dir) / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["messages"][1]["content"] for line in lines] == ["Hello!", "4"]
    assert result.commands == [f"mytool train {tmp_path / 'mine' / 'train.jsonl'}"]
    assert (Path(result.export_dir) / "manifest.json").is_file()
