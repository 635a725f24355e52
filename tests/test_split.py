"""Length-bucketed stratified split: the seed notebook's rule, determinism and stratification proportions
(hypothesis), merged tiny buckets, counts vs fractions, stratifying by any column."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from templates_hub.errors import ConfigError
from templates_hub.schemas import features
from templates_hub.split import SplitConfig, merge_strata, split_dataset


def row(user_words: int, i: int, **extra):
    prompt = " ".join(f"w{i}" for _ in range(user_words)) or f"q{i}"
    return {
        "messages": [
            {"role": "user", "content": prompt, "tool_calls": None, "reasoning": None, "train": None},
            {"role": "assistant", "content": f"answer {i}", "tool_calls": None, "reasoning": None, "train": None},
        ],
        "tools": None,
        "_row": i + 1,
        **extra,
    }


def make(lengths, **columns):
    from datasets import Dataset, Features, Value

    rows = [row(n, i, **{k: v[i] for k, v in columns.items()}) for i, n in enumerate(lengths)]
    feats = features("sft")
    feats = Features({**feats, **{k: Value("string") for k in columns}})
    return Dataset.from_list(rows, features=feats)


def rows_of(ds):
    return list(ds["_row"])


def test_defaults_are_the_seed_notebook():
    cfg = SplitConfig()
    assert (cfg.val_size, cfg.seed, cfg.stratify, cfg.bucket_width, cfg.max_bucket, cfg.length_unit) == (
        0.02, 42, "length", 200, 4, "words")


def seed_notebook_split(ds, test_size=0.02, seed=42):
    """The notebook's Step 4, restated on canonical rows (messages[0] is the user prompt)."""
    from datasets import ClassLabel

    bucketed = ds.map(lambda ex: {"len_bucket": min(len(ex["messages"][0]["content"].split()) // 200, 4)})
    counts = Counter(bucketed["len_bucket"])
    valid = sorted(b for b, c in counts.items() if c >= 2)
    if len(valid) < len(counts):
        bucketed = bucketed.filter(lambda ex: ex["len_bucket"] in valid)
        valid = sorted(Counter(bucketed["len_bucket"]))
    if len(valid) >= 2:
        ids = {b: i for i, b in enumerate(valid)}
        bucketed = bucketed.map(lambda ex: {"len_bucket": ids[ex["len_bucket"]]})
        bucketed = bucketed.cast_column("len_bucket", ClassLabel(num_classes=len(valid)))
        return bucketed.train_test_split(test_size=test_size, seed=seed, stratify_by_column="len_bucket")
    return bucketed.train_test_split(test_size=test_size, seed=seed)


def test_same_rows_as_the_seed_notebook_when_no_bucket_is_tiny():
    lengths = [5] * 150 + [250] * 20 + [450] * 15 + [900] * 10
    ds = make(lengths)
    ours = split_dataset(ds, SplitConfig())
    seed = seed_notebook_split(ds)
    assert ours.report["method"] == "stratified" and ours.report["merged"] == []
    assert rows_of(ours.train) == rows_of(seed["train"])
    assert rows_of(ours.validation) == rows_of(seed["test"])
    assert ours.train.column_names == ds.column_names  # helper columns removed


def test_tiny_bucket_is_merged_not_dropped():
    lengths = [5] * 200 + [250] * 30 + [1500]  # a single row in bucket 4
    ds = make(lengths)
    ours = split_dataset(ds, SplitConfig(val_size=0.05))
    seed = seed_notebook_split(ds, test_size=0.05)
    assert len(seed["train"]) + len(seed["test"]) == len(ds) - 1  # the notebook throws the row away
    assert len(ours.train) + len(ours.validation) == len(ds)
    assert ours.report["merged"] == [{"stratum": "4", "rows": 1, "into": "1", "why": "fewer than 2 rows"}]
    assert ours.report["strata"] == {"0": 200, "1": 31}
    assert ours.report["buckets"]["all"] == {"0": 200, "1": 30, "4": 1}
    assert sorted(rows_of(ours.train) + rows_of(ours.validation)) == list(range(1, len(ds) + 1))


def test_merge_strata_nearest_rules():
    mapping, merges = merge_strata({0: 50, 1: 1, 4: 30}, min_size=2, max_classes=10)
    assert mapping == {0: 0, 1: 0, 4: 4} and merges[0]["into"] == 0
    mapping, _ = merge_strata({0: 50, 2: 1, 4: 30}, min_size=2, max_classes=10)
    assert mapping[2] == 0  # equally near: the larger neighbour
    mapping, _ = merge_strata({"a": 10, "b": 1, "c": 5}, min_size=2, max_classes=10)
    assert mapping["b"] == "a"  # not numbers: the most populated class
    mapping, merges = merge_strata({0: 40, 1: 30, 2: 20, 3: 10}, min_size=2, max_classes=2)
    assert len(set(mapping.values())) == 2 and all("more strata" in m["why"] for m in merges)
    assert merge_strata({0: 1}, min_size=2, max_classes=5) == ({0: 0}, [])


def test_more_buckets_than_validation_rows_are_merged():
    ds = make([5] * 60 + [250] * 20 + [450] * 10 + [650] * 6 + [900] * 4)
    result = split_dataset(ds, {"val_size": 3})
    assert result.report["method"] == "stratified" and len(result.report["strata"]) <= 3
    assert len(result.validation) == 3 and len(result.train) == 97


def test_single_bucket_falls_back_to_the_seeded_random_split():
    ds = make([3] * 50)
    result = split_dataset(ds, SplitConfig(val_size=0.1, seed=7))
    expected = ds.train_test_split(test_size=0.1, seed=7)
    assert result.report["method"] == "random" and "only one length bucket" in result.report["reason"]
    assert rows_of(result.validation) == rows_of(expected["test"])


def test_counts_fractions_and_none():
    ds = make([5] * 40 + [300] * 10)
    assert len(split_dataset(ds, {"val_size": 5}).validation) == 5
    assert len(split_dataset(ds, {"val_size": 0.1}).validation) == 5  # ceil(0.1 * 50)
    none = split_dataset(ds, {"val_size": 0})
    assert none.validation is None and len(none.train) == 50 and none.report["method"] == "none"
    with pytest.raises(ConfigError, match="nothing left to train on"):
        split_dataset(ds, {"val_size": 50})
    for bad in (1.0, -0.5, -3, True):
        with pytest.raises(ValidationError):
            SplitConfig(val_size=bad)


def test_stratify_by_column_and_random():
    langs = ["en"] * 60 + ["zh"] * 30 + ["fr"] * 10
    ds = make([5] * 100, lang=langs)
    result = split_dataset(ds, {"val_size": 10, "stratify": "lang"})
    assert result.report["buckets"]["validation"] == {"en": 6, "fr": 1, "zh": 3}
    assert result.report["buckets"]["all"] == {"en": 60, "fr": 10, "zh": 30}
    assert "lang" in result.train.column_names and "_stratum" not in result.train.column_names
    with pytest.raises(ConfigError, match="no column 'language'"):
        split_dataset(ds, {"stratify": "language"})
    random = split_dataset(ds, {"val_size": 10, "stratify": None})
    assert random.report["method"] == "random" and len(random.validation) == 10


def test_length_units(tiny_tokenizer):
    ds = make([10] * 20 + [30] * 20)  # "w1 w1 ..." : 10 or 30 words
    words = split_dataset(ds, {"val_size": 4, "bucket_width": 20})
    assert words.report["buckets"]["all"] == {"0": 20, "1": 20}
    chars = split_dataset(ds, {"val_size": 4, "bucket_width": 50, "length_unit": "chars", "max_bucket": 9})
    assert set(chars.report["buckets"]["all"]) != {"0"}
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        split_dataset(ds, {"length_unit": "tokens"})
    tokens = split_dataset(ds, {"val_size": 4, "bucket_width": 10, "length_unit": "tokens"}, tokenizer=tiny_tokenizer)
    assert tokens.report["length_unit"] == "tokens" and len(tokens.validation) == 4


@settings(max_examples=12, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=2, max_value=60), min_size=2, max_size=5),
    val=st.one_of(st.floats(min_value=0.05, max_value=0.5), st.integers(min_value=5, max_value=20)),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_stratified_proportions_and_determinism(counts, val, seed):
    lengths = [b * 200 + 1 for b, c in enumerate(counts) for _ in range(c)]
    ds = make(lengths)
    n = len(ds)
    n_val = -(-val * n // 1) if isinstance(val, float) else val
    if n_val >= n or n_val < len(counts) or n - n_val < len(counts):
        return  # sizes where merging would kick in are covered by the tests above
    cfg = SplitConfig(val_size=val, seed=seed, max_bucket=len(counts))
    a = split_dataset(ds, cfg)
    b = split_dataset(ds, cfg)
    assert rows_of(a.train) == rows_of(b.train) and rows_of(a.validation) == rows_of(b.validation)
    assert sorted(rows_of(a.train) + rows_of(a.validation)) == list(range(1, n + 1))
    assert a.report["method"] == "stratified"
    for bucket, count in enumerate(counts):
        in_val = a.report["buckets"]["validation"][str(bucket)]
        assert abs(in_val - len(a.validation) * count / n) < 1  # each bucket keeps its share, to within a row
        assert a.report["buckets"]["train"][str(bucket)] + in_val == count
