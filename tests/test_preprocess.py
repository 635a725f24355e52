"""Supervised preprocessing: labels, multi-turn, masking options, truncation, drops, the dataset API."""

from __future__ import annotations

import pickle

import pytest
from test_preprocess_helpers import (
    CHATML_JINJA,
    GenerationTemplate,
    columnar,
    msg,
    sft_dataset,
    sft_row,
    trained_ids,
)

from templates_hub.errors import TemplatesHubError, UsageError
from templates_hub.preprocess.api import preprocess_dataset
from templates_hub.preprocess.config import PreprocessConfig
from templates_hub.preprocess.seqlen import infer_seqlen
from templates_hub.preprocess.supervised import SupervisedPreprocessor
from templates_hub.templates import fix_tokenizer, get_template
from templates_hub.tiny import build_tiny_tokenizer


@pytest.fixture(scope="module")
def qwen():
    tok = build_tiny_tokenizer()
    template = get_template("qwen")
    fix_tokenizer(tok, template)
    return template, tok


def run(template, tok, rows, **cfg):
    proc = SupervisedPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(**cfg), accounting=True)
    return proc(columnar(rows))


def enc(tok, text):
    return tok.encode(text, add_special_tokens=False)


# -- infer_seqlen ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target", "cutoff", "expected"), [
    (10, 10, 100, (10, 10)),  # both fit
    (100, 10, 50, (40, 10)),  # short target kept whole, source cut
    (10, 100, 50, (10, 40)),  # short source kept whole, target cut
    (60, 40, 50, (30, 20)),  # both cut in proportion
    (14, 30, 22, (8, 14)),  # LLaMA-Factory's float rounding: int(22 * (30 / 44)) == 14, not 15
    (5, 0, 3, (3, 0)),
    (0, 5, 3, (0, 3)),
    (7, 7, 0, (0, 0)),
])
def test_infer_seqlen_matches_llamafactory(source, target, cutoff, expected):
    assert infer_seqlen(source, target, cutoff) == expected


# -- labels -----------------------------------------------------------------------------------------------------


def test_single_turn_prompt_masked_response_trained(qwen):
    template, tok = qwen
    out = run(template, tok, [sft_row(("Hi there", "Hello!"))])
    system = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    prompt = enc(tok, system) + enc(tok, "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n")
    answer = enc(tok, "Hello!<|im_end|>\n")
    assert out["input_ids"][0] == prompt + answer
    assert out["labels"][0] == [-100] * len(prompt) + answer
    assert out["attention_mask"][0] == [1] * len(prompt + answer)
    assert out["_drop"] == [None] and out["_trained"] == [len(answer)] and out["_row"] == [1]
    assert out["images"] == [None]


def test_multi_turn_trains_every_answer(qwen):
    template, tok = qwen
    out = run(template, tok, [sft_row(("q1", "a1"), ("q2", "a2"), system="Be brief.")])
    trained = tok.decode(trained_ids(out["labels"][0]))
    assert trained == "a1<|im_end|>\na2<|im_end|>\n"


def test_train_on_prompt(qwen):
    template, tok = qwen
    out = run(template, tok, [sft_row(("q1", "a1"))], train_on_prompt=True)
    assert out["labels"][0] == out["input_ids"][0]


def test_mask_history_trains_only_the_last_answer(qwen):
    template, tok = qwen
    out = run(template, tok, [sft_row(("q1", "a1"), ("q2", "a2"))], mask_history=True)
    assert tok.decode(trained_ids(out["labels"][0])) == "a2<|im_end|>\n"
    full = run(template, tok, [sft_row(("q1", "a1"), ("q2", "a2"))])
    assert out["input_ids"][0] == full["input_ids"][0]


def test_mask_history_gives_the_last_turn_the_budget(qwen):
    template, tok = qwen
    long_answer = "The quick brown fox jumps over the lazy dog. " * 4
    rows = [sft_row(("q1", long_answer), ("q2", "short answer"))]
    kept = run(template, tok, rows, mask_history=True, cutoff_len=40)
    assert tok.decode(trained_ids(kept["labels"][0])) == "short answer<|im_end|>\n"
    assert len(kept["input_ids"][0]) <= 40


