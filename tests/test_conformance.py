"""The conformance kit (``templates_hub.testing``): good components pass, and every broken promise is
caught with a message that names the plugin, the component, the check and the battery case."""

from __future__ import annotations

import json
import pickle
from typing import Any, ClassVar

import pytest

from templates_hub import hookimpl
from templates_hub.errors import TemplateError
from templates_hub.filters.base import Filter
from templates_hub.formats import Converted, Detection, FormatAdapter, RowProblem
from templates_hub.formats.base import message, need_str
from templates_hub.preprocess.supervised import SupervisedPreprocessor
from templates_hub.templates.base import Piece
from templates_hub.testing import (
    ConformanceError,
    check_filter,
    check_format,
    check_plugin,
    check_preprocessor,
    check_template,
    sample_rows,
)

# ------------------------------------------------------------------------------------------- templates


class Wrapped:
    """A template object delegating to a built-in, with one behaviour changed by a subclass."""

    efficient_eos = False
    kind = "custom"

    def __init__(self, base: str = "chatml", name: str = "wrapped"):
        from templates_hub.templates import get_template

        self.base = get_template(base)
        self.name = name
        self.stop_words = self.base.stop_words

    def render(self, conversation, tokens=None, options=None):
        return self.base.render(conversation, tokens, options)

    def effective_eos(self, tokens):
        return self.base.effective_eos(tokens)

    def to_jinja(self):
        return self.base.to_jinja()


class CountsTurns(Wrapped):
    """Writes the number of messages first: the prompt of an earlier turn is not a prefix."""

    def render(self, conversation, tokens=None, options=None):
        head = Piece(f"({len(conversation['messages'])} messages)\n", False, 0, "prefix")
        return [head, *super().render(conversation, tokens, options)]


class TrainsNothing(Wrapped):
    def render(self, conversation, tokens=None, options=None):
        return [Piece(p.text, False, p.turn, p.slot, p.special, p.message)
                for p in super().render(conversation, tokens, options)]


class Unpicklable(Wrapped):
    def __init__(self):
        super().__init__(name="unpicklable")
        self.callback = lambda: None


class WrongJinja(Wrapped):
    def to_jinja(self):
        from templates_hub.templates import get_template

        return get_template("qwen").to_jinja()


class NoTools(Wrapped):
    def render(self, conversation, tokens=None, options=None):
        if conversation.get("tools"):
            raise TemplateError(f"template {self.name!r} does not support tools")
        return super().render(conversation, tokens, options)


def test_a_builtin_template_passes_every_check():
    report = check_template("chatml")
    assert report.ok, report.format()
    assert report.plugin == "templates_hub.templates.builtin"
    assert report.checks == ["renders", "picklable", "prefix_stable", "assistant_trained", "end_of_turn_trained",
                             "to_jinja_round_trip"]


def test_a_template_without_an_end_token_fails_end_of_turn():
    from templates_hub.templates.slot import slot_template

    report = check_template(slot_template("no_eos", user="U: {{content}}\nA: ", assistant="{{content}}\n"),
                            plugin="acme")
    assert not report.ok and {f.check for f in report.failures} == {"end_of_turn_trained"}
    line = next(m for m in report.messages() if "[case multi_turn]" in m)
    assert line.startswith("plugin 'acme': template 'no_eos': end_of_turn_trained [case multi_turn]: 3 answer(s)")
    assert "trained 0 time(s)" in line


@pytest.mark.parametrize("template,check,needle", [
    (CountsTurns(name="counts"), "prefix_stable", "is not a prefix of the full rendering: they differ at character 1"),
    (TrainsNothing(name="mute"), "assistant_trained", "messages[1] (assistant) has no trained token"),
    (Unpicklable(), "picklable", "cannot be pickled"),
    (WrongJinja(name="wrong_jinja"), "to_jinja_round_trip", "the Jinja form renders different text from character"),
])
def test_broken_templates_fail_the_right_check(template, check, needle):
    report = check_template(template)
    assert check in {f.check for f in report.failures}, report.format()
    assert any(needle in f.message for f in report.failures if f.check == check), report.format()
    with pytest.raises(ConformanceError, match=f"template '{template.name}'"):
        report.raise_for_failures()


