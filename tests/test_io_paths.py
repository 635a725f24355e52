"""A misspelt local path fails at once with "no such file" and a did-you-mean, never as a Hub lookup.

Before, ``data/alpaca_en_demo.jsn`` (shaped like ``owner/name``) went to the Hugging Face Hub, retried
for ~26 s and blamed the network. The decision is ``looks_local``; no test here touches the network:
the Hub loader is replaced by one that fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from templates_hub.errors import DataError
from templates_hub.formats import readers
from templates_hub.formats.readers import open_source


@pytest.fixture
def no_hub(monkeypatch):
    def refuse(repo, **kwargs):
        pytest.fail(f"{repo!r} was sent to the Hub")

    monkeypatch.setattr(readers, "_hub_part", refuse)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A working directory with data/alpaca_en_demo.json."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "alpaca_en_demo.json").write_text(json.dumps([{"instruction": "q", "output": "a"}]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("source", [
    "tatsu-lab/alpaca", "HuggingFaceH4/ultrachat_200k", "teknium/OpenHermes-2.5", "nvidia/HelpSteer2",
    "nvidia/Llama-Nemotron-Post-Training-Dataset-v1.1", "allenai/tulu-3-sft-mixture",
])
def test_hub_ids_go_to_the_hub(project, source):
    from templates_hub.formats.readers import looks_local

    assert not looks_local(source)


@pytest.mark.parametrize("source", [
    "data/alpaca_en_demo.jsn",  # a near miss of a data suffix
    "elsewhere/alpaca.jsn", "elsewhere/alpaca.jsonll", "elsewhere/table.csvv", "elsewhere/x.parq",  # near misses
    "elsewhere/x.jsonl", "elsewhere/x.json.gz",  # real data suffixes
    "./x", "../x/y", "/abs/x", "~/x", "just_a_name",
])
def test_local_looking_sources_are_local(project, source):
    from templates_hub.formats.readers import looks_local

    assert looks_local(source)


@pytest.mark.parametrize("source", ["HuggingFaceH4/ultrafeedback_binarized", "data/anything_at_all"])
def test_a_local_folder_named_like_the_owner_does_not_hide_a_hub_id(project, monkeypatch, source):
    """Before, ``mkdir -p HuggingFaceH4/x`` (or any folder named like the owner) made the id a local path
    and loading failed with "no such file" without ever asking the Hub."""
    from templates_hub.formats.readers import looks_local

    (project / "HuggingFaceH4" / "x").mkdir(parents=True)
    assert not looks_local(source)
    asked: list[str] = []

    def hub(repo, **kwargs):
        asked.append(repo)
        return readers.Part(None, "records", repo, "row")

    monkeypatch.setattr(readers, "_hub_part", hub)
    assert open_source(source)[0].source == source and asked == [source]


def test_a_hub_id_that_fails_suggests_a_close_local_path(project, monkeypatch):
    def unreachable(repo, **kwargs):
        raise DataError("cannot load it from the Hugging Face Hub", source=repo)

    monkeypatch.setattr(readers, "_hub_part", unreachable)
    with pytest.raises(DataError) as info:
        open_source("data/alpaca_en_dem")
    assert str(info.value) == ("data/alpaca_en_dem: cannot load it from the Hugging Face Hub; as a local path: "
                               "no such file or directory (did you mean 'data/alpaca_en_demo.json'?)")
    with pytest.raises(DataError, match=r"^tatsu-lab/alpaca: cannot load it from the Hugging Face Hub$"):
        open_source("tatsu-lab/alpaca")  # nothing local close to it: the Hub's message alone


@pytest.mark.parametrize("source,suggestion", [
    ("data/alpaca_en_demo.jsn", "data/alpaca_en_demo.json"),
    ("data/alpaca_en_demo.jsonll", "data/alpaca_en_demo.json"),
    ("dat/alpaca_en_demo.json", "data/alpaca_en_demo.json"),  # the folder is the typo
    ("data/something_else.json", None),
])
def test_a_missing_local_path_says_no_such_file_with_a_suggestion(project, no_hub, source, suggestion):
    with pytest.raises(DataError) as info:
        open_source(source)
    message = str(info.value)
    assert message.startswith(f"{source}: no such file or directory")
    assert (f"did you mean {suggestion!r}?" in message) if suggestion else "did you mean" not in message


def test_validate_cli_fails_fast_on_a_misspelt_file(project, no_hub, cli_runner):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["validate", "data/alpaca_en_demo.jsn"])
    assert result.exit_code == 2, result.output
    assert "no such file or directory (did you mean 'data/alpaca_en_demo.json'?)" in result.output
    assert "Hub" not in result.output


def test_recipe_data_path_typo_stays_local_to_the_recipe(tmp_path, no_hub, monkeypatch):
    from templates_hub.prepare import prepare
    from templates_hub.recipe import load_recipe

    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    folder = tmp_path / "project"
    (folder / "demo").mkdir(parents=True)
    (folder / "demo" / "alpaca_demo.jsonl").write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n")
    recipe = folder / "recipe.yaml"
    recipe.write_text("data:\n  path: demo/alpaca_demo.jsonll\n  format: alpaca\n")
    loaded = load_recipe(recipe)
    assert loaded.data.path == str(folder / "demo" / "alpaca_demo.jsonll")
    with pytest.raises(DataError, match=r"no such file or directory \(did you mean '.*demo/alpaca_demo\.jsonl'\?\)"):
        prepare(loaded, progress=False)


def test_recipe_hub_ids_are_left_alone(tmp_path):
    from templates_hub.recipe import load_recipe

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data:\n  path: tatsu-lab/alpaca\n")
    assert load_recipe(recipe).data.path == "tatsu-lab/alpaca"
    (tmp_path / "HuggingFaceH4" / "x").mkdir(parents=True)  # a folder named like the owner, next to the recipe
    recipe.write_text("data:\n  path: HuggingFaceH4/ultrafeedback_binarized\n")
    assert load_recipe(recipe).data.path == "HuggingFaceH4/ultrafeedback_binarized"
