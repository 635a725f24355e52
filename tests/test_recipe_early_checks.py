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
