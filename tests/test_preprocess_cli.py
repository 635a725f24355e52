"""``templates-hub preprocess RECIPE`` and ``preprocess_recipe``: LLaMA-Factory's tokenized_path layout."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from templates_hub.cli import main

ROWS = [
    {"instruction": f"Question number {i}?", "input": "", "output": f"Answer number {i}, with some more words."}
    for i in range(40)
] + [{"instruction": "Only a question", "input": "", "output": ""}]


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "name: tok\n"
        "data:\n  path: data.jsonl\n  format: alpaca\n"
        "split:\n  val_size: 0.2\n  seed: 1\n"
        "template: qwen\n"
        "tokenizer: tiny\n"
        "preprocess:\n  cutoff_len: 64\n",
        encoding="utf-8",
    )
    return path


def test_cli_writes_a_tokenized_dataset_dict(cli_runner, recipe, tmp_path):
    out = tmp_path / "tokenized"
    result = cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    loaded = datasets.load_from_disk(str(out))
    assert set(loaded) == {"train", "validation"}
    assert loaded["train"].column_names == ["input_ids", "attention_mask", "labels", "images", "videos", "audios"]
    assert loaded["train"].features["input_ids"].feature.dtype == "int32"
    assert json.loads((out / "dataset_dict.json").read_text())["splits"] == ["train", "validation"]
    report = json.loads((out / "preprocess_report.json").read_text())
    assert report["preprocessor"] == "supervised" and report["template"] == "qwen"
    stats = report["splits"]
    assert stats["train"]["rows_out"] + stats["validation"]["rows_out"] == 40
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["step"], r["row"]) for r in rejects] == [("validate", 41)]


def test_cli_overrides_and_summary(cli_runner, recipe, tmp_path):
    out = tmp_path / "packed"
    result = cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(out), "--set",
                                      "preprocess.packing=true", "--set", "preprocess.cutoff_len=128"])
    assert result.exit_code == 0, result.output
    assert "fill" in result.output and "tokenized_path" in result.output
    train = datasets.load_from_disk(str(out))["train"]
    assert "position_ids" in train.column_names and {len(x) for x in train["input_ids"]} == {128}
    again = cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(out), "--json", "--set",
                                     "preprocess.cutoff_len=32"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["cutoff_len"] == 32 and "packs" not in report["splits"]["train"]
    assert max(len(x) for x in datasets.load_from_disk(str(out))["train"]["input_ids"]) <= 32
    assert not list(tmp_path.glob(".packed*"))  # the temporary folders are gone


def test_cli_errors_are_messages(cli_runner, recipe, tmp_path):
    bad = cli_runner.invoke(main, ["preprocess", str(recipe), "--set", "preprocess.cutoff_len=0"])
    assert bad.exit_code != 0 and "cutoff_len" in bad.output and "Traceback" not in bad.output
    text = recipe.read_text().replace("template: qwen\n", "")
    recipe.write_text(text)
    missing = cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(tmp_path / "x"), "-q"])
    assert missing.exit_code != 0 and "template" in missing.output


def test_help_explains_the_layout(cli_runner):
    result = cli_runner.invoke(main, ["preprocess", "--help"])
    assert result.exit_code == 0 and "tokenized_path" in result.output
