"""LLaMA-Factory 0.9.5 itself loads our exports (optional, slow).

Skipped unless ``TEMPLATES_HUB_LF_PYTHON`` points to the python of a LLaMA-Factory 0.9.5 virtualenv
(``scripts/make_llamafactory_venv.sh`` builds one). For sft, dpo, kto and pt it exports fixture rows,
turns the exported training YAML into a spec for ``scripts/llamafactory_reference.py`` (which runs
LLaMA-Factory's own ``get_train_args -> load_tokenizer -> get_template_and_fix_tokenizer -> get_dataset``)
and checks that LLaMA-Factory loads every exported row and, for the built-in template, produces exactly
the token ids and labels templates-hub's preprocessor produces. A custom template's ``tokenized_path``
dataset must be loaded by LLaMA-Factory as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_export_support import make_splits, run_export

pytestmark = [pytest.mark.llamafactory, pytest.mark.slow]

LF_PYTHON = os.environ.get("TEMPLATES_HUB_LF_PYTHON")
REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "scripts" / "llamafactory_reference.py"
CASES = [("sft", "sft"), ("preference", "dpo"), ("kto", "kto"), ("text", "pt")]
#: YAML keys the reference runner sets itself (or that only matter for the training run)
_RUNNER_KEYS = {"model_name_or_path", "stage", "dataset", "eval_dataset", "output_dir", "do_train",
                "finetuning_type", "report_to", "overwrite_cache"}
#: the columns compared per stage
_COLUMNS = {
    "sft": ("input_ids", "labels"),
    "dpo": ("chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"),
    "kto": ("input_ids", "labels", "kl_input_ids", "kl_labels", "kto_tags"),
    "pt": ("input_ids",),
}


@pytest.fixture(scope="module")
def lf_python() -> str:
    if not LF_PYTHON:
        pytest.skip("set TEMPLATES_HUB_LF_PYTHON to a LLaMA-Factory 0.9.5 venv's python to run this test")
    if not Path(LF_PYTHON).exists():
        pytest.skip(f"TEMPLATES_HUB_LF_PYTHON={LF_PYTHON} does not exist")
    if not RUNNER.is_file():
        pytest.skip(f"{RUNNER} is absent")
    return LF_PYTHON


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> str:
    """A real tokenizer (../shared/tokenizers/qwen2.5) when present, else the tiny one saved to disk."""
    from shared_paths import SHARED

    qwen = SHARED / "tokenizers" / "qwen2.5"
    if qwen.is_dir():
        return str(qwen)
    from templates_hub.tiny import build_tiny_tokenizer

    path = tmp_path_factory.mktemp("tiny_tok")
    build_tiny_tokenizer().save_pretrained(path)
    return str(path)


def _run_reference(python: str, specs, tmp: Path, tokenized_path: str | None = None) -> dict:
    spec_file, out_file = tmp / "spec.json", tmp / "result.json"
    spec_file.write_text(json.dumps(specs))
    command = [python, str(RUNNER), str(spec_file), "-o", str(out_file)]
    if tokenized_path:
        command += ["--tokenized-path", tokenized_path]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("HF_DATASETS_CACHE", None)
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, f"LLaMA-Factory failed:\n{done.stderr[-4000:]}"
    return json.loads(out_file.read_text())


def _spec(export_dir: Path, stage: str, name: str) -> dict:
    config = yaml.safe_load((export_dir / f"llamafactory_{stage}.yaml").read_text())
    spec = {k: v for k, v in config.items() if k not in _RUNNER_KEYS}
    spec.update({"name": name, "tokenizer": config["model_name_or_path"], "stage": stage,
                 "dataset": config["dataset"], "provenance": True})
    if "eval_dataset" in config:
        spec["eval_dataset"] = config["eval_dataset"]
    spec.pop("bf16", None)  # mixed precision is irrelevant for data and unsupported on some CPUs
    return spec


def _ours(data: str, tokenizer_dir: str, template: str, validation: int, cutoff_len: int) -> dict:
    """templates-hub's own tokenization of the same splits (what LLaMA-Factory must reproduce)."""
    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig
    from templates_hub.templates import fix_tokenizer, get_template
    from templates_hub.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    tmpl = get_template(template)
    fix_tokenizer(tokenizer, tmpl)
    kind = "text" if data == "text" else data
    out = {}
    for split, dataset in make_splits(data, validation).items():
        result = preprocess_dataset(dataset, template=tmpl, tokenizer=tokenizer,
                                    config=PreprocessConfig(cutoff_len=cutoff_len), kind=kind, progress=False)
        out[split] = [dict(row) for row in result.dataset]
    return out


