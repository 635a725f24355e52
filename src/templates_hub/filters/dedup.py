"""Deduplication: exact (hash of the normalised conversation) and near-duplicate (MinHash LSH).

Both are *stateful*: whether a row is a duplicate depends on every earlier row, so it cannot be decided
inside one batch or one worker process. ``fit`` computes a key or a MinHash signature per row in a
batched ``datasets.map`` (parallel with ``num_proc``), then decides in the main process, in dataset
order, which rows to drop; the batch calls only look the decisions up by row position. The first
occurrence is always the one kept, whatever ``num_proc`` is.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, PrivateAttr

from ..schemas import ROW_COLUMN
from .base import ALL_KINDS, POSITION_COLUMN, Batch, Filter, batch_rows
from .text import conversation_text, normalize, row_kind, terms

Part = Literal["conversation", "prompt", "response"]


class _Dedup(Filter):
    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    stateful: ClassVar[bool] = True

    on: Part = Field(default="conversation", description="What must be equal: the whole conversation, the prompt, "
                     "or the response (ignored for text rows).")

    _drops: dict[int, str] | None = PrivateAttr(default=None)

    def __call__(self, batch: Batch) -> list[str | None]:
        if self._drops is None:
            raise RuntimeError(f"filter {self.name!r} must be fitted on the dataset first (use apply_filters)")
        if POSITION_COLUMN not in batch:
            raise RuntimeError(f"filter {self.name!r} needs the {POSITION_COLUMN} column (use apply_filters)")
        return [self._drops.get(pos) for pos in batch[POSITION_COLUMN]]

    def _map(self, dataset: Any, fn: Any, features: Any, num_proc: int | None, batch_size: int) -> Any:
        return dataset.map(
            fn,
            batched=True,
            batch_size=batch_size,
            remove_columns=dataset.column_names,
            features=features,
            num_proc=num_proc if num_proc and num_proc > 1 and len(dataset) > 1 else None,
            desc=f"filter {self.name}: keys",
        )


def _row_numbers(batch: Batch, positions: list[int]) -> list[int]:
    rows = batch.get(ROW_COLUMN)
    return list(rows) if rows is not None else [p + 1 for p in positions]


# --------------------------------------------------------------------------- exact
class _ExactKeys:
    """Batched, picklable: a 128-bit hash of each row's normalised text."""

    def __init__(self, on: str, normalise: bool):
        self.on = on
        self.normalise = normalise

    def __call__(self, batch: Batch) -> dict[str, list[Any]]:
        kind = row_kind(list(batch))
        keys = []
        for row in batch_rows(batch):
            text = conversation_text(row, kind, self.on)
            if self.normalise:
                text = normalize(text)
            keys.append(hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest())
        positions = list(batch[POSITION_COLUMN])
        return {"key": keys, "pos": positions, "row": _row_numbers(batch, positions)}


class ExactDedup(_Dedup):
    """Drop exact duplicates (after Unicode NFKC, case folding and whitespace normalisation); keep the first."""

    name: ClassVar[str] = "exact_dedup"

    normalize: bool = Field(default=True, description="Compare NFKC-normalised, case-folded text with single spaces.")

    def fit(self, dataset: Any, *, num_proc: int | None = None, batch_size: int = 1000) -> None:
        import pyarrow.compute as pc
        from datasets import Features, Value

        features = Features({"key": Value("string"), "pos": Value("int64"), "row": Value("int64")})
        table = self._map(dataset, _ExactKeys(self.on, self.normalize), features, num_proc, batch_size).data.table
        if table.num_rows == 0:
            self._drops = {}
            return
        firsts = table.group_by("key", use_threads=False).aggregate([("pos", "min")])
        joined = table.join(firsts, "key", use_threads=False)
        dups = joined.filter(pc.not_equal(joined["pos"], joined["pos_min"]))
        # report the first occurrence by its source row: look its ``row`` up by position
        pos = table["pos"].to_numpy()
        rows = table["row"].to_numpy()
        order = np.argsort(pos)
        first_rows = rows[order][np.searchsorted(pos[order], dups["pos_min"].to_numpy())]
        self._drops = {
            int(p): f"duplicate of row {int(r)}" for p, r in zip(dups["pos"].to_numpy(), first_rows, strict=True)
        }