def test_an_unsupported_feature_is_reported_with_the_way_to_skip_it():
    report = check_template(NoTools(name="no_tools"))
    failing = {f.case for f in report.failures}
    assert {"tool_call", "parallel_tool_calls", "tools_no_call"} <= failing and "single_turn" not in failing
    assert "skip_features={'tools'" in next(f.message for f in report.failures if f.case == "tools_no_call")
    assert check_template(NoTools(name="no_tools"), skip_features={"tools"}).ok


def test_agreement_with_a_tokenizers_own_chat_template(templates_hub_tokenizer):
    from templates_hub.templates import get_template

    templates_hub_tokenizer.chat_template = get_template("chatml").to_jinja()
    report = check_template("chatml", reference_tokenizer=templates_hub_tokenizer)
    assert report.ok and "matches_tokenizer" in report.checks, report.format()
    templates_hub_tokenizer.chat_template = get_template("qwen").to_jinja()  # qwen adds a default system prompt
    report = check_template("chatml", reference_tokenizer=templates_hub_tokenizer, cases=["single_turn", "system"])
    assert [(f.check, f.case) for f in report.failures] == [("matches_tokenizer", "single_turn")]


def test_unknown_checks_and_features_are_refused():
    with pytest.raises(ValueError, match="unknown template check"):
        check_template("chatml", checks=["renderz"])
    with pytest.raises(ValueError, match="unknown battery feature"):
        check_template("chatml", skip_features={"toolz"})


# ------------------------------------------------------------------------------------------- filters


class ShortAnswers(Filter):
    """Drop answers shorter than `min` characters."""

    name: ClassVar[str] = "t_short"
    min: int = 3

    def check(self, row):
        answer = (row.get("chosen") or (row.get("messages") or [{}])[-1]).get("content") or ""
        return f"answer shorter than {self.min}" if len(answer.strip()) < self.min else None


class WrongCount(Filter):
    name: ClassVar[str] = "t_wrong_count"

    def __call__(self, batch):
        return [None]


class Silent(Filter):
    name: ClassVar[str] = "t_silent"

    def check(self, row):
        return "" if "?" in row["messages"][-1]["content"] else None


class FirstOfBatch(Filter):
    name: ClassVar[str] = "t_first_of_batch"

    def __call__(self, batch):
        n = len(batch["messages"])
        return ["first row of its batch" if i == 0 and n > 1 else None for i in range(n)]


def _chat(answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "Say something."}, {"role": "assistant", "content": answer}]}


def test_a_good_filter_passes_with_examples():
    report = check_filter(ShortAnswers, keep=[_chat("Fine.")], drop=[_chat("ok")], plugin="acme")
    assert report.ok, report.format()
    assert report.checks == ["instantiable", "batch_contract", "reasons", "batch_independent", "picklable",
                             "apply_filters", "examples"]


@pytest.mark.parametrize("flt,check,needle", [
    (WrongCount, "batch_contract", "returned 1 verdicts for a batch of 13 sft rows"),
    (Silent, "reasons", "dropped without a reason"),
    (FirstOfBatch, "batch_independent", "decides None alone but 'first row of its batch' in a batch"),
])
def test_broken_filters_fail_the_right_check(flt, check, needle):
    report = check_filter(flt)
    assert any(f.check == check and needle in f.message for f in report.failures), report.format()


def test_filter_examples_and_pickling_are_checked():
    report = check_filter(ShortAnswers, keep=[_chat("ok")], drop=[_chat("A long answer.")])
    assert {(f.check, f.case) for f in report.failures} == {("examples", "keep[0]"), ("examples", "drop[0]")}

    def local_batch_function(batch):  # not importable by name: cannot go to num_proc workers
        return [None] * len(batch["messages"])

    report = check_filter(local_batch_function, kinds=["sft"])
    assert [f.check for f in report.failures] == ["picklable"], report.format()
    with pytest.raises(ValueError, match=r"keep\[0\] is not a valid canonical sft row"):
        check_filter(ShortAnswers, keep=[{"messages": [{"role": "user", "content": ""}]}])


