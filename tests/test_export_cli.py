"""`templates-hub export` and `templates_hub.export(...)`: recipes end to end, plugin exporters."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from test_export_support import FIXTURES, public, read_json_file

from templates_hub import hookimpl
from templates_hub.cli import main
from templates_hub.errors import PluginError, UsageError
from templates_hub.export import BaseExporter, BuildOutput

RECIPE = FIXTURES / "recipe_sft.yaml"


def test_cli_llamafactory_end_to_end(cli_runner, tmp_path):
    result = cli_runner.invoke(main, ["export", "llamafactory", str(RECIPE), "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    export_dir = tmp_path / "demo_sft"
    assert result.output.strip() == f"llamafactory-cli train {export_dir / 'llamafactory_sft.yaml'}"
    config = yaml.safe_load((export_dir / "llamafactory_sft.yaml").read_text())
    assert config["num_train_epochs"] == 1.0 and config["cutoff_len"] == 1024  # from the recipe
    assert config["model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct" and config["template"] == "qwen"
    assert len(read_json_file(export_dir / "data" / "validation.json")) == 2
    manifest = json.loads((export_dir / "manifest.json").read_text())
    source = str(FIXTURES / "sft.jsonl")
    assert manifest["sources"][source]["sha256"] == hashlib.sha256((FIXTURES / "sft.jsonl").read_bytes()).hexdigest()
    assert manifest["counts"]["prepare"]["rows_in"] == 8 and manifest["counts"]["exported"] == {"train": 6,
                                                                                               "validation": 2}
    assert manifest["config"]["hyperparameters"] == {"num_train_epochs": 1.0}
    # the validation rows are the recipe's split, round-tripped through dataset_info.json
    from templates_hub.formats import load_canonical

    back = load_canonical(None, dataset_info=tmp_path, dataset="demo_sft_validation", options={"reasoning": "split"})
    originals = {json.dumps(public(r), sort_keys=True) for r in map(json.loads, (FIXTURES / "sft.jsonl").open())}
    assert all(json.dumps(public(r), sort_keys=True) in originals for r in back.dataset)


def test_cli_summary_json_and_rerun(cli_runner, tmp_path):
    args = ["export", "trl", str(RECIPE), "--out", str(tmp_path)]
    first = cli_runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "trl export written" in first.output and "train with:" in first.output
    assert f"trl sft --config {tmp_path / 'demo_sft' / 'trl_sft.yaml'}" in first.output
    records = read_json_file(tmp_path / "demo_sft" / "data" / "train.json")
    assert set(records[0]) == {"prompt", "completion", "tools"}  # the recipe's trl_format
    again = cli_runner.invoke(main, [*args, "--json"])
    payload = json.loads(again.output)
    assert payload["unchanged"] is True and payload["target"] == "trl"
    changed = cli_runner.invoke(main, [*args, "--set", "preprocess.cutoff_len=512"])
    assert changed.exit_code == 2 and "pass --force" in changed.output
    forced = cli_runner.invoke(main, [*args, "--set", "preprocess.cutoff_len=512", "--force", "-q"])
    assert forced.exit_code == 0, forced.output
    assert yaml.safe_load((tmp_path / "demo_sft" / "trl_sft.yaml").read_text())["max_length"] == 512


def test_cli_errors_are_messages(cli_runner, tmp_path):
    typo = cli_runner.invoke(main, ["export", "llamafactory", str(RECIPE), "--out", str(tmp_path),
                                    "--set", "export[0].hyperparameters.lerning_rate=0.1"])
    assert typo.exit_code == 2 and "did you mean 'learning_rate'" in typo.output and "Traceback" not in typo.output
    unknown = cli_runner.invoke(main, ["export", "llamafactry", str(RECIPE), "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "Did you mean 'llamafactory'" in unknown.output
    missing = cli_runner.invoke(main, ["export", "axolotl", str(FIXTURES / "recipe_custom.yaml")])
    assert missing.exit_code == 2  # kto rows: axolotl points to trl


def test_api_export_with_a_custom_template_recipe(tmp_path):
    import templates_hub

    result = templates_hub.export(FIXTURES / "recipe_custom.yaml", target="llamafactory", out_dir=tmp_path,
                                  overrides=["preprocess.cutoff_len=128"], progress=False)
    assert result.manifest["template_mode"] == "tokenized" and result.manifest["preprocess"]["cutoff_len"] == 128
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["demo_custom"]
    assert entry["formatting"] == "alpaca" and entry["columns"]["kto_tag"] == "label"
    config = yaml.safe_load((tmp_path / "demo_custom" / "llamafactory_kto.yaml").read_text())
    assert config["stage"] == "kto" and config["tokenized_path"] == str(tmp_path / "demo_custom" / "tokenized")
    assert templates_hub.export.export is not None and callable(templates_hub.export)


def test_out_dir_under_a_file_is_refused_before_the_data_work(cli_runner, tmp_path, monkeypatch):
    import templates_hub.prepare

    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(templates_hub.prepare, "prepare", lambda *a, **k: pytest.fail("prepared the data"))
    result = cli_runner.invoke(main, ["export", "trl", str(RECIPE), "--out", str(tmp_path / "file" / "sub")])
    assert result.exit_code == 2 and "file is a file" in result.output and "Traceback" not in result.output


def test_a_lone_export_section_without_target_applies_to_every_target(tmp_path):
    from templates_hub.export.api import select_config
    from templates_hub.recipe import recipe_from_data

    base = {"data": {"path": str(FIXTURES / "sft.jsonl")}}
    untargeted = recipe_from_data({**base, "export": {"layout": "alpaca", "hyperparameters": {"learning_rate": 1.0}}})
    for target in ("llamafactory", "trl", "axolotl"):
        config = select_config(untargeted, target)
        assert config.target == target and config.hyperparameters == {"learning_rate": 1.0}
    targeted = recipe_from_data({**base, "export": {"target": "llamafactory", "hyperparameters": {"lr": 1}}})
    assert select_config(targeted, "trl").hyperparameters == {}  # settings named for another tool stay there


def test_api_needs_an_out_dir_and_a_known_target(tmp_path):
    from templates_hub.export import export

    with pytest.raises(UsageError, match="--out"):
        export(FIXTURES / "recipe_custom.yaml", progress=False)
    with pytest.raises(PluginError, match="unknown exporter"):
        export(FIXTURES / "recipe_custom.yaml", target="nope", out_dir=tmp_path, progress=False)


class _CsvExporter(BaseExporter):
    name = "csv_demo"
    description = "One CSV line per conversation (a test plugin)"
    kinds = ("sft",)

    def build(self, ctx, staged):
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in ctx.splits["train"]:
            writer.writerow([m["content"] for m in row["messages"]])
        staged.write_text("train.csv", buffer.getvalue())
        return BuildOutput(commands=[f"mytool train {ctx.export_dir / 'train.csv'}"])


class _Plugin:
    __name__ = "csv_plugin"

    @staticmethod
    @hookimpl
    def register_exporters(register):
        register(_CsvExporter)


def test_plugin_exporter_gets_the_same_machinery(isolated_plugins, cli_runner, tmp_path):
    isolated_plugins(_Plugin(), "csv_plugin")
    result = cli_runner.invoke(main, ["export", "csv_demo", str(RECIPE), "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"mytool train {tmp_path / 'demo_sft' / 'train.csv'}"
    assert len((tmp_path / "demo_sft" / "train.csv").read_text().splitlines()) == 6  # the recipe's train split
    manifest = json.loads((tmp_path / "demo_sft" / "manifest.json").read_text())
    assert manifest["target"] == "csv_demo" and "train.csv" in manifest["files"]
    bad = cli_runner.invoke(main, ["export", "csv_demo", str(FIXTURES / "recipe_custom.yaml"), "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "cannot write kto rows" in bad.output


@pytest.mark.parametrize(("target", "config_file", "key"), [("llamafactory", "llamafactory_sft.yaml", "model_name_or_path"),
                                                           ("trl", "trl_sft.yaml", "model_name_or_path"),
                                                           ("axolotl", "axolotl.yaml", "base_model")])
def test_a_tokenizer_named_as_the_model_is_a_note(tmp_path, tiny_tokenizer_dir, target, config_file, key):
    """Without train.model the config names the tokenizer as the model: say so, in the result and the manifest."""
    from test_export_support import run_export

    result = run_export(tmp_path, target, "sft", model=None, tokenizer=str(tiny_tokenizer_dir))
    config = yaml.safe_load((tmp_path / "sft" / config_file).read_text())
    assert config[key] == str(tiny_tokenizer_dir)
    notes = [n for n in result.notes if "names the tokenizer" in n]
    assert len(notes) == 1 and str(tiny_tokenizer_dir) in notes[0]
    assert "export.model_name_or_path or train.model" in notes[0] and "has no config.json" in notes[0]
    assert notes[0] in result.manifest["notes"]
    assert notes[0] in json.loads((tmp_path / "sft" / "manifest.json").read_text())["notes"]
    again = run_export(tmp_path, target, "sft", model=None, tokenizer=str(tiny_tokenizer_dir))
    assert again.unchanged and notes[0] in again.notes  # a rerun that rewrites nothing still warns


def test_a_named_model_needs_no_note(tmp_path, tiny_tokenizer_dir):
    from test_export_support import run_export

    result = run_export(tmp_path, "llamafactory", "sft", model="org/model", tokenizer=str(tiny_tokenizer_dir))
    assert not any("names the tokenizer" in n for n in result.notes + result.manifest["notes"])


def test_cli_prints_the_tokenizer_as_model_note(cli_runner, tmp_path, tiny_tokenizer_dir):
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["data"]["path"] = str(FIXTURES / "sft.jsonl")
    recipe["tokenizer"] = str(tiny_tokenizer_dir)
    recipe["train"] = {"model": "tiny-random"}  # a random model no other tool can load: not a usable model
    recipe["export"] = {"target": "llamafactory"}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = cli_runner.invoke(main, ["export", "llamafactory", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"note: the training config names the tokenizer {tiny_tokenizer_dir} as the model" in result.output
    assert "'tiny-random' is a random model" in result.output
