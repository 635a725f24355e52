"""``prepare``: a recipe's data steps, from raw rows to canonical train / validation splits.

load (adapt + validate, ``templates_hub.formats.load_canonical``) -> filters (``apply_filters``) ->
split (``split_dataset``) -> files: ``train.jsonl`` / ``validation.jsonl`` (or ``.parquet``), ``report.json``
and ``rejects.jsonl``. Every row read is accounted for: ``rows_in == train + validation + rejected``,
and the rejects file holds one record per rejected row (step, source file, line, reason, the row).

This module is callable (``templates_hub.prepare(recipe)``): importing it as a submodule (``run`` and
``export`` do) replaces the lazily exported function ``templates_hub.prepare`` with the module, so the
module forwards calls to ``prepare``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import RowIssue, UsageError
from .filters.apply import apply_filters, materialize
from .recipe import Recipe, load_recipe
from .rejects import RejectsWriter, reject_record
from .split import split_dataset

FileFormat = Literal["jsonl", "parquet"]
FILE_FORMATS: tuple[str, ...] = ("jsonl", "parquet")
SPLITS: tuple[str, ...] = ("train", "validation")
StepCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class PrepareResult:
    """What ``prepare`` produced.

    ``splits`` is a ``datasets.DatasetDict`` with ``train`` (and ``validation`` when the recipe splits) of
    canonical rows, ``_row`` provenance included; ``report`` is what ``report.json`` holds; the paths are
    None when nothing was written.
    """

    splits: Any
    report: dict[str, Any]
    rejects_path: Path | None = None
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Show or hide ``datasets``' progress bars for the duration of a call, then restore the setting."""
    import datasets

    before = datasets.is_progress_bar_enabled()
    if enabled:
        datasets.enable_progress_bars()
    else:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        (datasets.enable_progress_bars if before else datasets.disable_progress_bars)()


