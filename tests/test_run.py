"""``run`` / ``train`` on recipes: the demo (dry run, a short real run), exports, tokenized_path, recipe-level
checks, the CLI, the demo assets; opt-in slow tests (notebook equivalent, full demo, 2-process torchrun)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from templates_hub.errors import ConfigError, TrainingCheckError, UsageError

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
RECIPE = DEMO / "recipe.yaml"
SLOW = pytest.mark.skipif(
    not os.environ.get("TEMPLATES_HUB_SLOW_TESTS"),
    reason="slow (> 30 s on 2 CPU cores): set TEMPLATES_HUB_SLOW_TESTS=1 to run",
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _recipe_file(tmp_path: Path, **sections) -> Path:
    """A copy of the demo recipe (absolute paths) with sections replaced."""
    import yaml

    data = yaml.safe_load(RECIPE.read_text())
    data["data"]["path"] = str(DEMO / "alpaca_demo.jsonl")
    data["tokenizer"] = str(DEMO / "tokenizer")
    data["train"]["model"] = str(DEMO / "tiny_model.json")
    data["train"]["output_dir"] = str(tmp_path / "model")
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = data[key] | value
        else:
            data[key] = value
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_demo_dry_run_cli(cli_runner, tmp_path):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["run", str(RECIPE), "--dry-run", "--set", f"train.output_dir={tmp_path}/m"])
    assert result.exit_code == 0, result.output
    for expected in ("load", "filter", "split", "preprocess train", "preprocess validation", "checks", "all passed"):
        assert expected in result.output
    assert "run demo (dry run)" in result.output  # the summary is titled by the command
    assert not (tmp_path / "m" / "config.json").exists()  # nothing trained
    rejects = [json.loads(line) for line in (tmp_path / "m" / "rejects.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rejects].count("validate") == 1 and "rejects.jsonl" in result.output


def test_demo_run_trains_saves_and_reports(tmp_path, capfd):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from templates_hub.run import run
    from templates_hub.templates import get_template

    bars_before = hf_logging.is_progress_bar_enabled()
    recipe = _recipe_file(tmp_path, export={"target": "llamafactory", "out_dir": str(tmp_path / "export")})
    result = run(recipe, overrides=["train.max_steps=6", "train.logging_steps=1", "train.num_train_epochs=1"],
                 progress=False)
    # progress=False (`run -q`, `--json`) silences transformers' own bars too, and restores the setting
    assert "Writing model shards" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled() == bars_before
    steps = [s["step"] for s in result.steps]
    assert steps == ["load", "filter", "split", "preprocess train", "preprocess validation", "export", "train"]
    train = result.train
    assert train is not None and train.global_step == 6 and len(train.losses) == 6
    assert train.last_loss < train.first_loss
    table = {row["step"]: row for row in result.table()}
    assert "loss" in table["train"]["details"] and table["preprocess train"]["tokens"] > 0
    paths = result.paths()
    assert paths["model"] == str(tmp_path / "model") and (tmp_path / "export" / "demo" / "manifest.json").is_file()
    # every row read is trained on, validated on, or in the rejects file with its line and reason
    rejects = (tmp_path / "model" / "rejects.jsonl").read_text().splitlines()
    assert paths["rejects"] == str(tmp_path / "model" / "rejects.jsonl")
    load = next(s for s in result.steps if s["step"] == "load")
    kept = sum(s["rows_out"] for s in result.steps if s["step"].startswith("preprocess"))
    assert load["rows_in"] == kept + len(rejects)
    saved = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert saved.chat_template == get_template("chatml").to_jinja()
    assert saved.eos_token == "<|im_end|>"
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    ids = saved.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                    return_tensors="pt", return_dict=False)
    assert model(ids).logits.shape[-1] >= len(saved)
    assert json.loads(json.dumps(result.to_dict(), default=str))["train"]["global_step"] == 6


def test_train_from_tokenized_path(tmp_path, cli_runner):
    from datasets import DatasetDict

    from templates_hub.cli import main
    from templates_hub.recipe import load_recipe
    from templates_hub.train.pipeline import build_data, setup_tokenizer

    recipe = load_recipe(_recipe_file(tmp_path))
    data = build_data(recipe, setup_tokenizer(recipe), progress=False)
    DatasetDict(data.splits).save_to_disk(str(tmp_path / "tokenized"))
    path = _recipe_file(tmp_path, train={"tokenized_path": str(tmp_path / "tokenized"), "max_steps": 2})
    result = cli_runner.invoke(main, ["train", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert [s["step"] for s in report["steps"]] == ["tokenized", "tokenized", "train"]
    assert report["train"]["global_step"] == 2 and report["paths"]["tokenized data"] == str(tmp_path / "tokenized")


def test_hf_progress_bars_are_restored():
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    from templates_hub.train.runner import hf_progress_bars

    before = (hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled())
    try:
        for transformers_on, hub_off in [(True, False), (True, True), (False, True), (False, False)]:
            (hf_logging.enable_progress_bar if transformers_on else hf_logging.disable_progress_bar)()
            (disable_progress_bars if hub_off else enable_progress_bars)()
            with hf_progress_bars(False):
                assert not hf_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
            assert (hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()) == (transformers_on, hub_off)
            with hf_progress_bars(True):
                assert hf_logging.is_progress_bar_enabled() == transformers_on
    finally:
        (hf_logging.enable_progress_bar if before[0] else hf_logging.disable_progress_bar)()
        (disable_progress_bars if before[1] else enable_progress_bars)()


def test_train_summary_is_titled_train(cli_runner, tmp_path):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["train", str(_recipe_file(tmp_path)), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "train demo (dry run)" in result.output and "run demo" not in result.output


def test_unknown_train_key_fails_before_data_work(cli_runner, tmp_path):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["run", str(RECIPE), "--set", "train.learnig_rate=0.1",
                                      "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 2
    assert "train.learnig_rate" in result.output and "did you mean 'learning_rate'" in result.output
    assert "[load]" not in result.output


def test_train_command_needs_a_train_section(cli_runner, tmp_path):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["train", str(_recipe_file(tmp_path, train=None))])
    assert result.exit_code == 2 and "no train: section" in result.output


def test_run_without_train_section_stops_after_preprocessing(tmp_path):
    from templates_hub.run import run

    result = run(_recipe_file(tmp_path, train=None), progress=False)
    assert result.train is None and result.steps[-1]["step"] == "preprocess validation"
    assert any("no train: section" in note for note in result.notes)


def test_template_tokens_missing_from_tokenizer(tmp_path):
    """The seed notebook's '<|user|>' template on a tokenizer without such a token."""
    from templates_hub.run import run
    from templates_hub.tiny import build_tiny_tokenizer

    plain = build_tiny_tokenizer(special_tokens=["<|endoftext|>"], bos_token=None, eos_token="<|endoftext|>")
    plain.save_pretrained(tmp_path / "plain")
    recipe = _recipe_file(tmp_path, tokenizer=str(tmp_path / "plain"), template="user_assistant_tags")
    with pytest.raises(TrainingCheckError, match=r"'<\|user\|>', '<\|assistant\|>'.*add_template_tokens"):
        run(recipe, dry_run=True, progress=False)
    # the suggested fix: add them (a random model is sized to the grown tokenizer)
    result = run(recipe, overrides=["train.add_template_tokens=true"], dry_run=True, progress=False)
    assert result.steps[-1]["step"] == "checks"
    assert any("<|user|>" in note for note in result.notes)