def test_a_filter_that_needs_parameters_is_noted_not_failed():
    report = check_filter("regex")
    assert report.ok and "cannot be built without parameters" in report.notes[0]
    report = check_filter("regex", params={"pattern": "Paris"})
    assert report.ok and "apply_filters" in report.checks, report.format()


# ------------------------------------------------------------------------------------------- preprocessors


class IgnoresCutoff(SupervisedPreprocessor):
    name: ClassVar[str] = "t_ignores_cutoff"

    def check(self):
        super().check()
        self.cutoff_len = 1 << 30


class ShiftedLabels(SupervisedPreprocessor):
    name: ClassVar[str] = "t_shifted_labels"

    def encode_rows(self, batch):
        rows = []
        for ids, labels, trained, reason in super().encode_rows(batch):
            labels = [label if label == -100 else label + 1 for label in labels]
            rows.append((ids, labels, trained, reason))
        return rows


class LosesRows(SupervisedPreprocessor):
    name: ClassVar[str] = "t_loses_rows"

    def process(self, batch):
        out = super().process(batch)
        return {k: v[1:] for k, v in out.items()}


class HoldsALambda(SupervisedPreprocessor):
    name: ClassVar[str] = "t_lambda"

    def check(self):
        super().check()
        self.transform = lambda ids: ids


def test_a_builtin_preprocessor_passes_every_check():
    report = check_preprocessor("supervised")
    assert report.ok, report.format()
    assert report.checks == ["instantiable", "batch_contract", "features", "label_invariants", "cutoff", "picklable",
                             "preprocess_dataset"]


@pytest.mark.parametrize("factory,check,needle", [
    (IgnoresCutoff, "cutoff", "more than cutoff_len=16"),
    (ShiftedLabels, "label_invariants", "a label must be -100 or the token at its position"),
    (LosesRows, "batch_contract", "one row per input row: 13 in, 12 out"),
    (HoldsALambda, "picklable", "cannot be pickled"),
])
def test_broken_preprocessors_fail_the_right_check(factory, check, needle):
    report = check_preprocessor(factory, plugin="acme")
    assert any(f.check == check and needle in f.message for f in report.failures), report.format()
    assert report.messages()[0].startswith(f"plugin 'acme': preprocessor '{factory.name}': ")
    assert "preprocess_dataset: not checked" in " ".join(report.notes)  # not registered under its name


# ------------------------------------------------------------------------------------------- formats


class PromptResponse(FormatAdapter):
    name = "t_prompt_response"
    kinds = ("sft",)
    writable = True
    defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def detect(cls, sample):
        hits = sum(1 for r in sample if "prompt" in r and "response" in r)
        return Detection(hits / len(sample), "sft") if sample and hits else None

    def convert(self, record):
        return Converted({"messages": [message("user", need_str(record.get("prompt"), "prompt")),
                                       message("assistant", need_str(record.get("response"), "response"))],
                          "tools": None})

    def write(self, row):
        messages = row["messages"]
        if [m["role"] for m in messages] != ["user", "assistant"] or row.get("tools") or any(
                m.get("tool_calls") or m.get("reasoning") for m in messages):
            raise RowProblem("messages", "one prompt and one plain answer only", "unrepresentable")
        return {"prompt": messages[0]["content"], "response": messages[1]["content"]}


class Lossy(PromptResponse):
    name = "t_lossy"

    def write(self, row):
        messages = [m for m in row["messages"] if m["role"] != "system"]  # silently drops the system prompt
        return super().write({**row, "messages": messages})


class FragileDetect(PromptResponse):
    name = "t_fragile"

    @classmethod
    def detect(cls, sample):
        return Detection(1.0, "sft") if sample[0]["prompt"] else None  # IndexError / KeyError on others' data


def test_format_checks():
    samples = [{"prompt": "2+2?", "response": "4"}]
    assert check_format(PromptResponse, samples=samples).ok
    report = check_format(Lossy, samples=samples)
    assert [(f.check, f.case) for f in report.failures] == [("write_round_trip", "system")]
    assert "messages: 3 messages ['system', 'user', 'assistant'] became 2 ['user', 'assistant']" in \
        report.failures[0].message
    report = check_format(FragileDetect)
    assert {f.case for f in report.failures if f.check == "detect"} >= {"empty sample", "foreign record 0"}
    report = check_format(PromptResponse, samples=[{"prompt": "2+2?"}])
    failures = {(f.check, f.case): f.message for f in report.failures}
    assert set(failures) == {("detect", "samples"), ("convert", "samples[0]")}
    assert "response: required field is missing" in failures[("convert", "samples[0]")]


