"""Recipe problems that need no data fail before any data work.

An unknown ``preprocess.preprocessor`` is caught when the recipe is read (like unknown filters); a
missing ``template:`` for chat rows is caught by ``preprocess`` before the tokenizer is loaded and the
data are loaded, filtered and split. The data steps are replaced by ones that fail the test.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from templates_hub.errors import ConfigError
from templates_hub.recipe import load_recipe

ROWS = [{"instruction": f"q{i}", "input": "", "output": f"answer {i}"} for i in range(6)]


def _recipe(tmp_path: Path, body: str, rows: list[dict] | None = None, data_name: str = "data.jsonl") -> Path:
    data = tmp_path / data_name
    if data_name.endswith(".txt"):
        data.write_text("one document\nanother document\n", encoding="utf-8")
    else:
        data.write_text("".join(json.dumps(r) + "\n" for r in (rows or ROWS)), encoding="utf-8")
    path = tmp_path / "recipe.yaml"
    path.write_text(body.replace("DATA", data_name), encoding="utf-8")
    return path


@pytest.fixture
def no_data_work(monkeypatch):
    """Fail the test if the recipe's data are prepared or its tokenizer is loaded."""
    prepare_module = importlib.import_module("templates_hub.prepare")
    tokenizer_module = importlib.import_module("templates_hub.tokenizer")
    monkeypatch.setattr(prepare_module, "prepare", lambda *a, **k: pytest.fail("the data were prepared"))
    monkeypatch.setattr(tokenizer_module, "load_tokenizer", lambda *a, **k: pytest.fail("the tokenizer was loaded"))


# -------------------------------------------------------------------- preprocess.preprocessor at load
def test_unknown_preprocessor_fails_when_the_recipe_is_read(tmp_path):
    path = _recipe(tmp_path, "data:\n  path: DATA\npreprocess:\n  cutoff_len: 64\n  preprocessor: supervsed\n")
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    message = str(info.value)
    assert f"{path}:5: preprocess.preprocessor: unknown preprocessor 'supervsed'. Did you mean 'supervised'" in message
    assert info.value.problems[0][0] == "preprocess.preprocessor"


def test_unknown_preprocessor_is_reported_with_other_problems(tmp_path):
    path = _recipe(tmp_path, "data:\n  path: DATA\npreprocess:\n  cutoff_len: 0\n  preprocessor: pairwse\n")
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    paths = [p for p, _ in info.value.problems]
    assert paths == ["preprocess.cutoff_len", "preprocess.preprocessor"]
    assert "Did you mean 'pairwise'" in str(info.value)


def test_unknown_preprocessor_from_set_names_the_override(tmp_path):
    path = _recipe(tmp_path, "data:\n  path: DATA\n")
    with pytest.raises(ConfigError, match=r"--set preprocess\.preprocessor=kt0: preprocess\.preprocessor: "
                                          r"unknown preprocessor 'kt0'"):
        load_recipe(path, ["preprocess.preprocessor=kt0"])


def test_preprocessor_that_cannot_read_the_declared_kind_fails_at_load(tmp_path):
    path = _recipe(tmp_path, "data:\n  path: DATA\n  kind: sft\npreprocess:\n  preprocessor: pairwise\n")
    with pytest.raises(ConfigError, match=r"preprocess\.preprocessor: 'pairwise' reads preference rows but the data "
                                          r"are sft rows \(data\.kind\); use 'supervised'"):
        load_recipe(path)


def test_known_preprocessors_and_the_default_load(tmp_path):
    assert load_recipe(_recipe(tmp_path, "data:\n  path: DATA\n")).preprocess.preprocessor == "supervised"
    path = _recipe(tmp_path, "data:\n  path: DATA\n  kind: sft\npreprocess:\n  preprocessor: supervised\n")
    assert load_recipe(path).preprocess.preprocessor == "supervised"


# ------------------------------------------------------------------------ template: before data work
def test_missing_template_fails_before_tokenizer_and_data(tmp_path, no_data_work):
    from templates_hub.preprocess.recipe_run import preprocess_recipe

    path = _recipe(tmp_path, "data:\n  path: DATA\n  format: alpaca\ntokenizer: tiny\n")
    with pytest.raises(ConfigError) as info:
        preprocess_recipe(path, out_dir=tmp_path / "out", progress=False)
    message = str(info.value)
    assert "template: required: the data are chat rows (data.format: alpaca: sft / preference / kto)" in message
    assert "set `template:`" in message and info.value.problems[0][0] == "template"
    assert not (tmp_path / "out").exists()


def test_missing_template_with_an_undeclared_kind_reads_only_the_first_rows(tmp_path, no_data_work):
    from templates_hub.preprocess.recipe_run import preprocess_recipe

    path = _recipe(tmp_path, "data:\n  path: DATA\ntokenizer: tiny\npreprocess:\n  preprocessor: pretrain\n")
    with pytest.raises(ConfigError) as info:
        preprocess_recipe(path, out_dir=tmp_path / "out", progress=False)
    message = str(info.value)
    assert "template: required: the data are sft rows (format alpaca, read from the first rows of" in message
    assert "recipe.yaml:5: preprocess.preprocessor: 'pretrain' reads text rows but the data are sft rows" in message


