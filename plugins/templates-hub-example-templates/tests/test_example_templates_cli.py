"""The example plugin, loaded through its entry point and used through the CLI like built-ins
(skipped when not installed: ``pip install --no-build-isolation -e plugins/templates-hub-example-templates``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("templates_hub_example_templates")

import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from templates_hub.cli import main  # noqa: E402

ROWS = [
    {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
    ]},
    {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "content": "{\"temperature\": 18}"},
        {"role": "assistant", "content": "18 degrees."},
    ], "tools": [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]},
]


def out(result) -> str:
    """stdout only (click's CliRunner also mixes stderr, where progress bars go, into .output)."""
    return getattr(result, "stdout", result.output)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def recipe(tmp_path: Path, data: Path, tokenizer: Path, *, template: str, params: dict, **extra) -> Path:
    body = {"name": f"example_{template}", "data": {"path": str(data)}, "template": template,
            "tokenizer": str(tokenizer),
            "preprocess": {"preprocessor": "final_turn", "cutoff_len": 512, "params": params}, **extra}
    path = tmp_path / f"{template}.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def test_listed_with_the_plugin_name(example):
    runner = CliRunner()
    templates = {r["name"]: r for r in json.loads(out(runner.invoke(main, ["list", "templates", "--json"])))}
    assert templates["acme"]["plugin"] == templates["acme_jinja"]["plugin"] == "example_templates"
    assert templates["acme"]["description"].startswith("Acme chat")
    assert templates["acme"]["overrides"] is None  # a new name, not a replacement of a built-in
    preprocessors = {r["name"]: r for r in json.loads(out(runner.invoke(main, ["list", "preprocessors", "--json"])))}
    assert preprocessors["final_turn"]["plugin"] == "example_templates"
    described = {d["name"]: d for d in json.loads(out(runner.invoke(main, ["plugins"])))}
    mine = described["example_templates"]
    assert mine["distribution"] == "templates-hub-example-templates" and mine["version"] == "0.1.0"
    assert mine["registered"] == {"templates": ["acme", "acme_jinja"], "preprocessors": ["final_turn"]}
    assert mine["overrides"] == [] and mine["problems"] == [] and mine["broken"] is None


def test_list_table_shows_the_plugin_name(example):
    table = CliRunner().invoke(main, ["list", "templates"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "acme_jinja" in out(table) and "example_templates" in out(table)


def test_render_uses_both_templates(example, data, templates_hub_tokenizer_dir):
    runner = CliRunner()
    args = ["render", str(data), "--tokenizer", str(templates_hub_tokenizer_dir), "--json", "--ids", "--rows", "0:2"]
    result = runner.invoke(main, [*args, "--template", "acme"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line)["samples"][0] for line in out(result).strip().splitlines())
    assert first["text"] == ("<s>[system]\nBe brief.<|end|>\n[user]\nHi<|end|>\n[assistant]\nHello!<|end|>\n"
                             "[user]\nWhat is 2 + 2?<|end|>\n[assistant]\n4.<|end|>\n")
    trained = [p["text"] for p in first["pieces"] if p["trainable"]]
    assert trained == ["Hello!", "<|end|>", "\n", "4.", "<|end|>", "\n"]
    assert len(first["input_ids"]) == len(first["labels"]) and any(label != -100 for label in first["labels"])
    assert "Action: get_weather\nAction Input: {\"city\": \"Paris\"}<|end|>\n[tool]\n" in second["text"]

    result = runner.invoke(main, [*args, "--template", "acme_jinja"])
    assert result.exit_code == 0, result.output
    first = json.loads(out(result).strip().splitlines()[0])["samples"][0]
    assert first["text"].startswith("<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello!")
    # {% generation %} blocks decide what is trained; the answer ends with the tokenizer's eos
    eos = "</s>"
    assert [p["text"] for p in first["pieces"] if p["trainable"]] == [f"Hello!{eos}", f"4.{eos}"]


def test_preprocess_trains_only_the_final_answer(example, data, tmp_path, templates_hub_tokenizer_dir):
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    path = recipe(tmp_path, data, templates_hub_tokenizer_dir, template="acme", params={"history_weight": 0.25})
    result = CliRunner().invoke(main, ["preprocess", str(path), "--out", str(tmp_path / "tok"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(out(result))
    assert report["preprocessor"] == "final_turn" and report["template"] == "acme"
    assert report["splits"]["train"]["rows_out"] == 2
    rows = load_from_disk(str(tmp_path / "tok"))["train"]
    assert "loss_weights" in rows.column_names
    tok = AutoTokenizer.from_pretrained(str(templates_hub_tokenizer_dir))
    row = rows[0]
    weights = dict.fromkeys(row["loss_weights"])
    assert set(weights) == {0.0, 0.25, 1.0}
    final = [t for t, w in zip(row["input_ids"], row["loss_weights"], strict=True) if w == 1.0]
    history = [t for t, w in zip(row["input_ids"], row["loss_weights"], strict=True) if w == 0.25]
    assert tok.decode(final) == "4.<|end|>\n" and tok.decode(history) == "Hello!<|end|>\n"
    assert all((label == -100) == (w == 0.0) for label, w in zip(row["labels"], row["loss_weights"], strict=True))


def test_export_llamafactory_uses_the_plugin_template(example, data, tmp_path, templates_hub_tokenizer_dir):
    from datasets import load_from_disk
    from templates_hub_example_templates import template_file

    # LLaMA-Factory hands every column to the model, so the weights column is turned off for it
    path = recipe(tmp_path, data, templates_hub_tokenizer_dir, template="acme_jinja",
                  params={"weights_column": None}, export={"model_name_or_path": "Qwen/Qwen2.5-0.5B"})
    result = CliRunner().invoke(main, ["export", "llamafactory", str(path), "--out", str(tmp_path / "lf"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out(result))
    export_dir = Path(payload["export_dir"])
    assert payload["manifest"]["template_mode"] == "tokenized"  # a plugin template: LLaMA-Factory gets token ids
    config = yaml.safe_load((export_dir / "llamafactory_sft.yaml").read_text(encoding="utf-8"))
    assert config["tokenized_path"] == str(export_dir / "tokenized") and "template" not in config
    assert (export_dir / "template.jinja").read_text(encoding="utf-8") == template_file("acme_jinja.jinja").read_text(
        encoding="utf-8")
    tokenized = load_from_disk(str(export_dir / "tokenized"))["train"]
    assert len(tokenized) == 2 and "loss_weights" not in tokenized.column_names
    labels = tokenized[0]["labels"]
    trained = [t for t in labels if t != -100]
    assert trained and labels[: labels.index(trained[0])] == [-100] * labels.index(trained[0])


def test_a_typo_in_the_params_is_reported(example, data, tmp_path, templates_hub_tokenizer_dir):
    path = recipe(tmp_path, data, templates_hub_tokenizer_dir, template="acme", params={"history_wieght": 0.5})
    result = CliRunner().invoke(main, ["preprocess", str(path), "--out", str(tmp_path / "tok")])
    assert result.exit_code != 0
    assert "preprocess.params.history_wieght" in result.output and "Traceback" not in result.output