def test_per_message_train_overrides(qwen):
    template, tok = qwen
    row = sft_row(("q1", "a1"), ("q2", "a2"), train={1: False, 2: True})
    out = run(template, tok, [row])
    assert tok.decode(trained_ids(out["labels"][0])) == "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\na2<|im_end|>\n"
    forced = run(template, tok, [sft_row(("q1", "a1"), ("q2", "a2"), train={1: True})], mask_history=True)
    assert tok.decode(trained_ids(forced["labels"][0])) == "a1<|im_end|>\na2<|im_end|>\n"


def test_row_with_every_answer_masked_is_dropped(qwen):
    template, tok = qwen
    out = run(template, tok, [sft_row(("q1", "a1"), train={1: False})])
    assert out["_drop"][0] == "no trained tokens (every response is masked)"
    assert out["input_ids"] == [[]]
    kept = run(template, tok, [sft_row(("q1", "a1"), train={1: False})], drop_untrained=False)
    assert kept["_drop"] == [None] and set(kept["labels"][0]) == {-100}


def test_truncation_that_removes_every_trained_token_drops_the_row(qwen):
    template, tok = qwen
    rows = [sft_row(("word " * 60, "one two three four five six seven eight"), row=7), sft_row(("q", "a"), row=8)]
    out = run(template, tok, rows, cutoff_len=12)
    assert out["_drop"][0].startswith("all ") and "cutoff_len=12" in out["_drop"][0]
    assert out["_row"] == [7, 8]
    assert out["_drop"][1] is None and len(out["input_ids"][1]) <= 12


def test_truncation_keeps_heads_per_infer_seqlen(qwen):
    template, tok = qwen
    question, answer = "alpha beta gamma delta " * 5, "one two three four five six seven " * 3
    full = run(template, tok, [sft_row((question, answer))])
    labels = full["labels"][0]
    source_len = labels.index(next(t for t in labels if t != -100))
    target_len = len(labels) - source_len
    cutoff = (source_len + target_len) // 2
    sl, tl = infer_seqlen(source_len, target_len, cutoff)
    cut = run(template, tok, [sft_row((question, answer))], cutoff_len=cutoff)
    assert cut["input_ids"][0] == full["input_ids"][0][:sl] + full["input_ids"][0][source_len:source_len + tl]


def test_efficient_eos_labels_like_llamafactory():
    tok = build_tiny_tokenizer()
    template = get_template("glm4")
    fix_tokenizer(tok, template)
    eos = tok.eos_token_id
    out = run(template, tok, [sft_row(("q1", "a1"), ("q2", "a2"))])
    ids, labels = out["input_ids"][0], out["labels"][0]
    user = tok.convert_tokens_to_ids("<|user|>")
    second_prompt = ids.index(user, ids.index(user) + 1)
    assert labels[ids.index(user)] == -100  # the first prompt gets no eos label
    assert labels[second_prompt] == eos != ids[second_prompt]  # LLaMA-Factory's quirk: eos label on the next prompt
    assert ids[-1] == eos and labels[-1] == eos  # one eos closes the row
    assert [t for t in labels if t not in (-100, eos)] == enc(tok, "\na1") + enc(tok, "\na2")
    with pytest.raises(TemplatesHubError, match="train_on_prompt"):
        run(template, tok, [sft_row(("q", "a"))], train_on_prompt=True)


def test_reasoning_template_trains_the_empty_thought():
    tok = build_tiny_tokenizer()
    template = get_template("qwen3")
    fix_tokenizer(tok, template)
    out = run(template, tok, [sft_row(("q1", "a1"))])
    assert tok.decode(trained_ids(out["labels"][0])) == "<think>\n\n</think>\n\na1<|im_end|>\n"
    off = run(template, tok, [sft_row(("q1", "a1"))], enable_thinking=False)
    assert tok.decode(trained_ids(off["labels"][0])) == "a1<|im_end|>\n"
    assert "<think>\n\n</think>\n\n" in tok.decode(off["input_ids"][0])


