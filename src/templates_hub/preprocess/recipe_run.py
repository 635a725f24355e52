"""``preprocess_recipe``: a recipe's data steps, then tokenization, saved in LLaMA-Factory's ``tokenized_path`` layout.

``prepare`` (load, validate, filter, split) -> ``preprocess_dataset`` on every split -> one
``DatasetDict`` (``train`` and, when the recipe splits, ``validation``) written with ``save_to_disk``.
LLaMA-Factory loads such a folder with ``tokenized_path: DIR`` and then skips its own preprocessing.

Next to the dataset the folder holds ``preprocess_report.json`` (counts of every step, statistics per
split) and ``rejects.jsonl`` (every row dropped by any step, with its source line and reason);
``datasets.load_from_disk`` ignores both. The folder is written to a temporary sibling and swapped in
at the end, so an interrupted run never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..rejects import RejectsWriter, reject_record
from .api import PreprocessResult, preprocess_dataset

REPORT_FILE = "preprocess_report.json"
REJECTS_FILE = "rejects.jsonl"


@dataclass
class RecipePreprocessResult:
    """The tokenized splits, each split's ``PreprocessResult``, the report and where it was written."""

    splits: Any  # datasets.DatasetDict
    results: dict[str, PreprocessResult]
    report: dict[str, Any]
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)


def preprocess_recipe(recipe: Any, *, out_dir: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
                      progress: bool = True, tokenizer: Any = None,
                      on_step: Callable[[str, dict[str, Any]], None] | None = None) -> RecipePreprocessResult:
    """Run ``prepare`` and tokenize every split of ``recipe`` (a ``Recipe`` or a recipe file).

    ``out_dir`` (default: the recipe's ``preprocess.output_dir``; None and unset: nothing is written)
    receives the tokenized ``DatasetDict``. ``tokenizer`` overrides the recipe's ``tokenizer:``.
    """
    from datasets import DatasetDict

    from ..prepare import prepare
    from ..recipe import Recipe, load_recipe
    from ..templates import fix_tokenizer, get_template

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    config = recipe.preprocess
    target = Path(out_dir) if out_dir is not None else (Path(config.output_dir) if config.output_dir else None)
    if target is not None:
        _check_target(target)  # before the work, not after it
    notify = on_step or (lambda name, info: None)
    if tokenizer is None and recipe.tokenizer is None:  # the cheapest check first: it reads nothing
        raise UsageError("preprocessing needs a tokenizer: set `tokenizer:` in the recipe (or --set tokenizer=DIR)")
    check_preprocessable(recipe)  # before the tokenizer and the data: a missing template fails at once
    if tokenizer is None:
        from ..tokenizer import load_tokenizer

        tokenizer = load_tokenizer(recipe.tokenizer)
    template = None
    added: list[str] = []
    if recipe.template is not None:
        template = get_template(recipe.template.name, tokenizer=tokenizer)
        added = fix_tokenizer(tokenizer, template)
    with tempfile.TemporaryDirectory(prefix="templates_hub_prepare_") as scratch:
        prepare_rejects = Path(scratch) / "rejects.jsonl"
        prepared = prepare(recipe, progress=progress, tokenizer=tokenizer, on_step=on_step, rejects=prepare_rejects)
        rejected_before = _read(prepare_rejects)
    kind = prepared.report.get("kind", "sft")
    options = recipe.template.render_options(config) if recipe.template is not None else None
    results: dict[str, PreprocessResult] = {}
    for name, split in prepared.splits.items():
        result = preprocess_dataset(split, template=template, tokenizer=tokenizer, config=config, kind=kind,
                                    render_options=options, source=recipe.data.label, progress=progress)
        results[name] = result
        notify("preprocess", {"split": name, **result.stats})
    notes = _drop_empty_splits(results, prepared.report)
    splits = DatasetDict({name: r.dataset for name, r in results.items() if name not in notes})
    first = next(iter(results.values()))
    report: dict[str, Any] = {
        "recipe": recipe.run_name,
        "kind": kind,
        "preprocessor": first.preprocessor,
        "stage": first.stage,
        "template": getattr(template, "name", None),
        "tokenizer": recipe.tokenizer,
        "tokens_added": added,
        "cutoff_len": config.cutoff_len,
        "tokenization": config.tokenization,
        "tokenizer_engine": first.engine,
        "splits": {name: r.stats for name, r in results.items()},
        "prepare": prepared.report,
    }
    if notes:
        report["notes"] = list(notes.values())
    files: dict[str, Path] = {}
    if target is not None:
        from .api import _progress

        with _progress(progress):
            files = _write(splits, results, rejected_before, report, target, config.num_proc)
        report["files"] = {k: str(v) for k, v in files.items()}
        notify("write", {"step": "write", "files": report["files"]})
    return RecipePreprocessResult(splits, results, report, target, files)


_ALL_KINDS = frozenset({"sft", "preference", "kto", "text"})


