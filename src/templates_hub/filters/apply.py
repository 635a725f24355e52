"""Run a chain of filters over a dataset, batched through ``datasets`` (``num_proc`` workers).

Semantics: filters run in order and each sees only the rows the earlier ones kept, so every dropped row
is counted once, under the first filter that dropped it. Consecutive stateless filters are fused into
one ``map`` pass; a stateful filter (dedup) starts a new pass after ``fit`` has seen all surviving rows.
Each pass returns only two small columns (filter label and reason); the rows themselves are never
rewritten, kept and dropped rows are selected by index. ``rows_in == len(kept) + len(rejects)`` always.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, PluginError, RowIssue, TemplatesHubError
from ..schemas import ROW_COLUMN
from .base import POSITION_COLUMN, Batch, Filter, batch_size_of, build_filter, filter_label
from .text import row_kind

LABEL_COLUMN = "_filter_label"
REASON_COLUMN = "_filter_reason"


@dataclass
class FilterResult:
    """What ``apply_filters`` kept and dropped.

    - ``kept``: the surviving rows (same columns as the input).
    - ``rejects``: one ``RowIssue`` per dropped row, in dataset order: ``row`` is the ``_row`` provenance
      (1-based position when absent), ``kind`` the filter label, ``reason`` why, ``raw`` the row.
    - ``counts``: dropped rows per filter label, in chain order (zeros included).
    """

    kept: Any
    rejects: list[RowIssue]
    counts: dict[str, int]
    rows_in: int = 0
    labels: list[str] = field(default_factory=list)

    @property
    def rows_out(self) -> int:
        return len(self.kept)

    def summary(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "dropped": dict(self.counts)}


class FilterChain:
    """Batched, picklable: runs filters in order on the rows still alive; returns label + reason columns."""

    def __init__(self, filters: Sequence[Filter], labels: Sequence[str]):
        self.filters = list(filters)
        self.labels = list(labels)

    def __call__(self, batch: Batch) -> dict[str, list[str | None]]:
        n = batch_size_of(batch)
        labels: list[str | None] = [None] * n
        reasons: list[str | None] = [None] * n
        alive = list(range(n))
        for flt, label in zip(self.filters, self.labels, strict=True):
            if not alive:
                break
            sub = batch if len(alive) == n else {k: [v[i] for i in alive] for k, v in batch.items()}
            try:
                verdicts = flt(sub)
            except TemplatesHubError:
                raise
            except Exception as exc:
                rows = sub.get(ROW_COLUMN) or sub.get(POSITION_COLUMN) or []
                span = f" (rows {rows[0]}..{rows[-1]})" if rows else ""
                raise PluginError(f"filter {label!r} failed{span}: {type(exc).__name__}: {exc}") from exc
            verdicts = list(verdicts)
            if len(verdicts) != len(alive):
                raise PluginError(f"filter {label!r} returned {len(verdicts)} results for a batch of {len(alive)} rows")
            still = []
            for i, verdict in zip(alive, verdicts, strict=True):
                if verdict is None:
                    still.append(i)
                elif isinstance(verdict, str):
                    labels[i], reasons[i] = label, verdict or f"dropped by {label}"
                else:
                    raise PluginError(
                        f"filter {label!r} returned {verdict!r}: a filter returns None (keep) or a reason string (drop)"
                    )
            alive = still
        return {LABEL_COLUMN: labels, REASON_COLUMN: reasons}


def _segments(filters: list[Filter], labels: list[str]) -> list[tuple[list[Filter], list[str]]]:
    """Split the chain so that every stateful filter starts a segment (it must be fitted first)."""
    segments: list[tuple[list[Filter], list[str]]] = []
    for flt, label in zip(filters, labels, strict=True):
        if not segments or flt.stateful:
            segments.append(([], []))
        segments[-1][0].append(flt)
        segments[-1][1].append(label)
    return segments


def materialize(dataset: Any) -> Any:
    """An ``IterableDataset`` written to Arrow (the cache directory) so it can be filtered and split."""
    from datasets import Dataset, IterableDataset

    if not isinstance(dataset, IterableDataset):
        return dataset

    def rows():
        yield from dataset

    return Dataset.from_generator(rows, features=dataset.features)


def apply_filters(
    dataset: Any,
    specs: Sequence[Any],
    *,
    tokenizer: Any = None,
    num_proc: int | None = None,
    batch_size: int = 1000,
    source: str | None = None,
) -> FilterResult:
    """Filter ``dataset`` (canonical rows) with ``specs`` (``FilterSpec``, dicts with ``name``, names or
    ``Filter`` objects), batched through ``datasets.map`` with ``num_proc`` workers.

    Returns ``FilterResult(kept, rejects, counts)``. Raises ``ConfigError`` for unknown filters or
    parameters, a filter that needs a tokenizer when none is given, or a filter that does not handle the
    dataset's row kind.
    """
    filters = [build_filter(spec, where=f"filters[{i}]", tokenizer=tokenizer) for i, spec in enumerate(specs)]
    dataset = materialize(dataset)
    kind = row_kind(dataset.column_names)
    problems = []
    for i, flt in enumerate(filters):
        if flt.needs_tokenizer() and flt.tokenizer is None:
            problems.append((f"filters[{i}].unit", f"filter {flt.name!r} counts tokens and needs a tokenizer"))
        if kind not in flt.kinds:
            problems.append((f"filters[{i}].name", f"filter {flt.name!r} does not handle {kind} rows "
                             f"(it handles: {', '.join(sorted(flt.kinds))})"))
    if problems:
        raise ConfigError("; ".join(f"{p}: {m}" for p, m in problems), problems=problems)

    labels = filter_label(filters)
    n = len(dataset)
    counts = {label: 0 for label in labels}
    if not filters or n == 0:
        return FilterResult(dataset, [], counts, rows_in=n, labels=labels)
    if num_proc and num_proc > 1 and any(f.tokenizer is not None for f in filters):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # forked workers + Rust threads deadlock

    private = POSITION_COLUMN in dataset.column_names
    alive = dataset if private else dataset.add_column(POSITION_COLUMN, np.arange(n, dtype=np.int64))
    procs = num_proc if num_proc and num_proc > 1 else None
    from datasets import Features, Value

    out_features = Features({LABEL_COLUMN: Value("string"), REASON_COLUMN: Value("string")})
    dropped_parts: list[tuple[Any, list[str], list[str]]] = []
    for seg_filters, seg_labels in _segments(filters, labels):
        if len(alive) == 0:
            break
        if seg_filters[0].stateful:
            seg_filters[0].fit(alive, num_proc=procs, batch_size=batch_size)
        verdicts = alive.map(
            FilterChain(seg_filters, seg_labels),
            batched=True,
            batch_size=batch_size,
            num_proc=procs if procs and len(alive) > 1 else None,
            remove_columns=alive.column_names,
            features=out_features,
            desc=f"filter: {', '.join(seg_labels)}",
        )
        label_col = verdicts.data.column(LABEL_COLUMN)
        dropped_mask = label_col.is_valid().to_numpy(zero_copy_only=False)
        dropped_idx = np.flatnonzero(dropped_mask)
        if dropped_idx.size:
            seg_labels_out = label_col.take(dropped_idx).to_pylist()
            seg_reasons = verdicts.data.column(REASON_COLUMN).take(dropped_idx).to_pylist()
            for label in seg_labels_out:
                counts[label] += 1
            dropped_parts.append((alive.select(dropped_idx), seg_labels_out, seg_reasons))
            alive = alive.select(np.flatnonzero(~dropped_mask))

    kept = alive if private else alive.remove_columns(POSITION_COLUMN)
    rejects = _rejects(dropped_parts, source)
    if len(kept) + len(rejects) != n:  # pragma: no cover - would be a bug in the bookkeeping above
        raise RuntimeError(f"filter accounting broken: {n} rows in, {len(kept)} kept + {len(rejects)} dropped")
    return FilterResult(kept, rejects, counts, rows_in=n, labels=labels)


def _rejects(parts: list[tuple[Any, list[str], list[str]]], source: str | None) -> list[RowIssue]:
    issues: list[tuple[int, RowIssue]] = []
    for subset, labels, reasons in parts:
        rows = subset.to_list()
        for row, label, reason in zip(rows, labels, reasons, strict=True):
            pos = row.pop(POSITION_COLUMN)
            line = row.get(ROW_COLUMN)
            issue = RowIssue(
                row=int(line) if line is not None else pos + 1,
                field="",
                reason=reason,
                source=source,
                kind=label,
                raw=row,
            )
            issues.append((pos, issue))
    issues.sort(key=lambda item: item[0])
    return [issue for _, issue in issues]
