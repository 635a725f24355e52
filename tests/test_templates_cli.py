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
    bad = cli_runner.invoke(main, ["check-template", "qwen", "--tokenizer", "tiny", "--skip", "nope"])
    assert bad.exit_code == 2 and "unknown feature" in bad.output


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
