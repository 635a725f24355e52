#!/usr/bin/env python
"""Tokenize a ``templates-hub export trl`` dataset with TRL's own trainer and dump the result as JSON.

Why: an exported config is only right if TRL, given it, trains on the tokens templates-hub would. This
script does what ``trl sft|dpo|kto --config FILE`` does before training -- the TRL script's own argument
parser reads the file (unknown keys are an error, as on the command line), ``load_dataset(dataset_name)``,
then ``SFTTrainer`` / ``DPOTrainer`` / ``KTOTrainer`` with the config and the LoRA settings -- and writes
the tokenized train split, without training. It must run under a python with TRL installed
(scripts/make_trl_venv.sh), never the project's own venv:

    $TEMPLATES_HUB_TRL_PYTHON scripts/trl_reference.py SPEC.json -o OUT.json

SPEC is a list of ``{"name", "trainer": "sft"|"dpo"|"kto", "config": FILE, "args": [extra CLI args]}``
(one process for all of them: importing TRL takes most of the time). OUT holds ``{"versions": {...},
"results": [{"name", "rows_in", "rows": [...]}]}`` where every row is normalised to templates-hub's
column names whatever the TRL version calls them:

- sft: ``input_ids`` and ``labels`` (-100 where TRL computes no loss);
- dpo: ``chosen_input_ids`` / ``chosen_labels`` / ``rejected_*`` (prompt ids + answer ids, prompt masked);
- kto: ``input_ids`` / ``labels`` (prompt + completion, prompt masked) and ``label``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import json
import os
import sys
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
IGNORE = -100


def _first(row: dict[str, Any], *names: str) -> list[int]:
    for name in names:
        if name in row and row[name] is not None:
            return list(row[name])
    raise KeyError(f"none of {names} in the tokenized row (columns: {sorted(row)})")


def _sft_row(row: dict[str, Any]) -> dict[str, Any]:
    ids = list(row["input_ids"])
    if "labels" in row:  # TRL 1.x builds the labels itself
        labels = list(row["labels"])
    else:  # TRL 0.x: masks that the collator turns into labels
        keep = [1] * len(ids)
        for mask in ("assistant_masks", "completion_mask"):
            if mask in row and row[mask] is not None:
                keep = [a and b for a, b in zip(keep, row[mask], strict=True)]
        labels = [t if k else IGNORE for t, k in zip(ids, keep, strict=True)]
    return {"input_ids": ids, "labels": labels}


def _pair(prompt: list[int], answer: list[int]) -> tuple[list[int], list[int]]:
    return prompt + answer, [IGNORE] * len(prompt) + answer


def _dpo_row(row: dict[str, Any]) -> dict[str, Any]:
    prompt = _first(row, "prompt_ids", "prompt_input_ids")
    out: dict[str, Any] = {}
    for side in ("chosen", "rejected"):
        out[f"{side}_input_ids"], out[f"{side}_labels"] = _pair(prompt, _first(row, f"{side}_ids", f"{side}_input_ids"))
    return out


def _kto_row(row: dict[str, Any]) -> dict[str, Any]:
    prompt = _first(row, "prompt_ids", "prompt_input_ids")
    ids, labels = _pair(prompt, _first(row, "completion_ids", "completion_input_ids", "answer_input_ids"))
    return {"input_ids": ids, "labels": labels, "label": bool(row["label"])}


NORMALISE = {"sft": _sft_row, "dpo": _dpo_row, "kto": _kto_row}


def tokenize(spec: dict[str, Any]) -> dict[str, Any]:
    """TRL's tokenized train split for one exported config (see the module docstring)."""
    import trl
    from datasets import load_dataset

    trainer_name = spec["trainer"]
    parser = importlib.import_module(f"trl.scripts.{trainer_name}").make_parser()
    args = ["--config", spec["config"], *spec.get("args", [])]
    script_args, training_args, model_args, _ = parser.parse_args_and_config(args)
    dataset = load_dataset(script_args.dataset_name, name=script_args.dataset_config)
    train = dataset[script_args.dataset_train_split]
    trainer_cls = {"sft": trl.SFTTrainer, "dpo": trl.DPOTrainer, "kto": trl.KTOTrainer}[trainer_name]
    trainer = trainer_cls(model=model_args.model_name_or_path, args=training_args, train_dataset=train,
                          peft_config=trl.get_peft_config(model_args))
    rows = [NORMALISE[trainer_name](dict(row)) for row in trainer.train_dataset]
    return {"name": spec.get("name"), "trainer": trainer_name, "rows_in": len(train), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="JSON file: a list of {name, trainer, config, args}")
    parser.add_argument("-o", "--output", required=True, help="JSON file to write")
    ns = parser.parse_args(argv)
    with open(ns.spec, encoding="utf-8") as f:
        specs = json.load(f)
    versions = {name: md.version(name) for name in ("trl", "transformers", "datasets", "torch", "peft")}
    results = [tokenize(spec) for spec in specs]
    with open(ns.output, "w", encoding="utf-8") as f:
        json.dump({"versions": versions, "results": results}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