def declared_kinds(recipe: Any) -> tuple[frozenset[str], str]:
    """The row kinds ``recipe``'s data can hold, from the recipe alone (no data read), and why.

    ``data.kind``, a ``dataset_info`` entry, ``data.format`` (its adapter's kinds) and a ``.txt`` path
    narrow the four kinds down; every kind means the data must be looked at.
    """
    data = recipe.data
    if data.kind is not None:
        return frozenset({data.kind}), "data.kind"
    if data.dataset_info is not None and data.dataset is not None:
        from ..formats.dataset_info import read_dataset_info

        attr = read_dataset_info(data.dataset_info, data.dataset)
        return frozenset({attr.kind()}), f"dataset_info.json entry {data.dataset!r}"
    kinds, why = _ALL_KINDS, ""
    if data.format is not None:
        from ..formats.registry import get_format

        kinds, why = kinds & frozenset(get_format(data.format).kinds), f"data.format: {data.format}"
    path = str(data.path or "").lower()
    if path.endswith((".txt", ".text")):
        kinds, why = kinds & {"text"}, "a .txt file: one document per line"
    return kinds, why


def check_preprocessable(recipe: Any) -> None:
    """Refuse, before any data work, a recipe that cannot be preprocessed.

    Chat rows (sft, preference, kto) are rendered with a chat template, so ``template:`` is required
    unless the data are plain text; an explicitly set ``preprocess.preprocessor`` must read the rows'
    kind. The kind comes from the recipe when it says it (``declared_kinds``); otherwise only when a
    template is missing are the first rows read (``io.peek``: no conversion, no filtering, no split).
    Raises ``ConfigError`` with the recipe file, the YAML path and how to fix it.
    """
    from ..recipe import preprocessor_problems, recipe_error

    kinds, why = declared_kinds(recipe)
    if recipe.template is None and "text" in kinds and len(kinds) > 1:
        from ..io import peek

        format_name, kind = peek(recipe.data.source, **recipe.data.load_kwargs())
        kinds, why = frozenset({kind}), f"format {format_name}, read from the first rows of {recipe.data.label}"
    problems: list[tuple[str, str]] = []
    if recipe.template is None and kinds and "text" not in kinds:  # no kind at all: loading says why
        chat = [k for k in ("sft", "preference", "kto") if k in kinds]
        rows = f"{chat[0]} rows ({why})" if len(chat) == 1 else f"chat rows ({why}: {' / '.join(chat)})"
        problems.append(("template", f"required: the data are {rows} and preprocessing renders them "
                         "with a chat template; set `template:` to a registered name (templates-hub list templates), "
                         "a .yaml or .jinja file, or `tokenizer` for the tokenizer's own chat template "
                         "(or --set template=NAME)"))
    if "preprocessor" in recipe.preprocess.model_fields_set and len(kinds) == 1:
        problems += preprocessor_problems(recipe.preprocess.preprocessor, next(iter(kinds)), why)
    if problems:
        raise recipe_error(recipe, problems)


def _drop_empty_splits(results: dict[str, PreprocessResult], prepared: dict[str, Any]) -> dict[str, str]:
    """{split: note} for splits left without rows (``save_to_disk`` writes an empty split that
    ``load_from_disk`` cannot read). An empty validation split is left out; an empty train split is an
    error that says where the rows went."""
    notes = {name: f"{name}: every row was dropped, so the folder has no {name} split"
             for name, r in results.items() if r.dataset is not None and len(r.dataset) == 0}
    if "train" in notes:
        train = results["train"].stats
        counts = {**{k: v for k, v in (prepared.get("rejected_by_step") or {}).items() if v},
                  **{f"preprocess:{k}": v for k, v in (train.get("dropped") or {}).items()}}
        why = ", ".join(f"{k}: {v}" for k, v in counts.items()) or "no rows in the data"
        raise UsageError(
            f"no training rows left: {prepared.get('rows_in', 0)} rows read, every one rejected or dropped ({why}). "
            "Nothing was written; `templates-hub prepare RECIPE --out DIR` writes the reasons to DIR/rejects.jsonl"
        )
    return notes


def _check_target(target: Path) -> None:
    """Refuse an output folder that holds anything but a previous ``preprocess`` result.

    The folder is replaced as a whole, so writing into, say, a project folder would delete its files.
    """
    if not target.exists():
        return
    if not target.is_dir():
        raise UsageError(f"output folder {target} (--out / preprocess.output_dir): exists and is not a directory")
    if any(target.iterdir()) and not (target / REPORT_FILE).is_file():
        raise UsageError(
            f"output folder {target} (--out / preprocess.output_dir): it exists and holds other files; "
            "preprocess replaces its output folder "
            f"as a whole, so it only overwrites a folder it wrote before (one with {REPORT_FILE}). "
            "Choose a new or empty folder."
        )


def _write(splits: Any, results: dict[str, PreprocessResult], rejected_before: list[dict[str, Any]],
           report: dict[str, Any], target: Path, num_proc: int | None) -> dict[str, Path]:
    target = Path(os.path.abspath(target))  # "--out ." has no name to build the temporary sibling from
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        splits.save_to_disk(str(tmp), num_proc=num_proc if num_proc and num_proc > 1 else None)
        with RejectsWriter(tmp / REJECTS_FILE) as writer:
            for record in rejected_before:
                writer.write(record)
            for name, result in results.items():
                for issue in result.rejects:
                    record = reject_record(issue, "preprocess")
                    record["split"] = name
                    writer.write(record)
        files = {"dataset": target, "report": target / REPORT_FILE, "rejects": target / REJECTS_FILE}
        report = {**report, "files": {k: str(v) for k, v in files.items()}}
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n",
                                       encoding="utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files


def _read(path: Path) -> list[dict[str, Any]]:
    """The reject records ``prepare`` wrote (load and filter steps)."""
    from ..rejects import read_rejects

    return read_rejects(path) if path.is_file() else []
