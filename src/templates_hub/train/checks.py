"""Checks run before training: each failure is a TrainingCheckError that says how to fix it.

These are the mistakes that otherwise cost a user a crashed or silently useless run:

- ``vocab``: the tokenizer (or the data) has ids the model has no embedding for. The seed notebook pairs
  a Llama-3.2 tokenizer (128k tokens) with a tiny OPT model (50k embeddings): on CPU an IndexError deep
  inside the embedding, on GPU a "device-side assert triggered" that hides the cause.
- ``pad_token``: no pad token, so batches cannot be padded.
- ``template_tokens``: the template writes special tokens (``<|im_start|>``) the tokenizer does not have;
  they would be split into ordinary sub-words and the model never sees a real turn marker.
- ``trained_tokens``: rows whose labels are all -100 (prompt-only rows, or responses truncated away):
  they cost compute and, when a batch holds only such rows, make the loss NaN.
- ``positions``: ``cutoff_len`` (or a row) is longer than the model's position embeddings.

Model checks read only the model config, so ``run --dry-run`` can run them without loading weights.
Data checks scan Arrow batches (vectorised with numpy), never Python loops over rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import TemplateError, TrainingCheckError
from ..templates.base import ChatTemplate, RenderOptions, SpecialTokens

IGNORE_INDEX = -100
_SHOWN = 5  # row numbers quoted in a message

#: Markup that is a special token in every family that uses it (``<|im_start|>``, ``<｜User｜>``, ...).
_SPECIAL_MARKUP = re.compile(r"<\|[^<>|\s]{1,40}\|>|<｜[^<>｜\s]{1,40}｜>")
#: Named markers that are single special tokens wherever they appear in a template.
_NAMED_SPECIALS = frozenset({"<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<s>", "</s>", "[gMASK]", "<sop>"})

#: A conversation for rendering a template's markup: plain words, so every special-looking string in
#: the rendered text comes from the template itself.
_PROBE = {
    "messages": [
        {"role": "system", "content": "Be brief.", "tool_calls": None, "reasoning": None, "train": None},
        {"role": "user", "content": "Say hello.", "tool_calls": None, "reasoning": None, "train": None},
        {"role": "assistant", "content": "Hello.", "tool_calls": None, "reasoning": None, "train": None},
        {"role": "user", "content": "Again.", "tool_calls": None, "reasoning": None, "train": None},
        {"role": "assistant", "content": "Hello again.", "tool_calls": None, "reasoning": None, "train": None},
    ],
    "tools": None,
}


def _name(obj: Any, fallback: str) -> str:
    return str(getattr(obj, "name_or_path", None) or getattr(obj, "name", None) or fallback)


# ---------------------------------------------------------------------------------------------- tokenizer


def check_pad_token(tokenizer: Any) -> None:
    """The collator pads with ``tokenizer.pad_token_id``: it must exist."""
    if tokenizer.pad_token_id is not None:
        return
    eos = tokenizer.eos_token
    hint = f" (e.g. train.pad_token: {eos!r}, the eos token)" if eos else ""
    raise TrainingCheckError(
        f"tokenizer {_name(tokenizer, 'tokenizer')!r} has no pad token, so batches cannot be padded. "
        f"Fix: set train.pad_token to an existing token{hint}, or name a template: its tokenizer fix uses the "
        "eos token as pad, as LLaMA-Factory does."
    )


def _single_token_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` when the tokenizer has it as one token, else None."""
    vocab = tokenizer.get_vocab()
    if token in vocab:
        return vocab[token]
    ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else None


