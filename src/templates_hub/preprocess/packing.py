"""Packing supervised rows into fixed-length sequences: best-fit decreasing over the whole dataset.

LLaMA-Factory packs each preprocessing batch (1,000 rows) on its own with a greedy knapsack; the last,
half-empty knapsacks of every batch waste space (about 99.2 % fill on alpaca at cutoff 2048). Here the
lengths of ALL rows are read first (from the Arrow list offsets, without touching the tokens), one
plan is made for the whole dataset, and the packs are then materialised in a batched ``map``.

The plan is best-fit decreasing (every row goes to the fullest pack it still fits in, longest rows
first), computed in O(distinct lengths x log capacity) steps rather than per row: rows of equal length
are placed in groups, packs with the same remaining capacity are kept together in buckets, and the
smallest bucket that fits is found by bisection over the sorted capacities. A row is never split.

Row format (LLaMA-Factory's ``PackedSupervisedDatasetProcessor``): rows are truncated to
``cutoff_len - 1`` tokens and packed into ``cutoff_len - 1``, then every pack is padded to exactly
``cutoff_len`` (pad id, label -100, position 0); ``position_ids`` restart at 0 for every packed row;
``attention_mask`` is all ones, or with ``neat_packing`` the 1-based index of the packed row (0 on
padding), which LLaMA-Factory's collator turns into a block-diagonal mask. ``neat_packing`` also writes
LLaMA-Factory's ``packing_params`` column (sub-sequence boundaries, padding length).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Any

import numpy as np

from .seqlen import IGNORE_INDEX

#: LLaMA-Factory's placeholder for "no media item" in packing_params.
MAX_SUBSEQ_IDX = 2**32


@dataclass
class PackPlan:
    """Which rows go into which pack: the rows of pack ``b`` are ``order[offsets[b]:offsets[b+1]]``."""

    order: np.ndarray  # int64 row indices
    offsets: np.ndarray  # int64, len = packs + 1
    capacity: int
    tokens: int

    @property
    def packs(self) -> int:
        return len(self.offsets) - 1

    def rows_of(self, pack: int) -> np.ndarray:
        return self.order[self.offsets[pack] : self.offsets[pack + 1]]

    def fill(self, length: int | None = None) -> float:
        """Share of the pack positions (``length`` each, default the capacity) holding real tokens."""
        size = length or self.capacity
        return self.tokens / (self.packs * size) if self.packs else 0.0


def plan_packs(lengths: Any, capacity: int) -> PackPlan:
    """Best-fit-decreasing plan for rows of ``lengths`` (0-length rows are left out) into ``capacity``.

    Rows longer than ``capacity`` raise ValueError: callers truncate first.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if capacity < 1:
        raise ValueError("pack capacity must be at least 1")
    if lengths.size and int(lengths.max()) > capacity:
        raise ValueError(f"a row of {int(lengths.max())} tokens does not fit a pack of {capacity}")
    valid = np.flatnonzero(lengths > 0)
    # rows of each length, in dataset order (a stable sort keeps the plan deterministic)
    by_len = valid[np.argsort(lengths[valid], kind="stable")]
    sorted_lengths = lengths[by_len]
    distinct, first, counts = np.unique(sorted_lengths, return_index=True, return_counts=True)

    buckets: dict[int, list[int]] = {}  # remaining capacity -> packs with exactly that much room
    caps: list[int] = []  # sorted remaining capacities that have packs
    contents: list[list[tuple[int, int]]] = []  # pack -> [(length, how many rows of that length)]

    def add(pack_ids: list[int], cap: int) -> None:
        if cap <= 0:
            return
        bucket = buckets.get(cap)
        if bucket is None:
            buckets[cap] = list(pack_ids)
            insort(caps, cap)
        else:
            bucket.extend(pack_ids)

    for length, k in zip(distinct[::-1].tolist(), counts[::-1].tolist(), strict=False):
        while k > 0:
            j = bisect_left(caps, length)
            if j < len(caps):  # the fullest packs that still fit take as many rows as they can
                cap = caps[j]
                bucket = buckets[cap]
                q = cap // length
                if q * len(bucket) <= k:
                    taken, k = bucket, k - q * len(bucket)
                    del buckets[cap]
                    del caps[j]
                    for b in taken:
                        contents[b].append((length, q))
                    add(taken, cap - q * length)
                else:
                    full, rest = divmod(k, q)
                    take = full + (1 if rest else 0)
                    taken = bucket[len(bucket) - take :]
                    del bucket[len(bucket) - take :]
                    if not bucket:
                        del buckets[cap]
                        del caps[j]
                    for b in taken[:full]:
                        contents[b].append((length, q))
                    add(taken[:full], cap - q * length)
                    if rest:
                        contents[taken[-1]].append((length, rest))
                        add([taken[-1]], cap - rest * length)
                    k = 0
            else:  # nothing fits: open packs, each filled with as many of these rows as fit
                q = capacity // length
                full, rest = divmod(k, q)
                start = len(contents)
                contents.extend([(length, q)] for _ in range(full))
                add(list(range(start, start + full)), capacity - q * length)
                if rest:
                    contents.append([(length, rest)])
                    add([len(contents) - 1], capacity - rest * length)
                k = 0

    # hand out concrete rows: rows of each length are consumed in dataset order
    cursor = {int(d): int(f) for d, f in zip(distinct.tolist(), first.tolist(), strict=False)}
    order = np.empty(len(by_len), dtype=np.int64)
    offsets = np.zeros(len(contents) + 1, dtype=np.int64)
    pos = 0
    for b, groups in enumerate(contents):
        for length, n in groups:
            at = cursor[length]
            order[pos : pos + n] = by_len[at : at + n]
            cursor[length] = at + n
            pos += n
        offsets[b + 1] = pos
    return PackPlan(order, offsets, capacity, int(lengths[valid].sum()))