def test_cutoff_above_model_positions(tmp_path):
    from templates_hub.run import run

    with pytest.raises(TrainingCheckError, match="cutoff_len: 1024"):
        run(_recipe_file(tmp_path), overrides=["preprocess.cutoff_len=4096"], dry_run=True, progress=False)


def test_dry_run_refuses_what_training_would_refuse(tmp_path):
    """A dry run that says "all passed" must not hide a failure of the real run."""
    from templates_hub.run import run

    recipe = _recipe_file(tmp_path)
    with pytest.raises(ConfigError, match="TrainingArguments rejected"):
        run(recipe, overrides=["train.save_strategy=sometimes"], dry_run=True, progress=False)
    with pytest.raises(UsageError, match="no checkpoint"):
        run(recipe, overrides=["train.resume_from_checkpoint=true"], dry_run=True, progress=False)
    with pytest.raises(UsageError, match="train split is empty"):
        run(recipe, overrides=["filters=[{name: response_length, min: 100000, unit: chars}]"], dry_run=True,
            progress=False)


def test_export_without_out_dir_is_refused_before_data_work(tmp_path, monkeypatch):
    from templates_hub.run import run

    monkeypatch.setattr(sys.modules["templates_hub.run"], "build_data", lambda *a, **k: pytest.fail("built the data"))
    with pytest.raises(UsageError, match="export 'trl': where to export"):
        run(_recipe_file(tmp_path, export={"target": "trl"}), dry_run=True, progress=False)


