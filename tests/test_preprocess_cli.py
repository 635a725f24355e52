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


def test_cli_never_replaces_a_folder_it_did_not_write(cli_runner, recipe, tmp_path):
    """The output folder is replaced as a whole: a folder holding other files must not be wiped."""
    precious = tmp_path / "project"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    result = cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(precious), "-q"])
    assert result.exit_code != 0 and "holds other files" in result.output and "Traceback" not in result.output
    assert [p.name for p in precious.iterdir()] == ["notes.txt"]
    assert not list(tmp_path.glob(".project*"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(empty), "-q"]).exit_code == 0
    assert (empty / "preprocess_report.json").is_file()


def test_no_rows_left_is_a_message_and_nothing_is_written(cli_runner, recipe, tmp_path):
    out = tmp_path / "none"
    result = cli_runner.invoke(main, ["preprocess", str(recipe), "--out", str(out), "-q", "--set",
                                      "filters=[{name: response_length, min: 1000}]"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "no training rows left: 41 rows read" in result.output and "filter:response_length: 40" in result.output
    assert not out.exists()


def test_an_empty_validation_split_is_left_out():
    """save_to_disk writes an empty split that load_from_disk cannot read: leave it out, with a note."""
    from templates_hub.preprocess.api import PreprocessResult
    from templates_hub.preprocess.recipe_run import _drop_empty_splits

    def result(n):
        return PreprocessResult(datasets.Dataset.from_dict({"input_ids": [[1]] * n}), {"rows_in": 2, "dropped": {}})

    assert _drop_empty_splits({"train": result(2), "validation": result(0)}, {}) == {
        "validation": "validation: every row was dropped, so the folder has no validation split"}
    assert _drop_empty_splits({"train": result(2), "validation": result(1)}, {}) == {}


def test_help_explains_the_layout(cli_runner):
    result = cli_runner.invoke(main, ["preprocess", "--help"])
    assert result.exit_code == 0 and "tokenized_path" in result.output
