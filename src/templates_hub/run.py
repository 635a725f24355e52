"""``run(recipe)``: the whole recipe in one call: prepare, preprocess, export, train, and a summary.

This is the seed notebook's steps 1-7 as one command (``templates-hub run RECIPE``). Everything that can
fail without training fails first: the recipe is validated when it is loaded, the ``train:`` keys, the
tokenizer and the model config are checked before any data work, and the data checks (rows without a
trained token, ids beyond the embeddings, rows beyond the positions) run on the tokenized splits before
the model is loaded. ``dry_run=True`` stops there, with every count in the summary.

``templates_hub.run`` is callable (``templates_hub.run(recipe)``) even when the attribute is this module.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .train.api import as_recipe, fit_recipe
from .train.arguments import build_training_arguments
from .train.pipeline import TokenizedData, build_data, is_main_process, setup_tokenizer, train_config
from .train.runner import TrainResult, check_before_loading, check_train_split, resume_checkpoint

StepCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class RunResult:
    """What ``run`` did: one record per step, the exports, the training result."""

    recipe: str
    dry_run: bool
    steps: list[dict[str, Any]] = field(default_factory=list)
    exports: list[Any] = field(default_factory=list)  # templates_hub.export ExportResult objects
    train: TrainResult | None = None
    data: TokenizedData | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """The summary table: step, rows in, rows out, tokens, trained share, details (losses, paths)."""
        rows: list[dict[str, Any]] = []
        for step in self.steps:
            rows.append(_table_row(step))
        return rows

    def paths(self) -> dict[str, str]:
        """Where things are: the data source, prepared files, exports, the trained model."""
        out: dict[str, str] = {}
        for step in self.steps:
            if step["step"] == "load" and step.get("source"):
                out["data"] = str(step["source"])
            elif step["step"] == "tokenized" and step.get("path"):
                out["tokenized data"] = str(step["path"])
            elif step["step"] == "export":
                out[f"export ({step.get('target')})"] = str(step.get("path"))
        if self.data is not None and self.data.rejects_path:
            out["rejects"] = self.data.rejects_path
        if self.train is not None:
            out["model" if not self.train.adapter else "adapter"] = self.train.output_dir
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "dry_run": self.dry_run,
            "steps": self.steps,
            "exports": [_export_dict(e) for e in self.exports],
            "train": self.train.to_dict() if self.train is not None else None,
            "paths": self.paths(),
            "notes": self.notes,
        }


def _export_dict(result: Any) -> dict[str, Any]:
    return {
        "target": getattr(result, "target", None),
        "export_dir": str(getattr(result, "export_dir", "")),
        "files": [str(p) for p in getattr(result, "files", [])],
        "commands": list(getattr(result, "commands", [])),
        "unchanged": getattr(result, "unchanged", False),
    }


def _fmt_share(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else ""


def _dropped(step: dict[str, Any]) -> str:
    dropped = ", ".join(f"{k} {v}" for k, v in (step.get("dropped") or {}).items() if v)
    return f"dropped: {dropped}" if dropped else ""


def _table_row(step: dict[str, Any]) -> dict[str, Any]:
    """One line of the summary table; long values (paths) go to ``RunResult.paths`` instead."""
    name = step["step"]
    row = {"step": name, "rows in": step.get("rows_in"), "rows out": step.get("rows_out"), "tokens": None,
           "trained": "", "details": ""}
    if name == "load":
        how = "detected" if step.get("format_detected") else "given"
        row["details"] = f"{step.get('format')} ({how}), {step.get('kind')} rows"
        if step.get("dropped"):
            row["details"] += "; " + _dropped(step)
    elif name == "filter":
        row["details"] = _dropped(step)
    elif name == "split":
        row["rows in"], row["rows out"] = step.get("rows"), (step.get("train") or 0) + (step.get("validation") or 0)
        row["details"] = f"{step.get('method')}: train {step.get('train')}, validation {step.get('validation')}"
    elif name.startswith(("preprocess", "tokenized")):
        row["tokens"] = step.get("tokens")
        row["trained"] = _fmt_share(step.get("trained_share"))
        packs = f"packs {step['packs']}, fill {100 * step['pack_fill']:.1f}%" if step.get("packs") else ""
        row["details"] = "; ".join(t for t in (_dropped(step), packs) if t)
    elif name == "export":
        row["details"] = f"{step.get('target')}" + (" (unchanged)" if step.get("unchanged") else "")
    elif name == "train":
        first, last = step.get("first_loss"), step.get("last_loss")
        loss = f"loss {first:.3f} -> {last:.3f}" if first is not None and last is not None else "no loss logged"
        evl = step.get("eval_loss")
        row["rows in"] = step.get("rows")
        row["tokens"] = step.get("tokens")
        row["trained"] = _fmt_share(step.get("trained_share"))
        row["details"] = f"{step.get('steps')} steps ({step.get('device')}): {loss}" + (
            f", eval {evl:.3f}" if evl is not None else "")
    elif name == "checks":
        row["details"] = step.get("details", "")
    return row


def _export(recipe: Any, data: TokenizedData, setup: Any, progress: bool) -> list[Any]:
    """Run every export of the recipe on the splits already prepared (``templates_hub.export.export`` would
    prepare them again), with the same context ``export`` builds."""
    from .export.api import get_exporter, recipe_context

    prepared = data.prepared
    return [get_exporter(config.target).export(recipe_context(recipe, config, splits=prepared.splits,
                                                              report=prepared.report, template=setup.template,
                                                              progress=progress))
            for config in recipe.exports()]


def run(
    recipe: Any,
    *,
    overrides: Sequence[str] = (),
    dry_run: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    on_step: StepCallback | None = None,
    prepare_dir: str | Path | None = None,
    export: bool = True,
    rejects: str | Path | None = None,
) -> RunResult:
    """Prepare, preprocess, export (when the recipe has ``export:``) and train (when it has ``train:``).

    ``recipe``: a ``Recipe`` or a recipe file (``overrides`` such as ``train.max_steps=5`` apply to a
    file). ``dry_run``: stop before loading the model (every check that needs no weights still runs).
    ``on_step(name, record)`` is called after each step; ``prepare_dir`` also writes prepare's files
    (splits, report.json, rejects.jsonl) there; ``export=False`` skips the export step (``templates-hub train``).
    ``rejects``: the file that receives every row dropped by validation, filters or preprocessing (default:
    ``rejects.jsonl`` in ``train.output_dir``, so rows in == rows trained + rejected can always be checked).
    """
    from .train import checks
    from .train.model import max_positions, vocab_rows

    recipe = as_recipe(recipe, overrides)
    source = str(recipe.source) if recipe.source else None
    result = RunResult(recipe=recipe.run_name, dry_run=dry_run)
    notify = on_step or (lambda name, info: None)

    def record(step: dict[str, Any]) -> None:
        result.steps.append(step)
        notify(step["step"], step)

    if export:
        from .export.api import require_out_dir

        for export_config in recipe.exports():
            require_out_dir(export_config)
    setup = setup_tokenizer(recipe)
    if setup.added_tokens:
        result.notes.append(f"the template added token(s) {', '.join(setup.added_tokens)} to the tokenizer")
    config = train_config(recipe)
    model_cfg = None
    if recipe.train is not None:
        model_cfg = check_before_loading(config, setup.tokenizer, cutoff_len=recipe.preprocess.cutoff_len,
                                         source=source)

    def prepared_step(name: str, info: dict[str, Any]) -> None:
        if name in ("load", "filter", "split"):
            record(dict(info))

    if rejects is None and recipe.train is not None and prepare_dir is None:
        rejects = Path(config.output_dir) / "rejects.jsonl"
    data = build_data(recipe, setup, progress=progress, out_dir=str(prepare_dir) if prepare_dir else None,
                      on_step=prepared_step, rejects=str(rejects) if rejects is not None and is_main_process() else None)
    result.data = data
    for split, stats in data.preprocess_stats.items():
        record({"step": f"preprocess {split}", **stats})
    if data.prepared is None:  # train.tokenized_path
        scans = checks.check_data(data.splits, embedding_rows=None, positions=None, model_name=config.model,
                                  skip=("vocab", "positions", "trained_tokens"))
        for split, scan in scans.items():
            share = scan["trained_tokens"] / scan["tokens"] if scan["trained_tokens"] and scan["tokens"] else None
            record({"step": "tokenized", "split": split, "rows_in": scan["rows"], "rows_out": scan["rows"],
                    "tokens": scan["tokens"], "trained_share": share, "path": data.source})

    if export and recipe.exports():
        if data.prepared is None:
            result.notes.append("export skipped: train.tokenized_path gives no canonical rows to export")
        elif is_main_process():
            result.exports = _export(recipe, data, setup, progress)
            for exported in result.exports:
                record({"step": "export", "target": exported.target, "path": str(exported.export_dir),
                        "unchanged": exported.unchanged, "commands": list(exported.commands)})

    if recipe.train is None:
        result.notes.append("no train: section: stopped after preprocessing / export")
        return result
    if dry_run:
        # what fit would refuse before its first step: no rows, TrainingArguments values, no checkpoint to resume
        check_train_split(data.splits)
        build_training_arguments(config, has_eval="validation" in data.splits, progress=False, source=source)
        resume_checkpoint(config)
        rows = vocab_rows(model_cfg)
        if config.resize_embeddings and rows is not None:
            rows = max(rows, len(setup.tokenizer))
        checks.check_data(data.splits, embedding_rows=rows, positions=max_positions(model_cfg),
                          model_name=config.model, skip=config.skip_checks)
        record({"step": "checks", "details": "all passed; dry run: not training"})
        return result

    trained = fit_recipe(recipe, setup=setup, data=data, progress=progress, callbacks=callbacks)
    result.train = trained
    split = trained.data.get("train", {})
    record({
        "step": "train", "rows": split.get("rows"), "tokens": split.get("tokens"),
        "trained_share": split.get("trained_share"), "steps": trained.global_step, "device": trained.device,
        "first_loss": trained.first_loss, "last_loss": trained.last_loss,
        "eval_loss": trained.eval_metrics.get("eval_loss"), "output_dir": trained.output_dir,
    })
    return result


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> RunResult:
        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