def template_tokens(template: ChatTemplate, tokenizer: Any) -> list[str]:
    """The special tokens ``template`` writes: its special pieces, special-looking markup, eos and stop words."""
    tokens = SpecialTokens.from_tokenizer(tokenizer)
    found: list[str] = []
    for options in (RenderOptions(), RenderOptions(add_generation_prompt=True)):
        try:
            pieces = template.render(_PROBE, tokens, options)
        except (TemplateError, ValueError, KeyError, TypeError):
            # a template that refuses a system turn or a second turn: try the smallest conversation
            try:
                probe = {"messages": _PROBE["messages"][1:3], "tools": None}
                pieces = template.render(probe, tokens, options)
            except (TemplateError, ValueError, KeyError, TypeError):
                continue
        for piece in pieces:
            if piece.special:
                found.append(piece.text)
            else:
                found.extend(m.group(0) for m in _SPECIAL_MARKUP.finditer(piece.text))
                found.extend(t for t in _NAMED_SPECIALS if t in piece.text)
    eos = template.effective_eos(tokens)
    if eos:
        found.append(eos)
    found.extend(str(w) for w in getattr(template, "stop_words", None) or ())
    return [t for t in dict.fromkeys(found) if t]


def missing_template_tokens(template: ChatTemplate, tokenizer: Any) -> list[str]:
    """The template's special tokens that the tokenizer would split into several ids or map to unk."""
    unk = tokenizer.unk_token_id
    missing = []
    for token in template_tokens(template, tokenizer):
        token_id = _single_token_id(tokenizer, token)
        if token_id is None or (unk is not None and token_id == unk and token != tokenizer.unk_token):
            missing.append(token)
    return missing


def check_template_tokens(template: ChatTemplate, tokenizer: Any) -> None:
    """Every special token the template writes must be one token of the tokenizer."""
    missing = missing_template_tokens(template, tokenizer)
    if not missing:
        return
    raise TrainingCheckError(
        f"template {template.name!r} writes special token(s) {', '.join(repr(t) for t in missing)} that tokenizer "
        f"{_name(tokenizer, 'tokenizer')!r} does not have: each would be split into ordinary sub-words, so the model "
        "never sees a real turn marker. Fix: use the template made for this tokenizer (`templates-hub list templates`; "
        "`template: tokenizer` uses the tokenizer's own chat_template), or set train.add_template_tokens: true together "
        "with train.resize_embeddings: true to add them as new special tokens."
    )


# ---------------------------------------------------------------------------------------------- model


def check_vocab(tokenizer: Any, embedding_rows: int | None, *, model_name: str, resize: bool) -> None:
    """The tokenizer's ids must fit the model's embedding matrix (unless it will be resized)."""
    if embedding_rows is None or len(tokenizer) <= embedding_rows or resize:
        return
    raise TrainingCheckError(
        f"tokenizer {_name(tokenizer, 'tokenizer')!r} has {len(tokenizer):,} tokens but model {model_name!r} has only "
        f"{embedding_rows:,} embedding rows: any id >= {embedding_rows:,} crashes training (an IndexError on CPU, "
        "'device-side assert triggered' on GPU). Fix: use the tokenizer that was trained with the model, or set "
        "train.resize_embeddings: true to add rows for the extra tokens (initialised to the mean embedding, then trained)."
    )


def check_positions(cutoff_len: int | None, positions: int | None, *, model_name: str, packing: bool = False) -> None:
    """``cutoff_len`` must not exceed the model's maximum positions."""
    if cutoff_len is None or positions is None or cutoff_len <= positions:
        return
    what = "packed rows of" if packing else "rows of up to"
    raise TrainingCheckError(
        f"preprocess.cutoff_len is {cutoff_len:,} ({what} {cutoff_len:,} tokens) but model {model_name!r} has "
        f"{positions:,} positions (max_position_embeddings): longer rows crash models with learned positions and "
        f"train rotary models far outside what they have seen. Fix: set preprocess.cutoff_len: {positions} (or less)."
    )


# ---------------------------------------------------------------------------------------------- data


def _arrow_batches(dataset: Any, columns: list[str], batch_size: int = 8192) -> Iterator[Any]:
    """pyarrow Tables of ``columns``, respecting any indices mapping (select / shuffle)."""
    yield from dataset.select_columns(columns).with_format("arrow").iter(batch_size=batch_size)


