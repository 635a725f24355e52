"""Packing: the best-fit-decreasing plan, packed rows, and every token of every example kept exactly once."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_preprocess_helpers import sft_dataset, sft_row

from templates_hub.preprocess.api import preprocess_dataset
from templates_hub.preprocess.config import PreprocessConfig
from templates_hub.preprocess.packing import build_pack, greedy_knapsack_plan, plan_packs
from templates_hub.templates import fix_tokenizer, get_template
from templates_hub.tiny import build_tiny_tokenizer


def sequential_bfd(lengths, capacity):
    """Textbook best-fit decreasing, one item at a time (the reference for plan_packs)."""
    rooms: list[int] = []
    for length in sorted((x for x in lengths if x > 0), reverse=True):
        fits = [i for i, r in enumerate(rooms) if r >= length]
        if fits:
            best = min(fits, key=lambda i: rooms[i])
            rooms[best] -= length
        else:
            rooms.append(capacity - length)
    return sorted(rooms)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 64), data=st.data())
def test_plan_is_best_fit_decreasing(capacity, data):
    lengths = data.draw(st.lists(st.integers(0, capacity), max_size=80))
    plan = plan_packs(lengths, capacity)
    # every non-empty row exactly once, no pack over capacity
    assert sorted(plan.order.tolist()) == [i for i, x in enumerate(lengths) if x > 0]
    rooms = []
    for p in range(plan.packs):
        used = sum(lengths[i] for i in plan.rows_of(p))
        assert 0 < used <= capacity
        rooms.append(capacity - used)
    # the same packs as one-at-a-time BFD (bins with equal room are interchangeable)
    assert sorted(rooms) == sequential_bfd(lengths, capacity)
    assert plan.tokens == sum(lengths)


def test_plan_rejects_rows_longer_than_the_capacity():
    with pytest.raises(ValueError, match="does not fit"):
        plan_packs([3, 9], 8)


def test_global_plan_fills_better_than_per_batch_greedy():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 400, size=3000)
    best = plan_packs(lengths, 1024)
    greedy = greedy_knapsack_plan(lengths, 1024, batch_size=100)
    assert sorted(greedy.order.tolist()) == list(range(3000))
    assert best.packs <= greedy.packs
    assert best.fill() > 0.99


def test_build_pack_layout():
    row = build_pack([[5, 6, 7], [8, 9]], [[-100, 6, 7], [-100, 9]], length=8, pad_id=0, neat=False)
    assert row["input_ids"] == [5, 6, 7, 8, 9, 0, 0, 0]
    assert row["position_ids"] == [0, 1, 2, 0, 1, 0, 0, 0]
    assert row["labels"] == [-100, 6, 7, -100, 9, -100, -100, -100]
    assert row["attention_mask"] == [1] * 8
    neat = build_pack([[5, 6, 7], [8, 9]], [[-100, 6, 7], [-100, 9]], length=8, pad_id=0, neat=True)
    assert neat["attention_mask"] == [1, 1, 1, 2, 2, 0, 0, 0]
    assert neat["packing_params"]["sequence_boundaries"] == [0, 3, 5, 8]
    assert neat["packing_params"]["right_padding_length"] == 3


@pytest.fixture(scope="module")
def qwen():
    tok = build_tiny_tokenizer()
    template = get_template("qwen")
    fix_tokenizer(tok, template)
    return template, tok


def rows_for(n, seed=0):
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "fox", "dog", "sea", "star"]
    return [sft_row((" ".join(rng.choice(words, rng.integers(1, 12))), " ".join(rng.choice(words, rng.integers(1, 30)))),
                    row=i + 1) for i in range(n)]


@pytest.mark.parametrize("neat", [False, True])
def test_packing_keeps_every_example_exactly_once(qwen, neat):
    template, tok = qwen
    rows = rows_for(120)
    cutoff = 96
    packed = preprocess_dataset(sft_dataset(rows), template=template, tokenizer=tok, progress=False,
                                config=PreprocessConfig(cutoff_len=cutoff, packing=True, neat_packing=neat,
                                                        batch_size=32))
    plain = preprocess_dataset(sft_dataset(rows), template=template, tokenizer=tok, progress=False,
                               config=PreprocessConfig(cutoff_len=cutoff - 1))
    expected = Counter(zip(map(tuple, plain.dataset["input_ids"]), map(tuple, plain.dataset["labels"]), strict=False))
    got: Counter = Counter()
    pad = tok.pad_token_id
    for row in packed.dataset:
        assert len(row["input_ids"]) == cutoff
        mask = row["attention_mask"]
        positions = row["position_ids"]
        starts = [i for i, p in enumerate(positions) if p == 0]
        # padding (LLaMA-Factory's layout): pad id, position 0, label -100 at the end of the pack
        n_real = cutoff
        while n_real > 0 and (row["input_ids"][n_real - 1], positions[n_real - 1], row["labels"][n_real - 1]) == (
                pad, 0, -100):
            n_real -= 1
        if neat:
            assert cutoff - n_real == row["packing_params"]["right_padding_length"]
        segments = [s for s in starts if s < n_real] + [n_real]
        for k, (a, b) in enumerate(zip(segments, segments[1:], strict=False)):
            assert positions[a:b] == list(range(b - a))
            if neat:
                assert set(mask[a:b]) == {k + 1}
            got[(tuple(row["input_ids"][a:b]), tuple(row["labels"][a:b]))] += 1
        assert all(label == -100 for label in row["labels"][n_real:])
        if neat:
            assert set(mask[n_real:]) <= {0}
    assert got == expected
    s = packed.stats
    assert s["packs"] == len(packed.dataset) and s["pack_length"] == cutoff
    assert s["pack_fill"] == pytest.approx(sum(len(k[0]) * v for k, v in expected.items()) / (cutoff * s["packs"]))
    features = packed.dataset.features
    ids_dtype = "int64" if neat else "int32"
    assert features["input_ids"].feature.dtype == ids_dtype
    assert features["position_ids"].feature.dtype == "int64"
    assert ("packing_params" in features) == neat


def test_streaming_packing_packs_each_window(qwen):
    template, tok = qwen
    rows = rows_for(40, seed=1)
    cfg = PreprocessConfig(cutoff_len=128, packing=True, packing_window=20, batch_size=10)
    lazy = preprocess_dataset(sft_dataset(rows).to_iterable_dataset(), template=template, tokenizer=tok, config=cfg)
    packs = list(lazy.dataset)
    assert packs and all(len(p["input_ids"]) == 128 for p in packs)
    total = sum(sum(1 for t in p["labels"] if t != -100) for p in packs)
    assert total == lazy.stats["trained_tokens"]
    assert lazy.stats["packs"] == len(packs) and 0 < lazy.stats["pack_fill"] <= 1
