"""The pretrain preprocessor: plain documents -> causal-LM blocks (LLaMA-Factory's ``PretrainDatasetProcessor``).

Every document gets the eos appended as text (``text + eos_token``; the eos after ``fix_tokenizer``, and
``<|end_of_text|>`` with the ``llama3`` template, as LLaMA-Factory does) and is encoded without
special tokens, all documents of a batch in one call. Then:

- ``packing`` (the default for pretraining): documents are concatenated and cut into blocks of exactly
  ``cutoff_len`` tokens. For a ``Dataset`` the concatenation is global: the block plan is made from the
  documents' lengths (Arrow list offsets) and blocks are cut in a batched ``map`` that reads only the
  documents each block needs, so only the tail of the very last block is dropped. LLaMA-Factory
  concatenates inside each 1,000-document batch and drops every batch's tail, which loses up to one
  block per batch; for 1,000 documents or fewer both give the same blocks. A streamed
  (``IterableDataset``) input is concatenated per ``batch_size`` window, like LLaMA-Factory.
  If the tokenizer adds a bos (``add_bos_token``), the first id of every block is replaced by bos.
  As in LLaMA-Factory, ``packing: true`` written explicitly (rather than left unset) reserves one
  position: blocks are ``cutoff_len - 1`` tokens (LLaMA-Factory lowers ``cutoff_len`` whenever packing
  is set, for the padding slot supervised packs need).
- no packing: one row per document, the bos *text* prepended when the tokenizer adds a bos, truncated to
  ``cutoff_len``.

Columns: ``input_ids`` (int32) and ``attention_mask`` (int8), no labels (the collator derives them).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Preprocessor


class PretrainPreprocessor(Preprocessor):
    """Documents -> blocks of cutoff_len tokens (or one truncated row per document)."""

    name: ClassVar[str] = "pretrain"
    description: ClassVar[str] = "Pretraining: documents + eos, concatenated into cutoff_len blocks (or one per document)."
    input_kind: ClassVar[str] = "text"
    stage: ClassVar[str] = "pt"
    reports_trained: ClassVar[bool] = False

    def check(self) -> None:
        template_name = getattr(self.template, "lf_name", None) or getattr(self.template, "name", None)
        self.eos_text = "<|end_of_text|>" if template_name == "llama3" else (self.tokenizer.eos_token or "")
        self.add_bos = bool(getattr(self.tokenizer, "add_bos_token", False)) and self.tokenizer.bos_token is not None
        self.packing = self.config.packing is not False
        self.block_size = self.config.cutoff_len - 1 if self.config.packing is True else self.config.cutoff_len

    def features(self) -> Any:
        from datasets import Features, List, Value

        return Features({"input_ids": List(Value("int32")), "attention_mask": List(Value("int8"))})

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts = [(t or "") + self.eos_text for t in batch["text"]]
        if not self.packing and self.add_bos:
            texts = [self.tokenizer.bos_token + t for t in texts]
        encoded = self.engine.encode_texts(texts)
        cutoff = self.config.cutoff_len
        out = self._new_output(("input_ids", "attention_mask"))
        for k in ("images", "videos", "audios"):
            out.pop(k, None)
        for ids, row in zip(encoded, self._row_numbers(batch, len(encoded)), strict=False):
            if not self.packing:
                ids = ids[:cutoff]
            out["input_ids"].append(ids)
            out["attention_mask"].append([1] * len(ids))
            out["_row"].append(row)
            out["_drop"].append(None)
            out["_tokens"].append(len(ids))
            out["_trained"].append(len(ids))
        return out


class BlockCutter:
    """Batch function over block indices: cuts blocks ``[b * size, (b + 1) * size)`` of the concatenated
    documents, reading only the documents those blocks overlap (contiguous slices of ``source``)."""

    def __init__(self, source: Any, ends: np.ndarray, size: int, bos_id: int | None):
        self.source = source.select_columns(["input_ids"])
        self.ends = ends  # cumulative token count at the end of each document
        self.size = size
        self.bos_id = bos_id

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        blocks = batch["_block"]
        if not blocks:
            return {"input_ids": [], "attention_mask": []}
        size = self.size
        start, stop = blocks[0] * size, (blocks[-1] + 1) * size
        first = int(np.searchsorted(self.ends, start, side="right"))
        last = int(np.searchsorted(self.ends, stop - 1, side="right"))
        docs = self.source[first : last + 1]["input_ids"]
        flat: list[int] = [t for doc in docs for t in doc]
        base = int(self.ends[first - 1]) if first > 0 else 0
        ids_out = []
        for b in blocks:
            lo = b * size - base
            block = flat[lo : lo + size]
            if self.bos_id is not None:
                block[0] = self.bos_id
            ids_out.append(block)
        return {"input_ids": ids_out, "attention_mask": [[1] * size for _ in blocks]}


class WindowBlocks:
    """Streaming: concatenate each window of documents and cut it into blocks (tail dropped)."""

    def __init__(self, size: int, bos_id: int | None, stats: dict[str, Any]):
        self.size = size
        self.bos_id = bos_id
        self.stats = stats

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        flat = [t for doc in batch["input_ids"] for t in doc]
        n = len(flat) // self.size
        blocks = [flat[i * self.size : (i + 1) * self.size] for i in range(n)]
        if self.bos_id is not None:
            for block in blocks:
                block[0] = self.bos_id
        self.stats["blocks"] = self.stats.get("blocks", 0) + n
        self.stats["dropped_tail_tokens"] = self.stats.get("dropped_tail_tokens", 0) + len(flat) - n * self.size
        return {"input_ids": blocks, "attention_mask": [[1] * self.size for _ in blocks]}


def finish_pretrain(mapped: Any, proc: Any, config: Any, result: Any, packing: bool, progress: bool) -> None:
    """Turn tokenized documents into the final rows (blocks when packing)."""
    import datasets
    import pyarrow.compute as pc
    from datasets.fingerprint import Hasher

    from .api import _map_kwargs, _progress, map_rows

    stats = result.stats
    if not packing:
        result.dataset = mapped
        stats["rows_out"] = len(mapped)
        return
    lengths = pc.list_value_length(mapped.data.column("input_ids")).to_numpy(zero_copy_only=False)
    ends = np.cumsum(lengths.astype(np.int64))
    total = int(ends[-1]) if len(ends) else 0
    size = proc.block_size
    n_blocks = total // size
    bos_id = proc.tokenizer.bos_token_id if proc.add_bos else None
    index = datasets.Dataset.from_dict({"_block": list(range(n_blocks))})
    cutter = BlockCutter(mapped, ends, size, bos_id)
    with _progress(progress):
        fingerprint = Hasher.hash((mapped._fingerprint, size, n_blocks, bos_id))
        blocks = map_rows(index, cutter, remove_columns=["_block"], features=proc.features(), new_fingerprint=fingerprint,
                          desc="pretrain blocks", **_map_kwargs(index, config, progress))
    result.dataset = blocks
    stats.update({"rows_out": n_blocks, "blocks": n_blocks, "block_size": size, "tokens": n_blocks * size,
                  "dropped_tail_tokens": total - n_blocks * size})


def finish_pretrain_streaming(kept: Any, proc: Any, config: Any, result: Any, packing: bool) -> None:
    if not packing:
        result.dataset = kept
        return
    bos_id = proc.tokenizer.bos_token_id if proc.add_bos else None
    result.dataset = kept.map(WindowBlocks(proc.block_size, bos_id, result.stats), batched=True,
                              batch_size=config.batch_size, remove_columns=["input_ids", "attention_mask"],
                              features=proc.features())
