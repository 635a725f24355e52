"""Writing canonical splits as record files (json arrays or JSON lines), in batches.

Records come from the registered format adapters (``templates_hub.formats.make_adapter(...).write``, the
engine behind ``write_records``), run inside ``Dataset.map(batched=True, num_proc=...)`` so big splits are
converted in parallel and never held as Python lists. Each record is serialised to JSON text in the map;
the file is then streamed from the Arrow column.

Every record of a file gets the same keys (a key some rows lack is written as ``null``): JSON-lines
readers (pyarrow, hence ``datasets`` and LLaMA-Factory) infer the columns from the first block of a file
and would otherwise miss or mistype a column that only appears later.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset

    from .atomic import StagedExport
    from .base import ExportContext

#: a function reshaping one written record (e.g. TRL's prompt/completion split); must be picklable
Reshape = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class WrittenFile:
    """One written record file."""

    path: Path
    rows: int
    keys: list[str]
    #: rows left out because the layout cannot hold them (only when ``skip_unwritable``)
    skipped_count: int = 0
    #: the first few of those, as "row N, field: reason"
    skipped: list[str] = field(default_factory=list)


def _rows_of(batch: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(batch)
    size = len(batch[names[0]]) if names else 0
    return [{name: batch[name][i] for name in names} for i in range(size)]


def _strip_train(row: dict[str, Any]) -> dict[str, Any]:
    def strip(msg: Any) -> Any:
        return {**msg, "train": None} if isinstance(msg, dict) and msg.get("train") is not None else msg

    out = dict(row)
    if out.get("messages"):
        out["messages"] = [strip(m) for m in out["messages"]]
    for side in ("chosen", "rejected"):
        if isinstance(out.get(side), dict):
            out[side] = strip(out[side])
    return out


def _encode_batch(batch: dict[str, list[Any]], *, layout: str, kind: str, options: dict[str, Any],
                  reshape: Reshape | None, strip_train: bool) -> dict[str, list[Any]]:
    from ..formats import RowProblem, make_adapter

    adapter = make_adapter(layout, options, kind)
    texts: list[str | None] = []
    keys: list[list[str]] = []
    errors: list[str | None] = []
    for i, row in enumerate(_rows_of(batch)):
        if strip_train:
            row = _strip_train(row)
        try:
            record = adapter.write({k: v for k, v in row.items() if not k.startswith("_")})
            if reshape is not None:
                record = reshape(record)
        except RowProblem as problem:
            number = row.get("_row") or i + 1
            texts.append(None)
            keys.append([])
            errors.append(f"row {number}, {problem.field}: {problem.reason}")
            continue
        texts.append(json.dumps(record, ensure_ascii=False))
        keys.append(list(record))
        errors.append(None)
    return {"_json": texts, "_keys": keys, "_error": errors}


def encode_split(dataset: Dataset, *, layout: str, kind: str, options: Mapping[str, Any] | None = None,
                 reshape: Reshape | None = None, strip_train: bool = False, num_proc: int | None = None,
                 batch_size: int = 1000, desc: str | None = None) -> Dataset:
    """``dataset`` (canonical rows) -> a dataset of ``_json`` (record text or None), ``_keys``, ``_error``."""
    fn = functools.partial(_encode_batch, layout=layout, kind=kind, options=dict(options or {}), reshape=reshape,
                           strip_train=strip_train)
    return dataset.map(fn, batched=True, batch_size=batch_size, remove_columns=dataset.column_names,
                       num_proc=num_proc if num_proc and len(dataset) >= 2 * batch_size else None,
                       desc=desc, load_from_cache_file=False)


def _union_keys(encoded: Dataset) -> list[str]:
    import pyarrow.compute as pc

    column = encoded.data.column("_keys")
    return [str(k) for k in pc.unique(pc.list_flatten(column)).to_pylist()]


def collect_errors(encoded: Dataset, limit: int = 5) -> tuple[int, list[str]]:
    """``(number of unwritable rows, the first ``limit`` messages)``."""

    column = encoded.data.column("_error")
    count = len(column) - column.null_count
    if not count:
        return 0, []
    first = encoded.filter(lambda e: e is not None, input_columns="_error").select(range(min(limit, count)))
    return count, list(first["_error"])


def _stream(encoded: Dataset, path: Path, file_format: str, keys: list[str]) -> int:
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        if file_format == "json":
            fh.write("[\n")
        for batch in encoded.iter(batch_size=10_000):
            lines: list[str] = []
            for text, row_keys in zip(batch["_json"], batch["_keys"], strict=True):
                if text is None:
                    continue
                if len(row_keys) != len(keys):
                    record = json.loads(text)
                    text = json.dumps({k: record.get(k) for k in keys}, ensure_ascii=False)
                lines.append(text)
            if not lines:
                continue
            if file_format == "json":
                fh.write((",\n" if written else "") + ",\n".join(lines))
            else:
                fh.write("\n".join(lines) + "\n")
            written += len(lines)
        if file_format == "json":
            fh.write("\n]\n")
    return written


def write_split(ctx: ExportContext, staged: StagedExport, split: str, relative: str, *, layout: str,
                options: Mapping[str, Any] | None = None, file_format: str = "jsonl", reshape: Reshape | None = None,
                strip_train: bool = False, skip_unwritable: bool = False) -> WrittenFile:
    """Write ``ctx.splits[split]`` as ``layout`` records to ``relative`` inside the staged export.

    A row the layout cannot hold raises ``DataError`` naming the first rows and fields, unless
    ``skip_unwritable`` (then those rows are left out and listed in ``WrittenFile.skipped``).
    """
    dataset = ctx.splits[split]
    encoded = encode_split(dataset, layout=layout, kind=ctx.kind, options=options, reshape=reshape,
                           strip_train=strip_train, num_proc=ctx.preprocess.num_proc if ctx.preprocess else None,
                           desc=f"{split}: {layout} records" if ctx.progress else None)
    count, first = collect_errors(encoded)
    if count and not skip_unwritable:
        more = f" (and {count - len(first)} more)" if count > len(first) else ""
        raise DataError(f"{split} split: {count} row(s) cannot be written as {layout} records: "
                        + "; ".join(first) + more)
    keys = _union_keys(encoded)
    target = staged.path(relative)
    rows = 0

    def writer(path: Path) -> None:
        nonlocal rows
        rows = _stream(encoded, path, file_format, keys)

    staged.write_with(relative, writer)
    return WrittenFile(target, rows, keys, count, first)