# ------------------------------------------------------------------------------------------- whole plugins


class CollidingPlugin:
    __name__ = "t_colliding"

    @staticmethod
    @hookimpl
    def register_templates(register):
        register({"user": "{{content}}", "assistant": ["{{content}}", {"special": "eos_token"}]}, name="qwen")
        register({"user": "{{content}}", "assistant": ["{{content}}", {"special": "eos_token"}]}, name="chatml",
                 override=True)

    @staticmethod
    @hookimpl
    def register_filters(register):
        register(WrongCount)


def test_check_plugin_reports_collisions_overrides_and_components(isolated_plugins):
    isolated_plugins(CollidingPlugin(), "t_colliding")
    reports = {(r.kind, r.component): r for r in check_plugin("t_colliding")}
    plugin = reports[("plugin", "t_colliding")]
    assert [f.check for f in plugin.failures] == ["registers"]
    assert "'qwen' is registered by both plugin 'templates_hub.templates.builtin' and plugin 't_colliding'" in \
        plugin.failures[0].message
    assert plugin.notes == ["overrides template 'chatml' of plugin 'templates_hub.templates.builtin' (override=True)"]
    assert reports[("template", "chatml")].ok
    assert ("template", "qwen") not in reports  # the conflicting name is not checked as the plugin's
    assert not reports[("filter", "t_wrong_count")].ok


class BrokenHook:
    __name__ = "t_broken"

    @staticmethod
    @hookimpl
    def register_formats(register):
        raise RuntimeError("cannot read my config")


def test_plugins_check_command(isolated_plugins, cli_runner):
    from templates_hub.cli import main

    isolated_plugins(CollidingPlugin(), "t_colliding")
    isolated_plugins(BrokenHook(), "t_broken")
    result = cli_runner.invoke(main, ["plugins", "--check", "--plugin", "t_colliding", "--plugin", "t_broken"])
    assert result.exit_code == 1
    stdout = getattr(result, "stdout", result.output)
    assert "FAIL t_colliding:" in stdout and "FAIL t_broken: 1 failure(s)" in stdout
    assert "plugin 't_broken': loads: hook register_formats raised RuntimeError: cannot read my config" in stdout
    assert "filter 't_wrong_count': batch_contract: returned 1 verdicts" in stdout
    assert "0 of 2 plugin(s) conform" in stdout

    result = cli_runner.invoke(main, ["plugins", "--check", "--plugin", "t_broken", "--json"])
    payload = json.loads(getattr(result, "stdout", result.output))
    assert result.exit_code == 1 and payload["ok"] is False
    assert payload["plugins"]["t_broken"][0]["failures"][0]["check"] == "loads"

    result = cli_runner.invoke(main, ["plugins", "--check", "--plugin", "nope"])
    assert result.exit_code == 2 and "no plugin named 'nope'" in result.output
    result = cli_runner.invoke(main, ["plugins", "--plugin", "t_broken"])
    assert result.exit_code == 2 and "options of --check" in result.output


def test_plugins_check_passes_for_a_conforming_plugin(isolated_plugins, cli_runner):
    from templates_hub.cli import main

    class Good:
        __name__ = "t_good"

        @staticmethod
        @hookimpl
        def register_filters(register):
            register(ShortAnswers)

    isolated_plugins(Good(), "t_good")
    result = cli_runner.invoke(main, ["plugins", "--check", "--plugin", "t_good"])
    assert result.exit_code == 0, result.output
    assert "ok   t_good: filter t_short" in getattr(result, "stdout", result.output)


def test_sample_rows_cover_every_kind_and_are_picklable():
    for kind in ("sft", "preference", "kto", "text"):
        rows = sample_rows(kind)
        assert len(rows) >= 12 and [row["_row"] for _, row in rows] == list(range(1, len(rows) + 1))
    assert pickle.loads(pickle.dumps(ShortAnswers())).check(sample_rows("sft")[0][1]) is None
