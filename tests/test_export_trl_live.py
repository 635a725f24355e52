"""TRL itself trains on our TRL exports (optional, slow: about two minutes on two CPU cores).

Skipped unless ``TEMPLATES_HUB_TRL_PYTHON`` points to the python of a virtualenv with TRL and peft
(``scripts/make_trl_venv.sh`` builds one). It exports the fixture rows for every TRL trainer -- sft as
``messages`` and as ``prompt_completion``, dpo, kto -- with a tiny random Llama saved to disk as the model,
then:

- ``scripts/trl_reference.py`` builds TRL's own trainer from each exported config and dumps the tokenized
  train split: TRL must keep every row and produce exactly templates-hub's input ids, and train on the
  same tokens (labels; prompt-completion data trains on the last answer only, as ``mask_history``);
- ``trl sft|dpo|kto --config FILE --max_steps 2`` -- the command the export prints -- must train and save
  the adapter (``--bf16 false``: the exported config asks for bf16, which CPUs refuse).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_export_support import make_splits, run_export

pytestmark = [pytest.mark.slow]

TRL_PYTHON = os.environ.get("TEMPLATES_HUB_TRL_PYTHON")
REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "scripts" / "trl_reference.py"
CUTOFF = 1024
#: name -> (fixture data, trainer, export config)
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sft": ("sft", "sft", {}),
    "sft_pc": ("sft", "sft", {"trl_format": "prompt_completion"}),
    "dpo": ("preference", "dpo", {}),
    "kto": ("kto", "kto", {}),
}
_COLUMNS = {"sft": ("input_ids", "labels"), "kto": ("input_ids", "labels"),
            "dpo": ("chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels")}
#: CPU-friendly overrides of the exported (GPU) config, given on the command line as a user would
_CPU_ARGS = ["--bf16", "false", "--report_to", "none"]


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("HF_DATASETS_CACHE", None)  # the TRL venv keeps its own cache
    return env


@pytest.fixture(scope="module")
def trl_python() -> str:
    if not TRL_PYTHON:
        pytest.skip("set TEMPLATES_HUB_TRL_PYTHON to the python of a venv with trl (scripts/make_trl_venv.sh)")
    if not Path(TRL_PYTHON).exists():
        pytest.skip(f"TEMPLATES_HUB_TRL_PYTHON={TRL_PYTHON} does not exist")
    found = subprocess.run([TRL_PYTHON, "-c", "import trl, peft; print(trl.__version__)"], capture_output=True,
                           text=True, env=_env(), timeout=300)
    if found.returncode != 0:
        pytest.skip(f"{TRL_PYTHON} cannot import trl and peft: {found.stderr.strip()[-300:]}")
    return TRL_PYTHON


@pytest.fixture(scope="module")
def exports(trl_python, tmp_path_factory) -> dict[str, Any]:
    """Each case exported with a tiny random Llama saved to disk (TRL loads the model by path)."""
    from templates_hub.templates import fix_tokenizer, get_template
    from templates_hub.tiny import build_tiny_tokenizer, tiny_model

    root = tmp_path_factory.mktemp("trl_live")
    tokenizer = build_tiny_tokenizer()
    template = get_template("qwen")
    fix_tokenizer(tokenizer, template)
    # DPO / KTO format rows with the tokenizer's own chat template (their configs have no
    # chat_template_path): give the saved tokenizer the recipe's, as the export's note asks
    tokenizer.chat_template = template.to_jinja()
    model_dir = root / "model"
    model = tiny_model(tokenizer)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    from templates_hub.preprocess.config import PreprocessConfig

    configs = {}
    for name, (data, trainer, config) in CASES.items():
        result = run_export(root / "out", "trl", data, name=name, validation=1, tokenizer=tokenizer,
                            model=str(model_dir), preprocess=PreprocessConfig(cutoff_len=CUTOFF), **config)
        assert result.commands == [f"trl {trainer} --config {result.export_dir / f'trl_{trainer}.yaml'}"]
        configs[name] = result.export_dir / f"trl_{trainer}.yaml"
    return {"root": root, "tokenizer": tokenizer, "template": template, "configs": configs}


def _ours(name: str, tokenizer: Any, template: Any) -> list[dict[str, Any]]:
    """templates-hub's tokenization of the train split TRL reads."""
    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig

    data, _, config = CASES[name]
    # prompt-completion rows train on the last answer only: templates-hub's mask_history
    pre = PreprocessConfig(cutoff_len=CUTOFF, mask_history=config.get("trl_format") == "prompt_completion")
    result = preprocess_dataset(make_splits(data, 1)["train"], template=template, tokenizer=tokenizer, config=pre,
                                kind=data, progress=False)
    return [dict(row) for row in result.dataset]


def _text(tokenizer: Any, ids: list[int]) -> str:
    """The trained (or all) tokens as text, for a readable failure."""
    return repr(tokenizer.decode([t for t in ids if t >= 0]))


def test_trl_tokenizes_our_exports_like_templates_hub(exports, trl_python, tmp_path):
    names = list(CASES)
    specs = [{"name": name, "trainer": CASES[name][1], "config": str(exports["configs"][name]),
              "args": [*_CPU_ARGS, "--eval_strategy", "no", "--output_dir", str(tmp_path / "unused")]}
             for name in names]
    (tmp_path / "spec.json").write_text(json.dumps(specs))
    out = tmp_path / "result.json"
    done = subprocess.run([trl_python, str(RUNNER), str(tmp_path / "spec.json"), "-o", str(out)],
                          capture_output=True, text=True, timeout=600, env=_env())
    assert done.returncode == 0, f"TRL failed:\n{done.stderr[-4000:]}"
    results = {r["name"]: r for r in json.loads(out.read_text())["results"]}
    for name in names:
        ours = _ours(name, exports["tokenizer"], exports["template"])
        theirs = results[name]
        assert theirs["rows_in"] == len(ours) and len(theirs["rows"]) == len(ours), f"{name}: TRL dropped rows"
        for i, (a, b) in enumerate(zip(ours, theirs["rows"], strict=True)):
            for column in _COLUMNS[CASES[name][1]]:
                assert a[column] == b[column], (f"{name} row {i}, {column}:\n templates-hub "
                                                f"{_text(exports['tokenizer'], a[column])}\n TRL "
                                                f"{_text(exports['tokenizer'], b[column])}")
        if name == "kto":
            assert [r["label"] for r in theirs["rows"]] == [bool(r["kto_tags"]) for r in ours]


@pytest.mark.parametrize("name", list(CASES))
def test_trl_command_trains_two_steps(exports, trl_python, tmp_path, name):
    trainer = CASES[name][1]
    cli = Path(trl_python).parent / "trl"
    assert cli.exists(), f"{cli}: the trl command is missing from the TRL venv"
    out = tmp_path / "run"
    command = [str(cli), trainer, "--config", str(exports["configs"][name]), "--max_steps", "2", *_CPU_ARGS,
               "--output_dir", str(out), "--save_strategy", "no", "--logging_steps", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{log[-4000:]}"
    assert "'loss'" in log and "train_loss" in log, log[-2000:]
    assert (out / "adapter_config.json").is_file()  # the export trains a LoRA adapter (ModelConfig.use_peft)


if __name__ == "__main__":  # pragma: no cover - convenience: python tests/test_export_trl_live.py
    sys.exit(pytest.main([__file__, "-v"]))
