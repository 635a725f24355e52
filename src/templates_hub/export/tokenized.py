"""Tokenizing the splits for an export, in LLaMA-Factory's ``tokenized_path`` layout.

LLaMA-Factory loads ``tokenized_path`` with ``datasets.load_from_disk`` and skips its own preprocessing,
so a model trains on exactly the token ids and labels templates-hub computed: that is how a custom
template (a YAML declaration, a Jinja file or a plugin) reaches LLaMA-Factory, whose own templates live
in its source code. The dataset must be a ``DatasetDict`` with ``train`` / ``validation`` splits whose
columns and dtypes are the ones LLaMA-Factory's processors write (``lf_schema.tokenized_features``): its
collators read those columns by name, and the pairwise / KTO collators index the media columns even for
text-only rows.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .lf_schema import tokenized_features, tokenized_features_spec

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset, DatasetDict

    from .base import ExportContext


@dataclass
class TokenizedSplits:
    """The tokenized splits, ready for ``save_to_disk``, and what tokenizing them did."""

    splits: DatasetDict
    stats: dict[str, Any] = field(default_factory=dict)
    #: tokens ``fix_tokenizer`` added to the vocabulary (the model must learn embeddings for them)
    added_tokens: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    #: preprocessor output columns LLaMA-Factory would not know what to do with (not exported)
    removed_columns: list[str] = field(default_factory=list)


def prepared_tokenizer(ctx: ExportContext) -> tuple[Any, list[str]]:
    """A copy of the recipe's tokenizer with the template's special-token rules applied (LLaMA-Factory's
    ``fix_special_tokens``), and the tokens that added; the caller's tokenizer is left as it is."""
    tokenizer = ctx.get_tokenizer()
    if tokenizer is None:
        raise UsageError(f"export {ctx.name!r}: a tokenized export needs a tokenizer: set `tokenizer:` in the recipe")
    tokenizer = copy.deepcopy(tokenizer)
    added: list[str] = []
    if ctx.template is not None:
        from ..templates import fix_tokenizer

        added = fix_tokenizer(tokenizer, ctx.template)
    return tokenizer, added


def _call_preprocess(dataset: Dataset, ctx: ExportContext, tokenizer: Any) -> Any:
    try:
        from ..preprocess import preprocess_dataset
    except ImportError:  # the package re-export is the contract; the engine lives in preprocess.api
        from ..preprocess.api import preprocess_dataset

    kwargs: dict[str, Any] = {"template": ctx.template, "tokenizer": tokenizer, "config": ctx.preprocess,
                              "kind": ctx.kind}
    parameters = inspect.signature(preprocess_dataset).parameters
    if "render_options" in parameters and ctx.render_options is not None:
        kwargs["render_options"] = ctx.render_options
    if "progress" in parameters:
        kwargs["progress"] = ctx.progress
    return preprocess_dataset(dataset, **kwargs)


def conform(dataset: Dataset, stage: str, *, packing: bool, neat_packing: bool) -> tuple[Dataset, list[str]]:
    """Add missing media columns, order the columns like LLaMA-Factory and cast to its dtypes.

    Columns LLaMA-Factory does not know (a plugin preprocessor's ``loss_weights``, say) are removed and
    returned: LLaMA-Factory trains with ``remove_unused_columns=False``, so its collator would receive
    them and fail on ragged lists.
    """
    spec = tokenized_features_spec(stage, packing=packing, neat_packing=neat_packing)
    for column in spec:
        if column not in dataset.column_names and column in ("images", "videos", "audios"):
            dataset = dataset.add_column(column, [None] * len(dataset))
    missing = [c for c in spec if c not in dataset.column_names and c != "position_ids"]
    if missing:
        raise UsageError(f"the preprocessor's output lacks LLaMA-Factory's column(s) {', '.join(missing)} for stage "
                         f"{stage!r} (it has {', '.join(dataset.column_names)})")
    unknown = [c for c in dataset.column_names if c not in spec and not c.startswith("_")]
    if "position_ids" not in dataset.column_names:
        spec = {k: v for k, v in spec.items() if k != "position_ids"}
    order = [c for c in spec if c in dataset.column_names]
    dataset = dataset.select_columns(order)
    target = tokenized_features(stage, packing=packing, neat_packing=neat_packing)
    target = type(target)({c: target[c] for c in order})
    return (dataset if dataset.features == target else dataset.cast(target)), unknown


def tokenize_splits(ctx: ExportContext, split_names: list[str]) -> TokenizedSplits:
    """Run the recipe's preprocessor on each split and conform the result to LLaMA-Factory's layout."""
    from datasets import DatasetDict

    if ctx.template is None and ctx.kind != "text":
        raise UsageError(f"export {ctx.name!r}: a tokenized export of {ctx.kind} rows needs a chat template "
                         "(set `template:` in the recipe)")
    tokenizer, added = prepared_tokenizer(ctx)
    stage = ctx.stage
    pre = ctx.preprocess
    packing = pre.neat_packing or (bool(pre.packing) if pre.packing is not None else stage == "pt")
    out: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    dropped: dict[str, int] = {}
    removed: list[str] = []
    for split in split_names:
        result = _call_preprocess(ctx.splits[split], ctx, tokenizer)
        dataset = result.dataset
        stats[split] = dict(getattr(result, "stats", {}) or {})
        dropped[split] = len(getattr(result, "rejects", []) or [])
        if len(dataset) == 0:
            why = stats[split].get("dropped") or (
                "pretraining packs whole blocks of cutoff_len tokens and drops the remainder" if stage == "pt" else
                "see the preprocess report")
            raise UsageError(f"export {ctx.name!r}: tokenizing the {split} split left no rows ({why})")
        out[split], unknown = conform(dataset, stage, packing=packing and stage in ("sft", "pt"),
                                      neat_packing=pre.neat_packing and stage == "sft")
        removed += [c for c in unknown if c not in removed]
    return TokenizedSplits(DatasetDict(out), stats, added, dropped, removed)