def _prune(value: Any) -> Any:
    """Drop null fields (absent = null for every reader), recursively."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def public_columns(dataset: Any) -> list[str]:
    return [c for c in dataset.column_names if not c.startswith("_")]


def write_split(dataset: Any, path: Path, file_format: FileFormat = "jsonl", *, batch_size: int = 1000) -> Path:
    """Write canonical rows without the ``_`` provenance columns; atomically (temp file, then rename)."""
    from datasets.utils import tqdm as hf_tqdm

    from .filters.base import batch_rows

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = dataset.select_columns(public_columns(dataset))
    try:
        if file_format == "parquet":
            data.to_parquet(str(tmp))
        else:
            with tmp.open("w", encoding="utf-8") as fh, hf_tqdm(total=len(data), desc=f"write {path.name}",
                                                              unit=" rows") as bar:
                for batch in data.iter(batch_size=batch_size):
                    rows = batch_rows(batch)
                    fh.writelines(json.dumps(_prune(row), ensure_ascii=False) + "\n" for row in rows)
                    bar.update(len(rows))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _located(issue: RowIssue, load: Any) -> RowIssue:
    """Point a filter reject at its source file and line (shards of a folder are numbered globally)."""
    locate = getattr(load, "locate", None)
    if locate is None:
        return issue
    source, row = locate(issue.row)
    issue.source, issue.row = source, row
    return issue


def _reject_records(load: Any, filter_rejects: list[RowIssue]) -> list[dict[str, Any]]:
    records = [(issue.row, reject_record(issue, "validate")) for issue in load.rejects]
    for issue in filter_rejects:
        global_row = issue.row
        data = {k: v for k, v in (issue.raw or {}).items() if not k.startswith("_")}
        records.append((global_row, reject_record(_located(issue, load), f"filter:{issue.kind}", data=_prune(data))))
    records.sort(key=lambda item: item[0])
    return [record for _, record in records]


def prepare(
    recipe: Recipe | str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    rejects: str | os.PathLike[str] | None = None,
    file_format: FileFormat = "jsonl",
    overrides: Sequence[str] = (),
    tokenizer: Any = None,
    on_step: StepCallback | None = None,
) -> PrepareResult:
    """Run the data steps of ``recipe`` (a ``Recipe`` or a recipe file; ``overrides`` apply to a file).

    With ``out_dir`` the splits, ``report.json`` and ``rejects.jsonl`` are written there; ``rejects``
    names another rejects file (written even without ``out_dir``). ``tokenizer`` is loaded from the
    recipe only when a filter or the split counts tokens. ``on_step(name, info)`` is called after each
    step (the CLI prints progress with it).
    """
    from datasets import DatasetDict

    from .formats import load_canonical

    if file_format not in FILE_FORMATS:
        raise UsageError(f"--format {file_format!r}: expected one of {', '.join(FILE_FORMATS)}")
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        raise UsageError("overrides apply to a recipe file; apply them to a Recipe with recipe_from_data")
    notify = on_step or (lambda name, info: None)
    if tokenizer is None and recipe.needs_tokenizer():
        from .tokenizer import load_tokenizer

        assert recipe.tokenizer is not None  # the recipe validator checks it
        tokenizer = load_tokenizer(recipe.tokenizer)
    num_proc = recipe.data.num_proc

    with progress_bars(progress):
        load = load_canonical(recipe.data.source, **recipe.data.load_kwargs())
        dataset = materialize(load.dataset)
        rows_in = load.rows_in if load.rows_in is not None else len(dataset) + len(load.rejects)
        load_step = {
            "step": "load",
            "source": recipe.data.label,
            "format": load.format,
            "format_detected": load.detected,
            "kind": load.kind,
            "rows_in": rows_in,
            "rows_out": len(dataset),
            "dropped": dict(Counter(issue.kind for issue in load.rejects).most_common()),
            "notes": list(getattr(load, "notes", []) or []),
        }
        notify("load", load_step)

        filtered = apply_filters(dataset, recipe.filters, tokenizer=tokenizer, num_proc=num_proc, source=load.source)
        filter_step = {"step": "filter", **filtered.summary()}
        notify("filter", filter_step)

        if recipe.split is not None:
            result = split_dataset(filtered.kept, recipe.split, tokenizer=tokenizer, num_proc=num_proc)
            train, validation, split_report = result.train, result.validation, result.report
        else:
            train, validation = filtered.kept, None
            split_report = {"method": "none", "reason": "the recipe has no split section",
                            "rows": len(train), "train": len(train), "validation": 0}
        notify("split", {"step": "split", **split_report})

        splits = DatasetDict({"train": train} if validation is None else {"train": train, "validation": validation})
        rejected = len(load.rejects) + len(filtered.rejects)
        rows_out = sum(len(d) for d in splits.values())
        report: dict[str, Any] = {
            "recipe": recipe.run_name,
            "recipe_file": str(recipe.source) if recipe.source else None,
            "source": recipe.data.label,
            "format": load.format,
            "format_detected": load.detected,
            "kind": load.kind,
            "rows_in": rows_in,
            "rows_out": rows_out,
            "rejected": rejected,
            "balanced": rows_in == rows_out + rejected,
            "splits": {name: len(d) for name, d in splits.items()},
            "rejected_by_step": {
                "validate": len(load.rejects),
                **{f"filter:{label}": n for label, n in filtered.counts.items()},
            },
            "steps": [load_step, filter_step, {"step": "split", **split_report}],
        }

        out = Path(out_dir) if out_dir is not None else None
        rejects_path = Path(rejects) if rejects is not None else (out / "rejects.jsonl" if out else None)
        files: dict[str, Path] = {}
        if out is not None:
            for name in SPLITS:
                for fmt in FILE_FORMATS:  # a previous run's file of a split or format not written now is stale
                    stale = out / f"{name}.{fmt}"
                    if (name not in splits or fmt != file_format) and stale.is_file():
                        stale.unlink()
            for name, data in splits.items():
                files[name] = write_split(data, out / f"{name}.{file_format}", file_format)
        if rejects_path is not None:
            with RejectsWriter(rejects_path) as writer:
                for record in _reject_records(load, filtered.rejects):
                    writer.write(record)
            files["rejects"] = rejects_path
        if out is not None:
            report["files"] = {name: str(path) for name, path in files.items()} | {"report": str(out / "report.json")}
            tmp = out / ".report.json.tmp"
            tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, out / "report.json")
            files["report"] = out / "report.json"
        notify("write", {"step": "write", "files": {k: str(v) for k, v in files.items()}})

    return PrepareResult(splits, report, rejects_path, out, files)


class _CallableModule(types.ModuleType):
    """Lets ``templates_hub.prepare(recipe)`` work whether the attribute is the function or this module."""

    def __call__(self, *args: Any, **kwargs: Any) -> PrepareResult:
        return prepare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
