"""Train / validation split, stratified by length buckets (the seed notebook's Step 4) or by any column.

The notebook's rule: ``bucket = min(user_words // 200, 4)``, then a stratified
``train_test_split(test_size=0.02, seed=42)`` over a ``ClassLabel`` column, or a random split when
fewer than two buckets are usable. Differences, on purpose:

- Rows of a bucket too small to stratify (fewer than ``min_bucket_size`` rows) are *merged into the
  nearest bucket* instead of being thrown away, so no row is lost. Buckets are also merged (smallest
  first) while there are more buckets than rows in the smaller split, where a stratified split is
  impossible. Every merge is listed in the report.
- The validation size may be a fraction or a row count; any column can be the stratum; the bucket
  distribution of both splits is reported.

When no bucket is merged the result is row-for-row the notebook's: the same class ids in the same
order go through the same ``datasets`` call with the same seed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError

LENGTH = "length"
BUCKET_COLUMN = "_len_bucket"
STRATUM_COLUMN = "_stratum"
STRATUM_VALUE_COLUMN = "_stratum_value"


class SplitConfig(BaseModel):
    """The recipe's ``split:`` section. Defaults are the seed notebook's."""

    model_config = ConfigDict(extra="forbid")

    val_size: int | float = Field(
        default=0.02,
        description="Validation rows: a fraction in [0, 1) or a row count (int). 0 = no validation split.",
    )
    seed: int = Field(default=42, description="Seed of the split (same seed, same data -> same split).")
    stratify: str | None = Field(
        default=LENGTH,
        description="`length`: buckets of the user prompt's length (the notebook's len_bucket); a column name: "
        "its values; null: a random split.",
    )
    bucket_width: int = Field(default=200, ge=1, description="Length units per bucket.")
    max_bucket: int = Field(default=4, ge=0, description="Longer prompts share the last bucket: min(len // width, max).")
    length_unit: Literal["words", "chars", "tokens"] = Field(
        default="words", description="How the user prompt is measured (words: whitespace-separated, as the notebook)."
    )
    min_bucket_size: int = Field(
        default=2, ge=2, description="Buckets with fewer rows are merged into the nearest bucket (never dropped)."
    )

    @field_validator("val_size", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a fraction such as 0.02 or a row count such as 100, not a boolean")
        return value

    @model_validator(mode="after")
    def _check_size(self) -> SplitConfig:
        if isinstance(self.val_size, float) and not 0.0 <= self.val_size < 1.0:
            raise ValueError("val_size: a fraction must be in [0, 1); write a row count as an integer")
        if isinstance(self.val_size, int) and self.val_size < 0:
            raise ValueError("val_size: must be >= 0")
        return self

    def needs_tokenizer(self) -> bool:
        return self.stratify == LENGTH and self.length_unit == "tokens"


@dataclass
class SplitResult:
    """The two splits (``validation`` is None when ``val_size`` is 0) and what was done."""

    train: Any
    validation: Any | None
    report: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- buckets
class _Buckets:
    """Batched, picklable: the length bucket of every row (``min(len // width, max_bucket)``)."""

    def __init__(self, config: SplitConfig, kind: str, tokenizer: Any = None):
        self.width = config.bucket_width
        self.max_bucket = config.max_bucket
        self.unit = config.length_unit
        self.kind = kind
        self.tokenizer = tokenizer

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[int]]:
        from .filters.base import batch_rows
        from .filters.text import measure, user_text

        texts = [user_text(row, self.kind) for row in batch_rows(batch)]
        lengths = measure(texts, self.unit, self.tokenizer)
        return {BUCKET_COLUMN: [min(n // self.width, self.max_bucket) for n in lengths]}


def length_buckets(dataset: Any, config: SplitConfig, *, tokenizer: Any = None, num_proc: int | None = None) -> list[int]:
    """The length bucket of every row of ``dataset`` (one batched pass)."""
    from datasets import Features, Value

    from .filters.text import row_kind

    kind = row_kind(dataset.column_names)
    out = dataset.map(
        _Buckets(config, kind, tokenizer),
        batched=True,
        remove_columns=dataset.column_names,
        num_proc=num_proc if num_proc and num_proc > 1 and len(dataset) > 1 else None,
        features=Features({BUCKET_COLUMN: Value("int64")}),
        desc="split: length buckets",
    )
    return out.data.column(BUCKET_COLUMN).to_pylist()


def bucket_label(bucket: int, config: SplitConfig) -> str:
    """Human-readable range of a length bucket, e.g. ``200-399 words`` or ``800+ words``."""
    low = bucket * config.bucket_width
    if bucket >= config.max_bucket:
        return f"{low}+ {config.length_unit}"
    return f"{low}-{low + config.bucket_width - 1} {config.length_unit}"


# --------------------------------------------------------------------------- merging small strata
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _nearest(value: Any, counts: dict[Any, int]) -> Any:
    """Where to merge ``value``: the closest other value (numbers), else the most populated other class."""
    others = [v for v in counts if v != value]
    if _is_number(value) and all(_is_number(v) for v in others):
        return min(others, key=lambda v: (abs(v - value), -counts[v], v))
    return min(others, key=lambda v: (-counts[v], str(v)))


def merge_strata(counts: dict[Any, int], *, min_size: int, max_classes: int) -> tuple[dict[Any, Any], list[dict[str, Any]]]:
    """Merge classes until each has ``min_size`` rows and there are at most ``max_classes``.

    Returns ``(mapping original value -> final value, merges)``; the smallest class is merged first.
    """
    current = dict(counts)
    mapping = {v: v for v in counts}
    merges: list[dict[str, Any]] = []
    while len(current) > 1:
        small = [v for v, c in current.items() if c < min_size]
        if small:
            why = f"fewer than {min_size} rows"
        elif len(current) > max_classes:
            small, why = list(current), f"more strata than the {max_classes} rows of the smaller split"
        else:
            break
        victim = min(small, key=lambda v: (current[v], str(v)))
        target = _nearest(victim, current)
        merges.append({"stratum": victim, "rows": current[victim], "into": target, "why": why})
        current[target] += current.pop(victim)
        for original, final in mapping.items():
            if final == victim:
                mapping[original] = target
    return mapping, merges


def _n_validation(val_size: int | float, n: int) -> int:
    """Validation rows for ``val_size``, computed as ``datasets.train_test_split`` does."""
    return math.ceil(val_size * n) if isinstance(val_size, float) else int(val_size)


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (not _is_number(value), value if _is_number(value) else str(value))


def _distribution(values: Any, order: list[str]) -> dict[str, int]:
    counter = Counter(values)
    return {key: int(counter.get(key, 0)) for key in order}


# --------------------------------------------------------------------------- the split
def split_dataset(
    dataset: Any,
    config: SplitConfig | dict[str, Any] | None = None,
    *,
    tokenizer: Any = None,
    num_proc: int | None = None,
) -> SplitResult:
    """Split ``dataset`` (a ``datasets.Dataset`` of canonical rows) into train and validation.

    Deterministic for a seed. The report holds the method used (``stratified`` / ``random`` / ``none``),
    why a random split was used, every merge of a small stratum, and the distribution of the strata
    (``buckets``: all rows, train, validation).
    """
    from datasets import ClassLabel

    cfg = config if isinstance(config, SplitConfig) else SplitConfig.model_validate(config or {})
    n = len(dataset)
    report: dict[str, Any] = {"rows": n, "val_size": cfg.val_size, "seed": cfg.seed, "stratify": cfg.stratify}
    n_val = _n_validation(cfg.val_size, n)
    if n_val == 0:
        why = "val_size is 0" if cfg.val_size == 0 else f"val_size {cfg.val_size} of {n} rows is 0 rows"
        report.update(method="none", reason=why, train=n, validation=0)
        return SplitResult(dataset, None, report)
    if n_val >= n:
        raise ConfigError(
            f"split.val_size: {cfg.val_size} asks for {n_val} validation rows but there are only {n} rows "
            "(nothing left to train on)",
            problems=[("split.val_size", f"must leave training rows: {n_val} of {n} rows requested")],
        )
    n_train = n - n_val

    values = _strata_values(dataset, cfg, tokenizer=tokenizer, num_proc=num_proc)
    if values is None:
        report["method"] = "random"
        report["reason"] = "stratify is null"
        parts = dataset.train_test_split(test_size=cfg.val_size, seed=cfg.seed)
        report.update(train=len(parts["train"]), validation=len(parts["test"]))
        return SplitResult(parts["train"], parts["test"], report)

    if cfg.stratify == LENGTH:
        report.update(bucket_width=cfg.bucket_width, max_bucket=cfg.max_bucket, length_unit=cfg.length_unit)
    order = [str(v) for v in sorted(set(values), key=_sort_key)]
    mapping, merges = merge_strata(dict(Counter(values)), min_size=cfg.min_bucket_size, max_classes=min(n_val, n_train))
    report["merged"] = [{**m, "stratum": str(m["stratum"]), "into": str(m["into"])} for m in merges]
    strata = [mapping[v] for v in values]
    classes = sorted(set(strata), key=_sort_key)

    # a string copy of each row's original stratum, to report the distribution of both splits
    work = dataset.add_column(STRATUM_VALUE_COLUMN, [str(v) for v in values])
    try:
        if len(classes) >= 2:
            index = {v: i for i, v in enumerate(classes)}
            work = work.add_column(STRATUM_COLUMN, [index[v] for v in strata])
            work = work.cast_column(STRATUM_COLUMN, ClassLabel(names=[str(c) for c in classes]))
            parts = work.train_test_split(test_size=cfg.val_size, seed=cfg.seed, stratify_by_column=STRATUM_COLUMN)
            report["method"] = "stratified"
        else:
            what = "length bucket" if cfg.stratify == LENGTH else "stratum"
            report["method"] = "random"
            report["reason"] = f"only one {what} with at least {cfg.min_bucket_size} rows: a stratified split needs two"
            parts = work.train_test_split(test_size=cfg.val_size, seed=cfg.seed)
    except ValueError as exc:  # datasets' own size checks; merge_strata should have prevented them
        raise ConfigError(f"split: {exc}", problems=[("split", str(exc))]) from None

    train, validation = parts["train"], parts["test"]
    report["train"], report["validation"] = len(train), len(validation)
    report["buckets"] = {
        "all": _distribution((str(v) for v in values), order),
        "train": _distribution(train[STRATUM_VALUE_COLUMN], order),
        "validation": _distribution(validation[STRATUM_VALUE_COLUMN], order),
    }
    if cfg.stratify == LENGTH:
        report["bucket_labels"] = {str(b): bucket_label(b, cfg) for b in sorted(set(values))}
    if len(classes) >= 2:
        report["strata"] = {str(c): n_c for c, n_c in sorted(Counter(strata).items(), key=lambda kv: _sort_key(kv[0]))}
    temp = [c for c in (STRATUM_VALUE_COLUMN, STRATUM_COLUMN) if c in train.column_names]
    return SplitResult(train.remove_columns(temp), validation.remove_columns(temp), report)


def _strata_values(dataset: Any, cfg: SplitConfig, *, tokenizer: Any, num_proc: int | None) -> list[Any] | None:
    """The stratum of every row: its length bucket, the value of the ``stratify`` column, or None (random)."""
    if cfg.stratify is None:
        return None
    if cfg.stratify == LENGTH:
        if cfg.needs_tokenizer() and tokenizer is None:
            raise ConfigError("split.length_unit: tokens needs a tokenizer (set `tokenizer:` in the recipe)",
                              problems=[("split.length_unit", "tokens needs a tokenizer")])
        return length_buckets(dataset, cfg, tokenizer=tokenizer, num_proc=num_proc)
    if cfg.stratify not in dataset.column_names:
        raise ConfigError(
            f"split.stratify: no column {cfg.stratify!r}; columns: {', '.join(dataset.column_names)} "
            "(or `length` for length buckets, null for a random split)",
            problems=[("split.stratify", f"unknown column {cfg.stratify!r}")],
        )
    values = list(dataset[cfg.stratify])
    bad = next((v for v in values if isinstance(v, (list, dict))), None)
    if bad is not None:
        raise ConfigError(
            f"split.stratify: column {cfg.stratify!r} holds {type(bad).__name__} values; stratify by a column of "
            "strings, numbers or booleans",
            problems=[("split.stratify", "not a column of scalar values")],
        )
    return values