def test_text_data_need_no_template(tmp_path):
    from templates_hub.preprocess.recipe_run import check_preprocessable, declared_kinds

    for body, name in (("data:\n  path: DATA\n", "docs.txt"), ("data:\n  path: DATA\n  kind: text\n", "d.jsonl"),
                       ("data:\n  path: DATA\n  format: text\n", "d.jsonl")):
        recipe = load_recipe(_recipe(tmp_path, body, rows=[{"text": "a document"}], data_name=name))
        assert declared_kinds(recipe)[0] == {"text"}
        check_preprocessable(recipe)  # no template needed, nothing raised
    detected = load_recipe(_recipe(tmp_path, "data:\n  path: DATA\n", rows=[{"text": "doc"}], data_name="t.jsonl"))
    check_preprocessable(detected)  # text detected from the first rows
    conflict = load_recipe(_recipe(tmp_path, "data:\n  path: DATA\n  format: alpaca\n", data_name="docs.txt"))
    assert declared_kinds(conflict)[0] == set()
    check_preprocessable(conflict)  # no possible kind: left to the loader, which names the conflict


def test_preprocess_cli_reports_the_missing_template(tmp_path, cli_runner):
    from templates_hub.cli import main

    path = _recipe(tmp_path, "data:\n  path: DATA\n  format: alpaca\ntokenizer: tiny\n")
    result = cli_runner.invoke(main, ["preprocess", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2, result.output
    assert "template: required" in result.output and "Generating" not in result.output
    ok = cli_runner.invoke(main, ["preprocess", str(path), "--out", str(tmp_path / "out"), "-q",
                                  "--set", "template=qwen"])
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("command", ["run", "train"])
def test_run_and_train_refuse_a_missing_template_before_any_loading(tmp_path, no_data_work, command):
    import templates_hub

    path = _recipe(tmp_path, "data:\n  path: DATA\n  format: alpaca\ntokenizer: tiny\n"
                             "train:\n  model: tiny-random\n  max_steps: 1\n")
    with pytest.raises(ConfigError, match=r"template: required: the data are (sft|chat) rows"):
        getattr(templates_hub, command)(path, dry_run=True) if command == "run" else templates_hub.train(path)


# ------------------------------------------------------------------- train.tokenized_path: no raw data
def test_a_tokenized_path_recipe_needs_no_template_and_reads_no_raw_data(tmp_path, monkeypatch):
    """Training from ``train.tokenized_path`` reads the tokenized dataset only: the raw data's row kind (and so
    a chat template) does not matter. The early template check refused such recipes."""
    from datasets import Dataset, DatasetDict

    from templates_hub import io
    from templates_hub.train.pipeline import build_data, setup_tokenizer

    rows = {"input_ids": [[1, 2, 3, 4]] * 4, "attention_mask": [[1, 1, 1, 1]] * 4, "labels": [[-100, 2, 3, 4]] * 4}
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "tok"))
    path = _recipe(tmp_path, "data:\n  path: DATA\n  format: alpaca\ntokenizer: tiny\npreprocess:\n  cutoff_len: 64\n"
                             "train:\n  model: tiny-random\n  tokenized_path: tok\n  max_steps: 1\n")
    monkeypatch.setattr(io, "peek", lambda *a, **k: pytest.fail("the raw data were read"))
    monkeypatch.setattr(importlib.import_module("templates_hub.prepare"), "prepare",
                        lambda *a, **k: pytest.fail("the data were prepared"))
    recipe = load_recipe(path)
    setup = setup_tokenizer(recipe)
    data = build_data(recipe, setup, progress=False)
    assert data.prepared is None and data.stage == "sft" and len(data.splits["train"]) == 4
    assert data.source == str(tmp_path / "tok")


# ------------------------------------------------------------------------------ order of the checks
def test_preprocess_without_a_tokenizer_says_so_before_reading_the_data(tmp_path, monkeypatch, no_data_work):
    from templates_hub import io
    from templates_hub.errors import UsageError
    from templates_hub.preprocess.recipe_run import preprocess_recipe

    monkeypatch.setattr(io, "peek", lambda *a, **k: pytest.fail("the data were peeked at"))
    path = _recipe(tmp_path, "data:\n  path: DATA\n")  # no tokenizer, no template, kind not declared
    with pytest.raises(UsageError, match=r"preprocessing needs a tokenizer: set `tokenizer:`"):
        preprocess_recipe(path, progress=False)


def test_peek_streams_the_first_file_of_a_folder_only(tmp_path, monkeypatch):
    from templates_hub.formats import readers
    from templates_hub.io import peek

    folder = tmp_path / "shards"
    folder.mkdir()
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    opened: list[tuple[str, bool]] = []
    read_file = readers.read_file
    monkeypatch.setattr(readers, "read_file",
                        lambda path, streaming: opened.append((path.name, streaming)) or read_file(path, streaming))
    assert peek(folder, streaming=False) == ("alpaca", "sft")
    assert opened == [("a.jsonl", True)]


def test_the_recipe_and_preprocessing_judge_a_preprocessor_alike():
    from templates_hub.errors import UsageError
    from templates_hub.preprocess.api import resolve_preprocessor
    from templates_hub.preprocess.config import PreprocessConfig
    from templates_hub.recipe import preprocessor_problems

    for name, kind in (("pairwise", "sft"), ("pretrain", "preference"), ("supervsed", "sft")):
        [(key, message)] = preprocessor_problems(name, kind, "")
        with pytest.raises(UsageError) as info:
            resolve_preprocessor(PreprocessConfig(preprocessor=name), kind)
        assert str(info.value) == f"{key}: {message}"
    assert preprocessor_problems("supervised", "sft") == [] and preprocessor_problems(None, "sft") == []