def test_end_token_outside_the_generation_span_is_trained(tiny_tokenizer):
    out = run(GenerationTemplate(), tiny_tokenizer, [sft_row(("q1", "a1"), ("q2", "a2"))])
    assert tiny_tokenizer.decode(trained_ids(out["labels"][0])) == "a1<|im_end|>a2<|im_end|>"


def test_whole_mode_ids_equal_apply_chat_template(tiny_tokenizer):
    tok = build_tiny_tokenizer(chat_template=CHATML_JINJA)
    row = sft_row(("What is  2+2?", " It is 4."), ("And 3+3?", "6\n"), system="Answer briefly.")
    out = run(GenerationTemplate(), tok, [row], tokenization="whole")
    messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    expected = tok.apply_chat_template(messages, tokenize=True, return_dict=False)
    assert out["input_ids"][0] == expected
    assert tok.decode(trained_ids(out["labels"][0])) == " It is 4.<|im_end|>6\n<|im_end|>"


def test_render_error_is_reported_not_raised(qwen):
    template, tok = qwen
    bad = {"messages": [msg("assistant", "no question")], "tools": None, "_row": 3}
    out = run(template, tok, [bad, sft_row(("q", "a"), row=4)])
    assert out["_drop"][0].startswith("cannot render")
    assert out["_drop"][1] is None


def test_plain_call_leaves_dropped_rows_out(qwen):
    template, tok = qwen
    proc = SupervisedPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig())
    out = proc(columnar([sft_row(("q", "a"), train={1: False}), sft_row(("q", "b"))]))
    assert set(out) == {"input_ids", "attention_mask", "labels", "images", "videos", "audios"}
    assert len(out["input_ids"]) == 1


def test_preprocessor_pickles(qwen):
    template, tok = qwen
    proc = SupervisedPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(), accounting=True)
    rows = columnar([sft_row(("q", "a"))])
    assert pickle.loads(pickle.dumps(proc))(rows) == proc(rows)


# -- preprocess_dataset -------------------------------------------------------------------------------------------


def test_preprocess_dataset_columns_dtypes_stats_and_rejects(qwen):
    template, tok = qwen
    rows = [sft_row((f"question {i}", f"answer {i}"), row=i + 1) for i in range(30)]
    rows[4] = sft_row(("q", "a"), row=5, train={1: False})
    result = preprocess_dataset(sft_dataset(rows), template=template, tokenizer=tok, config=PreprocessConfig(),
                                source="data.jsonl", progress=False)
    ds = result.dataset
    assert ds.column_names == ["input_ids", "attention_mask", "labels", "images", "videos", "audios"]
    assert {k: str(v.feature.dtype) for k, v in ds.features.items() if hasattr(v, "feature")} == {
        "input_ids": "int32", "attention_mask": "int8", "labels": "int64"}
    assert len(ds) == 29
    s = result.stats
    assert s["rows_in"] == 30 and s["rows_out"] == 29 and s["dropped"] == {"untrained": 1}
    assert s["tokens"] == sum(len(x) for x in ds["input_ids"])
    assert s["trained_tokens"] == sum(len(trained_ids(x)) for x in ds["labels"])
    assert 0 < s["trained_share"] < 1
    [issue] = result.rejects
    assert (issue.row, issue.source, issue.kind) == (5, "data.jsonl", "untrained")
    assert "rows: 30 in, 29 out" in result.summary()


def test_num_proc_gives_the_same_rows(qwen):
    template, tok = qwen
    rows = [sft_row((f"question {i}", f"answer {i} " * (i % 5)), row=i + 1) for i in range(60)]
    one = preprocess_dataset(sft_dataset(rows), template=template, tokenizer=tok,
                             config=PreprocessConfig(batch_size=10), progress=False)
    two = preprocess_dataset(sft_dataset(rows), template=template, tokenizer=tok,
                             config=PreprocessConfig(batch_size=10, num_proc=2), progress=False)
    assert one.dataset.to_dict() == two.dataset.to_dict()
    assert one.stats == two.stats


