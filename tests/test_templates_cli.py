"""CLI: render, check-template, template to-jinja / show, list templates."""

from __future__ import annotations

import json

import pytest
import yaml

from templates_hub.cli import main
from templates_hub.templates import get_template
from templates_hub.templates.spec import template_from_spec

ALPACA = [
    {"instruction": "Say hi", "input": "", "output": "Hi!"},
    {"instruction": "Add", "input": "2+2", "output": "4"},
    {"instruction": "Colour?", "input": "", "output": "Blue."},
]


@pytest.fixture
def alpaca_file(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(ALPACA), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def chatml_tokenizer_dir(tmp_path_factory):
    """The tiny tokenizer carrying chatml@hf's Jinja form as its own chat_template."""
    from templates_hub.tiny import build_tiny_tokenizer

    path = tmp_path_factory.mktemp("chatml_tok")
    build_tiny_tokenizer(chat_template=get_template("chatml@hf").to_jinja()).save_pretrained(path)
    return path


def test_render_json_lines(cli_runner, alpaca_file, tiny_tokenizer_dir):
    result = cli_runner.invoke(main, ["render", str(alpaca_file), "-t", "qwen", "--tokenizer", str(tiny_tokenizer_dir),
                                      "--rows", "1:3", "--json", "--ids"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["index"] for line in lines] == [1, 2]
    sample = lines[0]["samples"][0]
    assert sample["text"].endswith("<|im_start|>user\nAdd\n2+2<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n")
    assert [p["slot"] for p in sample["pieces"]] == ["system", "user", "assistant"]
    trained = [i for i, label in zip(sample["input_ids"], sample["labels"], strict=True) if label != -100]
    assert trained and len(sample["input_ids"]) == len(sample["labels"])


def test_render_coloured_text(cli_runner, alpaca_file, tiny_tokenizer_dir):
    result = cli_runner.invoke(main, ["render", str(alpaca_file), "-t", "llama2", "--tokenizer", str(tiny_tokenizer_dir),
                                      "--rows", "0", "--ids"])
    assert result.exit_code == 0, result.output
    assert "[INST] Say hi [/INST]" in result.stdout and "tokens," in result.stdout and "legend" in result.stdout


def test_render_preference_rows_show_both_answers(cli_runner, tmp_path, tiny_tokenizer_dir):
    path = tmp_path / "pref.jsonl"
    path.write_text(json.dumps({"prompt": [{"role": "user", "content": "Pick"}],
                                "chosen": [{"role": "assistant", "content": "Good"}],
                                "rejected": [{"role": "assistant", "content": "Bad"}]}) + "\n", encoding="utf-8")
    result = cli_runner.invoke(main, ["render", str(path), "-t", "chatml", "--tokenizer", str(tiny_tokenizer_dir),
                                      "--json"])
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout.splitlines()[-1])["samples"]
    assert [s["sequence"] for s in samples] == ["chosen", "rejected"]
    assert samples[0]["text"].endswith("Good<|im_end|>\n") and samples[1]["text"].endswith("Bad<|im_end|>\n")


def test_render_usage_errors(cli_runner, alpaca_file, tiny_tokenizer_dir):
    bad_rows = cli_runner.invoke(main, ["render", str(alpaca_file), "-t", "qwen", "--tokenizer", "tiny", "--rows", "x"])
    assert bad_rows.exit_code == 2 and "--rows" in bad_rows.output
    past_end = cli_runner.invoke(main, ["render", str(alpaca_file), "-t", "qwen", "--tokenizer", "tiny", "--rows", "9:10"])
    assert past_end.exit_code == 2 and "only 3 valid row" in past_end.output
    unknown = cli_runner.invoke(main, ["render", str(alpaca_file), "-t", "qwen33", "--tokenizer", "tiny"])
    assert unknown.exit_code == 2 and "Did you mean" in unknown.output


def test_check_template_passes_against_an_equal_tokenizer_template(cli_runner, chatml_tokenizer_dir):
    result = cli_runner.invoke(main, ["check-template", "chatml@hf", "--tokenizer", str(chatml_tokenizer_dir)])
    assert result.exit_code == 0, result.output
    assert "differs" not in result.output and "14 equal" in result.output


def test_check_template_fails_with_a_diff(cli_runner, chatml_tokenizer_dir):
    result = cli_runner.invoke(main, ["check-template", "chatml", "--tokenizer", str(chatml_tokenizer_dir),
                                      "--skip", "tools"])
    assert result.exit_code == 1
    assert "differs  empty_system" in result.output and "-<|im_start|>system⏎" in result.output
    as_json = cli_runner.invoke(main, ["check-template", "chatml", "--tokenizer", str(chatml_tokenizer_dir), "--json",
                                       "--case", "empty_system", "--case", "single_turn"])
    report = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and not report["ok"]
    assert {c["case"]: c["status"] for c in report["cases"]} == {"single_turn": "equal", "empty_system": "differs"}


def test_check_template_needs_a_chat_template(cli_runner, tiny_tokenizer_dir):
    result = cli_runner.invoke(main, ["check-template", "qwen", "--tokenizer", str(tiny_tokenizer_dir)])
    assert result.exit_code == 2 and "has no chat_template" in result.output
    # the message fits the command: check-template has no --template option, the reference is the problem
    assert "--template" not in result.output and str(tiny_tokenizer_dir) in result.output
    assert "pass a tokenizer that has one" in result.output
    bad = cli_runner.invoke(main, ["check-template", "qwen", "--tokenizer", "tiny", "--skip", "nope"])
    assert bad.exit_code == 2 and "unknown feature" in bad.output


def test_check_template_with_a_base_model_tokenizer(cli_runner, tmp_path):
    """gpt2 (a base model's tokenizer, no chat_template): the same message, not a --template hint."""
    from shared_paths import shared_tokenizer

    shared_tokenizer("gpt2").save_pretrained(tmp_path)
    result = cli_runner.invoke(main, ["check-template", "qwen", "--tokenizer", str(tmp_path)])
    assert result.exit_code == 2 and "has no chat_template" in result.output and "--template" not in result.output


def test_check_template_unknown_case_lists_the_cases(cli_runner):
    from templates_hub.templates.battery import battery

    result = cli_runner.invoke(main, ["check-template", "qwen", "--tokenizer", "tiny", "--case", "nope"])
    assert result.exit_code == 2 and "nope" in result.output and "Traceback" not in result.output
    assert all(case.name in result.output for case in battery())
    emptied = cli_runner.invoke(main, ["check-template", "qwen", "--tokenizer", "tiny", "--case", "tool_call",
                                       "--skip", "tool_calls"])
    assert emptied.exit_code == 2 and "nothing to compare" in emptied.output


def test_render_piped_output_labels_trained_and_masked(cli_runner, alpaca_file, tiny_tokenizer_dir):
    """CliRunner output is not a terminal: trained vs masked must be readable without colour."""
    args = ["render", str(alpaca_file), "-t", "qwen", "--tokenizer", str(tiny_tokenizer_dir), "--rows", "1", "--ids"]
    result = cli_runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    sample = json.loads(cli_runner.invoke(main, [*args, "--json"]).stdout.splitlines()[-1])["samples"][0]
    lines = result.stdout.splitlines()
    # the ids, span by span, under their label; together they are the sequence, in order
    id_spans = [line.split(maxsplit=1) for line in lines if line.startswith(("  trained ", "  masked "))
                and line.split()[1].isdigit()]
    assert [label for label, _ in id_spans] == ["masked", "trained"]
    assert [int(i) for _, ids in id_spans for i in ids.split()] == sample["input_ids"]
    trained_ids = [int(i) for label, ids in id_spans if label == "trained" for i in ids.split()]
    assert trained_ids == [label for label in sample["labels"] if label != -100]
    # the text, span by span, as JSON strings
    text_spans = [line.split(maxsplit=1) for line in lines if line.startswith(("  trained \"", "  masked  \""))]
    assert [label for label, _ in text_spans] == ["masked", "trained"]
    assert "".join(json.loads(text) for _, text in text_spans) == sample["text"]
    assert json.loads(text_spans[1][1]) == "4<|im_end|>\n"


def test_template_to_jinja_and_show(cli_runner, tmp_path):
    out = tmp_path / "chat_template.jinja"
    result = cli_runner.invoke(main, ["template", "to-jinja", "llama3", "--out", str(out), "--generation-tags"])
    assert result.exit_code == 0 and "{%- generation -%}" in out.read_text()
    printed = cli_runner.invoke(main, ["template", "to-jinja", "qwen"])
    assert printed.exit_code == 0 and printed.stdout.startswith("{#- Generated by templates-hub")
    shown = cli_runner.invoke(main, ["template", "show", "glm4"])
    assert shown.exit_code == 0 and shown.stdout.startswith("# LLaMA-Factory's 'glm4'")
    assert template_from_spec(yaml.safe_load(shown.stdout)) == get_template("glm4").replace(lf_name=None)


def test_list_templates_shows_descriptions(cli_runner):
    result = cli_runner.invoke(main, ["list", "templates", "--json"])
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["qwen3"]["description"].startswith("Qwen3 reasoning template")
    assert rows["qwen@hf"]["plugin"] == "templates_hub.templates.builtin"