def _compare(ours: list[dict], theirs: list[dict], columns) -> None:
    assert ours and len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for column in columns:
            assert a[column] == b[column], f"row {i}, {column}: templates-hub {a[column]} != LLaMA-Factory {b[column]}"


def test_llamafactory_loads_builtin_template_exports_with_identical_ids(lf_python, tokenizer_dir, tmp_path):
    specs, expected = [], {}
    cutoff = {"sft": 1024, "dpo": 1024, "kto": 1024, "pt": 32}
    for data, stage in CASES:
        from templates_hub.preprocess.config import PreprocessConfig

        validation = 1
        result = run_export(tmp_path / "out", "llamafactory", data, validation=validation, tokenizer=tokenizer_dir,
                            model=tokenizer_dir, preprocess=PreprocessConfig(cutoff_len=cutoff[stage]))
        assert result.manifest["template_mode"] == "name"
        specs.append(_spec(result.export_dir, stage, data))
        expected[data] = (stage, make_splits(data, validation), _ours(data, tokenizer_dir, "qwen", validation,
                                                                      cutoff[stage]))
    results = _run_reference(lf_python, specs, tmp_path)["results"]
    for result in results:
        data = result["name"]
        assert "error" not in result, result.get("error")
        stage, splits, ours = expected[data]
        assert result["resolved"]["template"] == "qwen"
        for split in ("train", "validation"):
            theirs = result["splits"][split]
            provenance = theirs.get("provenance", {})
            if provenance.get("kind") == "rows":  # every exported row was loaded, none dropped as invalid
                assert len(provenance["source"]) == len(splits[split]) and provenance["dropped_invalid"] == []
            elif provenance.get("kind") == "blocks":
                assert len(provenance["rows_in"]) == len(splits[split])
            else:
                assert theirs["num_rows"] == len(splits[split]), provenance
            _compare(ours[split], theirs["rows"], _COLUMNS[stage])


@pytest.mark.parametrize("data,stage", CASES)
def test_llamafactory_loads_our_tokenized_path(lf_python, tokenizer_dir, tmp_path, data, stage):
    from datasets import load_from_disk

    from templates_hub.preprocess.config import PreprocessConfig

    fixtures = Path(__file__).resolve().parent / "fixtures" / "export"
    result = run_export(tmp_path / "out", "llamafactory", data, validation=1, tokenizer=tokenizer_dir,
                        model=tokenizer_dir, template=str(fixtures / "custom_template.yaml"),
                        preprocess=PreprocessConfig(cutoff_len=32 if stage == "pt" else 1024))
    assert result.manifest["template_mode"] == "tokenized"
    spec = _spec(result.export_dir, stage, data)
    tokenized = spec.pop("tokenized_path")
    reference = _run_reference(lf_python, spec, tmp_path, tokenized_path=tokenized)["result"]
    assert reference["tokenized_path_mode"] == "loaded"
    ours = load_from_disk(tokenized)
    for split in ours:
        theirs = reference["splits"][split]
        assert theirs["num_rows"] == len(ours[split])
        assert theirs["features"] == {c: str(f) for c, f in ours[split].features.items()}
        _compare([dict(r) for r in ours[split]], theirs["rows"], _COLUMNS[stage])


if __name__ == "__main__":  # pragma: no cover - convenience: python tests/test_export_live.py
    sys.exit(pytest.main([__file__, "-v"]))