# --------------------------------------------------------------------------- near
def shingles(text: str, n: int) -> set[bytes]:
    """Word n-grams of the script-aware terms of ``text`` (the whole text when it has fewer than n terms)."""
    words = terms(text)
    if not words:
        return set()
    if len(words) <= n:
        return {"\x1f".join(words).encode("utf-8")}
    return {"\x1f".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)}


class _Signatures:
    """Batched, picklable: the MinHash signature of each row (``affine32`` scheme, datasketch >= 2)."""

    def __init__(self, on: str, ngram: int, num_perm: int, seed: int):
        self.on, self.ngram, self.num_perm, self.seed = on, ngram, num_perm, seed

    def __call__(self, batch: Batch) -> dict[str, list[Any]]:
        from datasketch import MinHash

        kind = row_kind(list(batch))
        sets = [shingles(conversation_text(row, kind, self.on), self.ngram) for row in batch_rows(batch)]
        hashed = MinHash.bulk(sets, num_perm=self.num_perm, seed=self.seed, scheme="affine32")
        positions = list(batch[POSITION_COLUMN])
        return {
            "sig": [m.hashvalues.astype(np.uint32).tolist() for m in hashed],
            "empty": [not s for s in sets],
            "pos": positions,
            "row": _row_numbers(batch, positions),
        }


class NearDedup(_Dedup):
    """Drop near-duplicates (MinHash LSH over word n-grams, from datasketch); keep the first of each group."""

    name: ClassVar[str] = "near_dedup"

    threshold: float = Field(default=0.85, gt=0.0, le=1.0, description="Estimated Jaccard similarity that counts as a duplicate.")
    ngram: int = Field(default=3, ge=1, le=32, description="Words per shingle (each CJK character is a word).")
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations (accuracy vs. speed).")
    seed: int = Field(default=1, description="MinHash seed.")

    def fit(self, dataset: Any, *, num_proc: int | None = None, batch_size: int = 1000) -> None:
        from datasets import Features, List, Value
        from datasets.utils import tqdm as hf_tqdm
        from datasketch import LeanMinHash, MinHashLSH

        features = Features({
            "sig": List(Value("uint32"), length=self.num_perm),
            "empty": Value("bool"),
            "pos": Value("int64"),
            "row": Value("int64"),
        })
        fn = _Signatures(self.on, self.ngram, self.num_perm, self.seed)
        table = self._map(dataset, fn, features, num_proc, batch_size).data.table
        n = table.num_rows
        self._drops = {}
        if n == 0:
            return
        sigs = table["sig"].combine_chunks().flatten().to_numpy().reshape(n, self.num_perm)
        empty = table["empty"].to_numpy(zero_copy_only=False)
        pos = table["pos"].to_numpy()
        rows = table["row"].to_numpy()
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        for i in hf_tqdm(range(n), desc=f"filter {self.name}: LSH", total=n, disable=n < 5000 or None):
            if empty[i]:
                continue  # nothing to compare (blank text): leave it to empty_turns
            sketch = LeanMinHash(seed=self.seed, hashvalues=sigs[i], scheme="affine32")
            candidates = lsh.query(sketch)
            if candidates:
                idx = np.asarray(candidates, dtype=np.int64)
                similarity = (sigs[idx] == sigs[i]).mean(axis=1)
                close = idx[similarity >= self.threshold]
                if close.size:
                    first = int(close.min())
                    score = float(similarity[idx == first][0])
                    self._drops[int(pos[i])] = f"near-duplicate of row {int(rows[first])} (similarity {score:.2f})"
                    continue
            lsh.insert(i, sketch)
