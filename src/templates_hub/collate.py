"""Collators: tokenized rows -> padded training batches (torch tensors), one per training stage.

``collator_for(stage, tokenizer, ...)`` picks the right one:

- ``sft`` / ``unsupervised``: right padding (left for ``unsupervised``, which is for generation) with
  the pad id, attention mask 0 and labels -100 on padding; lengths rounded up to ``pad_to_multiple_of``.
- ``sft`` with ``packing``: rows made by the packer carry ``position_ids`` that restart at 0 for every
  packed example. Two ways to keep the examples from attending to each other:

  - ``packed_attention="4d"`` (default): a float *additive* 4-D mask ``[batch, 1, L, L]`` (0.0 where
    a token may attend: same example, not in the future, not padding; ``finfo(dtype).min`` elsewhere).
    It works with eager and sdpa attention. A *boolean* 4-D mask does not: eager attention adds the
    mask to the scores, so True/False become +1/+0 and nothing is masked.
  - ``packed_attention="varlen"``: ``position_ids`` and **no** ``attention_mask``; transformers then finds
    the example boundaries from the restarting positions (flash-attention's varlen path, and sdpa /
    eager through ``find_packed_sequence_indices``). This only isolates examples when the model runs
    with ``use_cache=False`` (the Trainer sets it; pass it yourself outside the Trainer).

  Examples are told apart by ``neat_packing``'s segment ids in ``attention_mask`` when present, else by
  the restarts of ``position_ids``.
- ``pairwise``: chosen and rejected rows in one batch, ``[all chosen..., all rejected...]`` (2n rows),
  as LLaMA-Factory's and TRL's DPO trainers expect.
- ``kto``: the rows, plus ``kl_input_ids`` / ``kl_attention_mask`` / ``kl_labels`` and ``kto_tags``.
- ``pt``: labels are the input ids with padding positions set to -100. (LLaMA-Factory's
  ``DataCollatorForLanguageModeling`` masks every token equal to the pad id, so when pad == eos it also
  masks the real eos tokens; here only padding is masked.)

torch is imported when a collator is called, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import UsageError

IGNORE_INDEX = -100
STAGES: tuple[str, ...] = ("sft", "pairwise", "kto", "pt", "unsupervised")
#: other names people use for the stages (training methods that share a stage's batches)
STAGE_ALIASES: dict[str, str] = {
    "supervised": "sft", "dpo": "pairwise", "orpo": "pairwise", "simpo": "pairwise", "rm": "pairwise",
    "reward": "pairwise", "pretrain": "pt", "ppo": "unsupervised", "predict": "unsupervised",
}


def _round_up(n: int, multiple: int | None) -> int:
    if multiple and multiple > 1:
        return ((n + multiple - 1) // multiple) * multiple
    return n


def _as_list(value: Any) -> list[int]:
    return value.tolist() if hasattr(value, "tolist") else list(value)


def _pad(rows: Sequence[Sequence[int]], value: int, length: int, left: bool = False) -> list[list[int]]:
    out = []
    for row in rows:
        row = _as_list(row)
        fill = [value] * (length - len(row))
        out.append(fill + row if left else row + fill)
    return out


@dataclass
class SupervisedCollator:
    """Pads input_ids (pad id), attention_mask (0) and labels (-100).

    Rows with ``position_ids`` are packed rows: padded as they are, their examples would attend to each
    other, so they are refused with a pointer to ``PackedCollator`` (``collator_for(..., packing=True)``).
    """

    pad_id: int
    pad_to_multiple_of: int | None = 8
    label_pad_id: int = IGNORE_INDEX
    left: bool = False

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        packed = next((i for i, f in enumerate(features) if f.get("position_ids") is not None), None)
        if packed is not None:
            raise UsageError(
                f"row {packed} of the batch is a packed row (it has position_ids): with this collator its packed "
                "examples would attend to each other. Use collator_for(stage, tokenizer, packing=True) (train: "
                "set preprocess.packing: true in the recipe that trains on this data)"
            )
        return self.pad(features)

    def pad(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        """The padded batch; ``position_ids`` are padded with 0 when every row has them."""
        import torch

        ids = [f["input_ids"] for f in features]
        longest = max((len(x) for x in ids), default=0)
        has_labels = all("labels" in f for f in features)
        if has_labels:
            longest = max(longest, max((len(f["labels"]) for f in features), default=0))
        length = _round_up(longest, self.pad_to_multiple_of)
        batch: dict[str, Any] = {
            "input_ids": torch.tensor(_pad(ids, self.pad_id, length, self.left), dtype=torch.long),
        }
        masks = [f["attention_mask"] if f.get("attention_mask") is not None else [1] * len(f["input_ids"])
                 for f in features]
        batch["attention_mask"] = torch.tensor(_pad(masks, 0, length, self.left), dtype=torch.long)
        if has_labels:
            batch["labels"] = torch.tensor(_pad([f["labels"] for f in features], self.label_pad_id, length, self.left),
                                           dtype=torch.long)
        if all("position_ids" in f for f in features):
            batch["position_ids"] = torch.tensor(_pad([f["position_ids"] for f in features], 0, length, self.left),
                                                 dtype=torch.long)
        return batch


def segment_ids(attention_mask: Any, position_ids: Any) -> Any:
    """Per-token example index (1, 2, ...; 0 = padding) of packed rows, as a ``[batch, L]`` tensor.

    neat_packing rows carry them in ``attention_mask``; plain packed rows (mask of ones) are split where
    ``position_ids`` restart at 0.
    """
    import torch

    if attention_mask is not None and bool((attention_mask > 1).any()):
        return attention_mask.long()
    seg = torch.cumsum((position_ids == 0).long(), dim=-1)
    if attention_mask is not None:
        seg = seg * (attention_mask != 0).long()
    return seg


def block_diagonal_mask(segments: Any, dtype: Any = None) -> Any:
    """Float additive 4-D mask ``[batch, 1, L, L]`` from segment ids: 0.0 where query i may attend key j
    (same segment, j <= i, not padding), ``finfo(dtype).min`` elsewhere."""
    import torch

    dtype = dtype or torch.float32
    length = segments.shape[-1]
    same = segments.unsqueeze(-1) == segments.unsqueeze(-2)  # [b, L, L]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=segments.device))
    allowed = same & causal & (segments != 0).unsqueeze(-2)
    mask = torch.full(allowed.shape, torch.finfo(dtype).min, dtype=dtype, device=segments.device)
    mask = mask.masked_fill(allowed, 0.0)
    return mask.unsqueeze(1)


@dataclass
class PackedCollator:
    """Packed rows: position_ids plus a 4-D block-diagonal mask, or position_ids alone (varlen)."""

    pad_id: int
    pad_to_multiple_of: int | None = 8
    packed_attention: Literal["4d", "varlen"] = "4d"
    dtype: Any = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        missing = [i for i, f in enumerate(features) if "position_ids" not in f]
        if missing:
            raise UsageError("the packed collator needs position_ids: preprocess with packing: true "
                             f"(row {missing[0]} of the batch has none)")
        batch = SupervisedCollator(self.pad_id, self.pad_to_multiple_of).pad(features)
        segments = segment_ids(batch["attention_mask"], batch["position_ids"])
        if self.packed_attention == "varlen":
            batch.pop("attention_mask")
        else:
            batch["attention_mask"] = block_diagonal_mask(segments, self.dtype or torch.float32)
        return batch


@dataclass
class PairwiseCollator:
    """Chosen and rejected rows in one batch: ``[all chosen..., all rejected...]``."""

    pad_id: int
    pad_to_multiple_of: int | None = 8

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [
            {"input_ids": f[f"{side}_input_ids"], "attention_mask": f[f"{side}_attention_mask"],
             "labels": f[f"{side}_labels"]}
            for side in ("chosen", "rejected") for f in features
        ]
        return SupervisedCollator(self.pad_id, self.pad_to_multiple_of)(rows)


@dataclass
class KTOCollator:
    """KTO rows with their KL rows and desirability tags."""

    pad_id: int
    pad_to_multiple_of: int | None = 8

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        inner = SupervisedCollator(self.pad_id, self.pad_to_multiple_of)
        batch = inner([{k: f[k] for k in ("input_ids", "attention_mask", "labels")} for f in features])
        kl = inner([{"input_ids": f["kl_input_ids"], "attention_mask": f["kl_attention_mask"],
                     "labels": f["kl_labels"]} for f in features])
        batch["kl_input_ids"] = kl["input_ids"]
        batch["kl_attention_mask"] = kl["attention_mask"]
        batch["kl_labels"] = kl["labels"]
        batch["kto_tags"] = torch.tensor([bool(f["kto_tags"]) for f in features])
        return batch


@dataclass
class PretrainCollator:
    """Causal-LM batches: labels = input_ids, -100 on padding positions only."""

    pad_id: int
    pad_to_multiple_of: int | None = 8

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [{"input_ids": f["input_ids"], "attention_mask": f.get("attention_mask")} for f in features]
        batch = SupervisedCollator(self.pad_id, self.pad_to_multiple_of)(rows)
        labels = batch["input_ids"].clone()
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels
        return batch


def _pad_id(tokenizer: Any) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(tokenizer, "eos_token_id", None)
    if pad is None:
        raise UsageError("the tokenizer has neither a pad nor an eos token; run fix_tokenizer(tokenizer, template) first")
    return int(pad)


def collator_for(stage: str, tokenizer: Any, *, packing: bool = False, neat_packing: bool = False,
                 pad_to_multiple_of: int | None = 8, packed_attention: Literal["4d", "varlen"] = "4d",
                 dtype: Any = None) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """The collator for a training ``stage`` (``sft``, ``pairwise``, ``kto``, ``pt``, ``unsupervised``;
    also ``dpo``/``orpo``/``rm``/...).

    ``packing`` / ``neat_packing``: the rows were packed (sft only); ``packed_attention`` chooses the 4-D
    mask or the varlen form (module docstring); ``dtype``: the 4-D mask's float dtype (the model's
    compute dtype, default float32). Padding uses the tokenizer's pad id (its eos when it has none).
    """
    resolved = STAGE_ALIASES.get(stage, stage)
    if resolved not in STAGES:
        raise UsageError(f"unknown training stage {stage!r}; expected one of {', '.join(STAGES)} "
                         f"(or {', '.join(sorted(STAGE_ALIASES))})")
    if packed_attention not in ("4d", "varlen"):
        raise UsageError(f"packed_attention must be '4d' or 'varlen', not {packed_attention!r}")
    pad_id = _pad_id(tokenizer)
    if (packing or neat_packing) and resolved != "sft":
        if resolved == "pt":
            return PretrainCollator(pad_id, pad_to_multiple_of)
        raise UsageError(f"packing applies to sft (and pt) rows, not to {stage}")
    if resolved == "sft":
        if packing or neat_packing:
            return PackedCollator(pad_id, pad_to_multiple_of, packed_attention, dtype)
        return SupervisedCollator(pad_id, pad_to_multiple_of)
    if resolved == "unsupervised":
        return SupervisedCollator(pad_id, pad_to_multiple_of, left=True)
    if resolved == "pairwise":
        return PairwiseCollator(pad_id, pad_to_multiple_of)
    if resolved == "kto":
        return KTOCollator(pad_id, pad_to_multiple_of)
    return PretrainCollator(pad_id, pad_to_multiple_of)