def scan_tokens(dataset: Any) -> dict[str, Any]:
    """Largest token id, longest row and the rows without a trained label, in one vectorised pass.

    Returns ``{"max_id", "max_len", "untrained": [0-based row indices], "rows", "tokens", "trained_tokens"}``.
    ``trained_tokens`` / ``untrained`` are None when the dataset has no ``labels`` column (pretraining
    collators derive labels from ``input_ids``).
    """
    import numpy as np
    import pyarrow.compute as pc

    has_labels = "labels" in dataset.column_names
    columns = ["input_ids"] + (["labels"] if has_labels else [])
    max_id, max_len, rows, tokens, trained = -1, 0, 0, 0, 0
    untrained: list[int] = []
    for table in _arrow_batches(dataset, columns):
        ids = table.column("input_ids")
        lengths = pc.list_value_length(ids)
        if len(table):
            max_len = max(max_len, pc.max(lengths).as_py() or 0)
            flat_max = pc.max(pc.list_flatten(ids)).as_py()
            if flat_max is not None:
                max_id = max(max_id, flat_max)
        tokens += int(pc.sum(lengths).as_py() or 0)
        if has_labels:
            labels = table.column("labels").combine_chunks()
            parents = pc.list_parent_indices(labels).to_numpy(zero_copy_only=False)
            keep = pc.list_flatten(labels).to_numpy(zero_copy_only=False) != IGNORE_INDEX
            per_row = np.bincount(parents[keep], minlength=len(table))
            trained += int(per_row.sum())
            untrained.extend((np.flatnonzero(per_row == 0) + rows).tolist())
        rows += len(table)
    return {
        "rows": rows,
        "tokens": tokens,
        "max_id": max_id,
        "max_len": max_len,
        "trained_tokens": trained if has_labels else None,
        "untrained": untrained if has_labels else None,
    }


def _rows_text(indices: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:_SHOWN])
    return shown + (f" and {len(indices) - _SHOWN:,} more" if len(indices) > _SHOWN else "")


def check_data(
    splits: dict[str, Any],
    *,
    embedding_rows: int | None,
    positions: int | None,
    model_name: str,
    skip: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """Token ids within the embeddings, rows within the positions, every row with a trained token.

    Returns the per-split scan (``scan_tokens``) so callers can report tokens and trained share without a
    second pass.
    """
    skip = set(skip)
    scans: dict[str, dict[str, Any]] = {}
    for split, dataset in splits.items():
        scan = scans[split] = scan_tokens(dataset)
        if "vocab" not in skip and embedding_rows is not None and scan["max_id"] >= embedding_rows:
            raise TrainingCheckError(
                f"{split} split: token id {scan['max_id']:,} is beyond model {model_name!r}'s {embedding_rows:,} "
                "embedding rows: the data was tokenized with a larger tokenizer than the model's. Fix: tokenize with the "
                "model's tokenizer (rebuild train.tokenized_path), or set train.resize_embeddings: true."
            )
        if "positions" not in skip and positions is not None and scan["max_len"] > positions:
            raise TrainingCheckError(
                f"{split} split: a row has {scan['max_len']:,} tokens but model {model_name!r} has {positions:,} "
                f"positions. Fix: re-tokenize with preprocess.cutoff_len: {positions} (or less)."
            )
        untrained = scan["untrained"]
        if "trained_tokens" not in skip and untrained:
            raise TrainingCheckError(
                f"{split} split: {len(untrained):,} of {scan['rows']:,} row(s) have no trained token (every label is "
                f"-100), e.g. row(s) {_rows_text(untrained)}: prompt-only rows, or responses cut off by cutoff_len. They "
                "add no signal, and a batch made only of them has a NaN loss. Fix: drop them (the supervised "
                "preprocessor drops rows without a response), raise preprocess.cutoff_len, or set "
                "preprocess.train_on_prompt: true."
            )
    return scans