def greedy_knapsack_plan(lengths: Any, capacity: int, batch_size: int = 1000) -> PackPlan:
    """LLaMA-Factory's packing, for comparison: greedy knapsack inside each batch of ``batch_size`` rows.

    Used by the benchmark as the baseline; ``plan_packs`` is what preprocessing uses.
    """
    from bisect import bisect_right

    lengths = np.asarray(lengths, dtype=np.int64)
    order: list[int] = []
    offsets = [0]
    for start in range(0, len(lengths), batch_size):
        idx = [i for i in range(start, min(start + batch_size, len(lengths))) if 0 < lengths[i] <= capacity]
        items = sorted(idx, key=lambda i: int(lengths[i]))
        keys = [int(lengths[i]) for i in items]
        while items:
            room = capacity
            while True:
                at = bisect_right(keys, room)
                if at == 0:
                    break
                room -= keys[at - 1]
                order.append(items.pop(at - 1))
                keys.pop(at - 1)
            offsets.append(len(order))
    arr = np.asarray(order, dtype=np.int64)
    return PackPlan(arr, np.asarray(offsets, dtype=np.int64), capacity, int(lengths[arr].sum()) if len(arr) else 0)


def build_pack(rows_ids: list[list[int]], rows_labels: list[list[int]], *, length: int, pad_id: int,
               neat: bool) -> dict[str, Any]:
    """One packed row from its sub-sequences, padded to ``length`` (LLaMA-Factory's layout)."""
    input_ids: list[int] = []
    labels: list[int] = []
    position_ids: list[int] = []
    attention: list[int] = []
    boundaries = [0]
    for i, (ids, lab) in enumerate(zip(rows_ids, rows_labels, strict=False)):
        input_ids += ids
        labels += lab
        position_ids += range(len(ids))
        attention += [i + 1 if neat else 1] * len(ids)
        boundaries.append(len(input_ids))
    pad = length - len(input_ids)
    if pad < 0:
        raise ValueError(f"packed row of {len(input_ids)} tokens exceeds {length}")
    if pad:
        input_ids += [pad_id] * pad
        labels += [IGNORE_INDEX] * pad
        position_ids += [0] * pad
        attention += [0 if neat else 1] * pad
        boundaries.append(boundaries[-1] + pad)
    row: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention, "position_ids": position_ids,
                           "labels": labels}
    if neat:
        row["packing_params"] = {
            "sequence_boundaries": boundaries,
            "image_subseq_ids": [MAX_SUBSEQ_IDX],
            "video_subseq_ids": [MAX_SUBSEQ_IDX],
            "audio_subseq_ids": [MAX_SUBSEQ_IDX],
            "right_padding_length": pad,
        }
    return row