def test_streaming_input(qwen):
    template, tok = qwen
    rows = [sft_row((f"question {i}", f"answer {i}"), row=i + 1) for i in range(25)]
    rows[3] = sft_row(("q", "a"), row=4, train={1: False})
    ds = sft_dataset(rows)
    eager = preprocess_dataset(ds, template=template, tokenizer=tok, config=PreprocessConfig(batch_size=8),
                               progress=False)
    lazy = preprocess_dataset(ds.to_iterable_dataset(num_shards=2), template=template, tokenizer=tok,
                              config=PreprocessConfig(batch_size=8))
    assert lazy.stats["rows_in"] == 0  # nothing read yet
    streamed = list(lazy.dataset)
    assert [r["input_ids"] for r in streamed] == eager.dataset["input_ids"][:]
    assert {k: lazy.stats[k] for k in ("rows_in", "rows_out", "dropped", "tokens", "trained_tokens")} == {
        k: eager.stats[k] for k in ("rows_in", "rows_out", "dropped", "tokens", "trained_tokens")}
    assert [i.row for i in lazy.rejects] == [4]


@pytest.mark.parametrize("packing", [False, True])
def test_streaming_statistics_describe_one_pass(qwen, packing):
    """Iterating the streamed result again (a second epoch) must not count rows or rejects twice."""
    template, tok = qwen
    rows = [sft_row((f"question {i}", f"answer {i}"), row=i + 1) for i in range(20)]
    rows[2] = sft_row(("q", "a"), row=3, train={1: False})
    lazy = preprocess_dataset(sft_dataset(rows).to_iterable_dataset(num_shards=2), template=template, tokenizer=tok,
                              config=PreprocessConfig(batch_size=8, packing=packing, cutoff_len=96))
    first = list(lazy.dataset)
    stats = dict(lazy.stats)
    assert stats["rows_in"] == 20 and stats["rows_out"] == 19 and [i.row for i in lazy.rejects] == [3]
    assert list(lazy.dataset) == first
    assert lazy.stats == stats and [i.row for i in lazy.rejects] == [3]
    if packing:
        assert stats["packs"] == len(first) and stats["packed_tokens"] == stats["tokens"]


def test_the_callers_tokenizer_gets_its_bpe_cache_back(qwen, monkeypatch):
    """The engine enlarges the tokenizer's BPE cache for speed; preprocess_dataset restores it, also on errors."""
    from templates_hub.preprocess.encode import TokenizerEngine

    template, tok = qwen
    sizes = []
    monkeypatch.setattr(TokenizerEngine, "_resize_bpe_cache", lambda self, words: sizes.append(words))
    ds = sft_dataset([sft_row(("q", "an answer"))])
    preprocess_dataset(ds, template=template, tokenizer=tok, config=PreprocessConfig(), progress=False)
    assert sizes[0] == TokenizerEngine.BPE_CACHE_WORDS and sizes[-1] == TokenizerEngine.DEFAULT_BPE_CACHE_WORDS
    sizes.clear()
    no_pad = build_tiny_tokenizer(pad_token=None)  # packing needs a pad token: fails after tokenizing
    with pytest.raises(TemplatesHubError, match="pad token"):
        preprocess_dataset(ds, template=template, tokenizer=no_pad, config=PreprocessConfig(packing=True),
                           progress=False)
    assert sizes[-1] == TokenizerEngine.DEFAULT_BPE_CACHE_WORDS


def test_preprocessor_must_match_the_row_kind(qwen):
    template, tok = qwen
    with pytest.raises(UsageError, match="pairwise"):
        preprocess_dataset(sft_dataset([sft_row(("q", "a"))]), template=template, tokenizer=tok,
                           config=PreprocessConfig(preprocessor="pairwise"), progress=False)


def test_missing_columns_are_a_usage_error(qwen):
    import datasets

    template, tok = qwen
    with pytest.raises(UsageError, match="load_canonical"):
        preprocess_dataset(datasets.Dataset.from_dict({"instruction": ["x"]}), template=template, tokenizer=tok,
                           config=PreprocessConfig(), progress=False)