def test_preference_data_is_refused_with_the_alternative(tmp_path):
    from templates_hub.run import run

    with pytest.raises(UsageError, match="TRL"):
        run(_recipe_file(tmp_path), overrides=["preprocess.preprocessor=pairwise"], dry_run=True, progress=False)


def test_recipe_errors_are_config_errors(tmp_path):
    from templates_hub.run import run

    with pytest.raises(ConfigError, match="lora"):
        run(_recipe_file(tmp_path), overrides=["train.lora.rank=4"], dry_run=True, progress=False)


def test_public_api_names():
    import templates_hub

    assert callable(templates_hub.run) and callable(templates_hub.train)
    import templates_hub.run as run_module  # the module is callable too (the attribute may be either)

    assert callable(run_module)


# ------------------------------------------------------------------------------------ demo assets


def test_demo_tokenizer_is_reproducible_and_small(tmp_path):
    sys.path.insert(0, str(DEMO))
    try:
        import make_tokenizer
    finally:
        sys.path.remove(str(DEMO))
    first = make_tokenizer.save(make_tokenizer.build(make_tokenizer.DEFAULT_DATA), tmp_path / "a")
    second = make_tokenizer.save(make_tokenizer.build(make_tokenizer.DEFAULT_DATA), tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]  # deterministic
    shipped = DEMO / "tokenizer" / "tokenizer.json"
    assert shipped.read_bytes() == (tmp_path / "a" / "tokenizer.json").read_bytes(), (
        "examples/demo/tokenizer is stale: run `python examples/demo/make_tokenizer.py`")
    assert sum(p.stat().st_size for p in (DEMO / "tokenizer").iterdir()) < 512 * 1024


# ------------------------------------------------------------------------------------ slow (opt-in)


@pytest.mark.slow
@SLOW
def test_full_demo_loss_goes_down(tmp_path):
    from templates_hub.run import run

    result = run(_recipe_file(tmp_path), progress=False)
    losses = [loss for _, loss in result.train.losses]
    assert result.train.last_loss < result.train.first_loss - 2.0, losses
    assert result.train.eval_metrics["eval_loss"] < result.train.first_loss - 2.0


@pytest.mark.slow
@SLOW
def test_notebook_equivalent_runs(tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "notebook_equivalent.py"), "--max-steps", "20",
                           "--output-dir", str(tmp_path / "nb")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for step in ("Step 1/3", "Step 2", "Step 4", "Step 5", "Step 6", "Step 7: the notebook's pairing is refused",
                 "Step 7: 20 steps"):
        assert step in proc.stdout
    assert (tmp_path / "nb" / "tokenizer_config.json").is_file()


@pytest.mark.slow
@SLOW
def test_torchrun_two_cpu_processes(tmp_path):
    """The same command under torchrun: 2 processes (gloo), batches sharded, one model saved."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    cli = shutil.which("templates-hub", path=str(Path(sys.executable).parent))
    if torchrun is None or cli is None:
        pytest.skip("torchrun / templates-hub not installed next to this python")
    recipe = _recipe_file(tmp_path)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", "29517", cli, "train", str(recipe),
                           "--set", "train.max_steps=4", "--json", "-q"], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "model" / "templates_hub_train.json").read_text())
    assert summary["global_step"] == 4
    state = json.loads((tmp_path / "model" / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 8  # per device; the world size is 2
    assert (tmp_path / "model" / "model.safetensors").is_file()