def packed_features(neat: bool, media: bool) -> Any:
    """Columns of packed rows; with neat_packing every integer column is int64 as in LLaMA-Factory (its
    loader disables datasets' int32/int8 column optimisation so that segment ids above 127 fit)."""
    from datasets import Features, List, Value

    small_ids, small_mask = ("int64", "int64") if neat else ("int32", "int8")
    feats: dict[str, Any] = {
        "input_ids": List(Value(small_ids)),
        "attention_mask": List(Value(small_mask)),
        "position_ids": List(Value("int64")),
        "labels": List(Value("int64")),
    }
    if neat:
        feats["packing_params"] = {
            "sequence_boundaries": List(Value("int64")),
            "image_subseq_ids": List(Value("int64")),
            "video_subseq_ids": List(Value("int64")),
            "audio_subseq_ids": List(Value("int64")),
            "right_padding_length": Value("int64"),
        }
    if media:
        feats.update({c: Value("null") for c in ("images", "videos", "audios")})
    return Features(feats)


class PackMaterializer:
    """Batch function over pack indices: gathers each pack's rows from ``source`` and builds the pack.

    Picklable (the plan arrays and the source dataset travel to ``map`` workers; a file-backed source
    is pickled as a reference to its Arrow files).
    """

    def __init__(self, source: Any, plan: PackPlan, *, length: int, pad_id: int, neat: bool, media: bool):
        self.source = source.select_columns(["input_ids", "labels"])
        self.plan = plan
        self.length = length
        self.pad_id = pad_id
        self.neat = neat
        self.media = media

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        packs = batch["_pack"]
        plan = self.plan
        wanted = np.concatenate([plan.rows_of(p) for p in packs]) if packs else np.empty(0, np.int64)
        rows = self.source[wanted.tolist()] if len(wanted) else {"input_ids": [], "labels": []}
        out: dict[str, list[Any]] = {}
        at = 0
        for p in packs:
            n = int(plan.offsets[p + 1] - plan.offsets[p])
            row = build_pack(rows["input_ids"][at : at + n], rows["labels"][at : at + n], length=self.length,
                             pad_id=self.pad_id, neat=self.neat)
            at += n
            for key, value in row.items():
                out.setdefault(key, []).append(value)
        if self.media:
            for c in ("images", "videos", "audios"):
                out[c] = [None] * len(packs)
        if not packs:
            out = {k: [] for k in packed_features(self.neat, self.media)}
        return out


class WindowPacker:
    """Streaming packing: best-fit decreasing inside each window of rows (one ``map`` batch)."""

    def __init__(self, *, capacity: int, length: int, pad_id: int, neat: bool, media: bool, stats: dict[str, Any]):
        self.capacity = capacity
        self.length = length
        self.pad_id = pad_id
        self.neat = neat
        self.media = media
        self.stats = stats

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        ids_col = batch["input_ids"]
        labels_col = batch["labels"]
        plan = plan_packs([len(x) for x in ids_col], self.capacity)
        out: dict[str, list[Any]] = {k: [] for k in packed_features(self.neat, self.media)}
        for p in range(plan.packs):
            rows = plan.rows_of(p).tolist()
            row = build_pack([ids_col[i] for i in rows], [labels_col[i] for i in rows], length=self.length,
                             pad_id=self.pad_id, neat=self.neat)
            for key, value in row.items():
                out[key].append(value)
        if self.media:
            for c in ("images", "videos", "audios"):
                out[c] = [None] * plan.packs
        self.stats["packs"] = self.stats.get("packs", 0) + plan.packs
        self.stats["packed_tokens"] = self.stats.get("packed_tokens", 0) + plan.tokens
        packs = self.stats["packs"]
        self.stats["pack_fill"] = self.stats["packed_tokens"] / (packs * self.length) if packs else 0.0
        return out
