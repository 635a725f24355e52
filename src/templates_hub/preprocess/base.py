"""The preprocessor interface: a picklable batch function ``dict of lists -> dict of lists``.

A preprocessor is built once (``Cls(template=..., tokenizer=..., config=...)``) and then called on
batches of canonical rows, so the same object runs under ``datasets.Dataset.map(batched=True,
num_proc=N)``, ``IterableDataset.map`` and Ray Data's ``map_batches``. All tokenizer work of a batch
goes through one ``TokenizerEngine`` call.

Accounting. With ``accounting=True`` (what ``preprocess_dataset`` uses) the output keeps one row per
input row: a row the preprocessor refuses stays as a placeholder with empty lists and its reason in
``_drop``; ``_row`` carries the source position and ``_tokens`` / ``_trained`` the token counts. Those
columns let the caller count and report every dropped row (``RowIssue``) and compute statistics from
small integer columns instead of re-reading the token lists. With ``accounting=False`` (plain use,
Ray Data) dropped rows are simply left out and only the training columns are returned.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import TemplatesHubError
from ..templates.base import ChatTemplate, RenderOptions, SpecialTokens
from .config import PreprocessConfig
from .encode import TokenizerEngine

#: Columns added for accounting (see the module docstring); never written to the tokenized dataset.
ACCOUNTING_COLUMNS: tuple[str, ...] = ("_row", "_drop", "_tokens", "_trained")
#: LLaMA-Factory's media columns; its pairwise and KTO collators index them, so text rows carry them as nulls.
MEDIA_COLUMNS: tuple[str, ...] = ("images", "videos", "audios")


class Preprocessor:
    """Base class of the built-in preprocessors (plugins may subclass it or register any factory with
    the same call signature: ``factory(template=, tokenizer=, config=, accounting=) -> batch function``
    whose result has ``features()`` and ``input_kind``)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: the canonical row kind this preprocessor reads: "sft" | "preference" | "kto" | "text"
    input_kind: ClassVar[str] = "sft"
    #: the training stages (``collator_for``) whose batches it produces
    stage: ClassVar[str] = "sft"
    #: columns whose list lengths are counted as tokens in the statistics
    token_columns: ClassVar[tuple[str, ...]] = ("input_ids",)
    #: whether ``_trained`` counts tokens with a loss (False for pretraining and references-only rows)
    reports_trained: ClassVar[bool] = True

    def __init__(self, *, template: ChatTemplate | None, tokenizer: Any, config: PreprocessConfig,
                 accounting: bool = False, render_options: RenderOptions | None = None,
                 engine: TokenizerEngine | None = None):
        self.template = template
        self.tokenizer = tokenizer
        self.config = config
        self.accounting = accounting
        self.engine = engine if engine is not None else TokenizerEngine(tokenizer, fast=config.fast_tokenization)
        self.tokens = SpecialTokens.from_tokenizer(tokenizer)
        self.render_options = render_options
        self.eos_id: int | None = tokenizer.eos_token_id
        self.media = config.media_columns
        self.check()

    def check(self) -> None:
        """Refuse settings that cannot work, with a message that says what to change."""

    # -- the batch function ---------------------------------------------------------------------------------

    def __call__(self, batch: dict[str, list[Any]]) -> Any:
        # A batch allocates hundreds of thousands of small lists and no reference cycles; the cyclic GC
        # would otherwise rescan every live object (the tokenizer's included) several times per batch.
        enabled = gc.isenabled()
        gc.disable()
        try:
            out = self.process(batch)
        finally:
            if enabled:
                gc.enable()
        if not self.accounting:
            keep = [i for i, reason in enumerate(out["_drop"]) if reason is None]
            out = {k: [v[i] for i in keep] for k, v in out.items() if k not in ACCOUNTING_COLUMNS}
        if self.arrow:
            return self.to_table(out)
        if "attention_mask" in out and "input_ids" in out:
            masks = out["attention_mask"]
            for i, mask in enumerate(masks):
                if mask is None:  # "all ones": filled here, or built from the offsets in to_table
                    masks[i] = [1] * len(out["input_ids"][i])
        return out

    #: return a ``pyarrow.Table`` instead of a dict of lists (``preprocess_dataset`` sets it for ``Dataset``
    #: inputs: ``datasets`` writes the table as is, and all-ones attention masks are built from offsets)
    arrow: bool = False

    def to_table(self, out: dict[str, list[Any]]) -> Any:
        """The batch as a ``pyarrow.Table`` with exactly the output schema."""
        import numpy as np
        import pyarrow as pa

        features = self.accounting_features() if self.accounting else self.features()
        schema = features.arrow_schema
        n = len(next(iter(out.values()))) if out else 0
        arrays = []
        for field in schema:
            values = out.get(field.name)
            if pa.types.is_null(field.type):
                arrays.append(pa.nulls(n))
            elif field.name == "attention_mask" and values is not None and any(v is None for v in values):
                ids = out["input_ids"]
                offsets = np.zeros(n + 1, dtype=np.int32)
                np.cumsum([len(x) for x in ids], out=offsets[1:])
                filled = [v for v in values if v is not None]
                if filled:  # mixed: convert explicitly
                    arrays.append(pa.array([[1] * len(x) if v is None else v for v, x in zip(values, ids, strict=False)],
                                           type=field.type))
                else:
                    flat = pa.array(np.ones(int(offsets[-1]), dtype=field.type.value_type.to_pandas_dtype()))
                    arrays.append(pa.ListArray.from_arrays(pa.array(offsets), flat).cast(field.type))
            else:
                arrays.append(pa.array(values, type=field.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Training columns plus the accounting columns, one output row per input row."""
        raise NotImplementedError

    def features(self) -> Any:
        """The ``datasets.Features`` of the training columns (LLaMA-Factory's dtypes)."""
        raise NotImplementedError

    def accounting_features(self) -> Any:
        """``features()`` plus the accounting columns."""
        from datasets import Features, Value

        feats = dict(self.features())
        feats.update({"_row": Value("int64"), "_drop": Value("string"), "_tokens": Value("int64"),
                      "_trained": Value("int64")})
        return Features(feats)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _rows(self, batch: dict[str, list[Any]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
        n = len(next(iter(batch.values()))) if batch else 0
        cols = {c: batch.get(c) for c in columns}
        return [{c: (v[i] if v is not None else None) for c, v in cols.items()} for i in range(n)]

    def _row_numbers(self, batch: dict[str, list[Any]], n: int) -> list[int | None]:
        rows = batch.get("_row")
        return list(rows) if rows is not None else [None] * n

    def render(self, row: dict[str, Any], options: RenderOptions) -> Any:
        if self.template is None:
            raise TemplatesHubError(f"the {self.name} preprocessor needs a chat template")
        return self.template.render(row, self.tokens, options)

    def options(self, mode: str) -> RenderOptions:
        """Render options from the config (``render_options`` given to the constructor take precedence)."""
        import dataclasses

        base = self.render_options or RenderOptions()
        return dataclasses.replace(
            base,
            mode=mode,  # type: ignore[arg-type]
            enable_thinking=self.config.enable_thinking,
            preserve_thinking=self.config.preserve_thinking,
            mask_history=self.config.mask_history if mode == "multiturn" else False,
        )

    def _new_output(self, columns: tuple[str, ...]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {c: [] for c in columns}
        if self.media:
            for c in MEDIA_COLUMNS:
                out[c] = []
        for c in ACCOUNTING_COLUMNS:
            out[c] = []
        return out

    def _emit(self, out: dict[str, list[Any]], values: dict[str, Any], row: int | None, drop: str | None,
              tokens: int, trained: int) -> None:
        for key, value in values.items():
            out[key].append(value)
        if self.media:
            for c in MEDIA_COLUMNS:
                out[c].append(None)
        out["_row"].append(row)
        out["_drop"].append(drop)
        out["_tokens"].append(tokens)
        out["_trained"].append(trained)


def media_features() -> dict[str, Any]:
    from datasets import Value

    return {c: Value("null") for c in MEDIA_COLUMNS}


PreprocessorFactory = Callable[..., Preprocessor]


def split_oneturn(pieces: list[Any], ids: list[int], bounds: list[int]) -> tuple[list[int], list[int]]:
    """LLaMA-Factory's ``encode_oneturn`` split of one rendered row: (prompt ids, response ids).

    The response starts at the first trainable piece of the last turn (a oneturn render marks only the
    final answer trainable); a row without one has an empty response.
    """
    if not pieces:
        return [], []
    last_turn = pieces[-1].turn
    for k, p in enumerate(pieces):
        if p.trainable and p.turn == last_turn:
            cut = bounds[k]
            return ids[:cut], ids[cut:]
    return list(ids), []
