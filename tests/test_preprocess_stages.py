"""Pairwise, KTO, unsupervised and pretrain preprocessing."""

from __future__ import annotations

import datasets
import pytest
from test_preprocess_helpers import columnar, msg, trained_ids

from templates_hub.preprocess.api import preprocess_dataset
from templates_hub.preprocess.config import PreprocessConfig
from templates_hub.preprocess.feedback import KTOPreprocessor
from templates_hub.preprocess.pairwise import PairwisePreprocessor
from templates_hub.preprocess.pretrain import PretrainPreprocessor
from templates_hub.preprocess.seqlen import infer_seqlen
from templates_hub.preprocess.unsupervised import UnsupervisedPreprocessor
from templates_hub.schemas import features
from templates_hub.templates import fix_tokenizer, get_template
from templates_hub.tiny import build_tiny_tokenizer

SYSTEM = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"


@pytest.fixture(scope="module")
def qwen():
    tok = build_tiny_tokenizer()
    template = get_template("qwen")
    fix_tokenizer(tok, template)
    return template, tok


def enc(tok, text):
    return tok.encode(text, add_special_tokens=False)


def pref_row(question, chosen, rejected, row=1):
    return {"messages": [msg("user", question)], "chosen": msg("assistant", chosen),
            "rejected": msg("assistant", rejected), "tools": None, "_row": row}


def kto_row(question, answer, label, row=1):
    return {"messages": [msg("user", question), msg("assistant", answer)], "label": label, "tools": None, "_row": row}


# -- pairwise ------------------------------------------------------------------------------------------------------


def test_pairwise_rows(qwen):
    template, tok = qwen
    proc = PairwisePreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(), accounting=True)
    out = proc(columnar([pref_row("Which?", "the good one", "bad")]))
    prompt = enc(tok, SYSTEM) + enc(tok, "<|im_start|>user\nWhich?<|im_end|>\n<|im_start|>assistant\n")
    chosen, rejected = enc(tok, "the good one<|im_end|>\n"), enc(tok, "bad<|im_end|>\n")
    assert out["chosen_input_ids"][0] == prompt + chosen
    assert out["rejected_input_ids"][0] == prompt + rejected
    assert out["chosen_labels"][0] == [-100] * len(prompt) + chosen
    assert out["rejected_labels"][0] == [-100] * len(prompt) + rejected
    assert out["chosen_attention_mask"][0] == [1] * len(prompt + chosen)
    assert out["_trained"] == [len(chosen) + len(rejected)]


def test_pairwise_truncates_both_answers_to_one_target_length(qwen):
    template, tok = qwen
    long_chosen = "alpha beta gamma delta epsilon " * 6
    proc = PairwisePreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(cutoff_len=40),
                                accounting=True)
    out = proc(columnar([pref_row("Which one is better?", long_chosen, "no")]))
    full = PairwisePreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(), accounting=True)(
        columnar([pref_row("Which one is better?", long_chosen, "no")]))
    prompt_len = full["chosen_labels"][0].count(-100)
    chosen_len = len(full["chosen_labels"][0]) - prompt_len
    rejected_len = len(full["rejected_labels"][0]) - prompt_len
    sl, tl = infer_seqlen(prompt_len, max(chosen_len, rejected_len), 40)
    assert out["chosen_labels"][0].count(-100) == sl
    assert len(out["chosen_input_ids"][0]) == sl + min(tl, chosen_len)
    assert len(out["rejected_input_ids"][0]) == sl + min(tl, rejected_len)
    assert len(out["chosen_input_ids"][0]) <= 40


# -- kto -------------------------------------------------------------------------------------------------------------


def test_kto_pairs_each_prompt_with_the_previous_answer(qwen):
    template, tok = qwen
    rows = [kto_row(f"question {i}", f"answer {i}", i % 2 == 0, row=i + 1) for i in range(3)]
    proc = KTOPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(), accounting=True)
    out = proc(columnar(rows))
    assert out["kto_tags"] == [True, False, True]
    for i, previous in ((0, 2), (1, 0), (2, 1)):  # the first row wraps around to the batch's last answer
        assert tok.decode(trained_ids(out["labels"][i])) == f"answer {i}<|im_end|>\n"
        assert tok.decode(trained_ids(out["kl_labels"][i])) == f"answer {previous}<|im_end|>\n"
        assert f"question {i}" in tok.decode(out["kl_input_ids"][i])


def test_kto_pairing_follows_batch_boundaries(qwen):
    template, tok = qwen
    rows = [kto_row(f"question {i}", f"answer {i}", True, row=i + 1) for i in range(4)]
    ds = datasets.Dataset.from_list(rows, features=features("kto"))
    result = preprocess_dataset(ds, template=template, tokenizer=tok, kind="kto",
                                config=PreprocessConfig(batch_size=2), progress=False)
    kl = [tok.decode(trained_ids(x)) for x in result.dataset["kl_labels"]]
    assert kl == [f"answer {i}<|im_end|>\n" for i in (1, 0, 3, 2)]
    assert result.dataset.features["kto_tags"].dtype == "bool"
    assert result.dataset.features["kl_input_ids"].feature.dtype == "int64"


# -- unsupervised ------------------------------------------------------------------------------------------------


def test_unsupervised_prompt_and_reference(qwen):
    template, tok = qwen
    rows = [{"messages": [msg("user", "q1"), msg("assistant", "a1"), msg("user", "q2"), msg("assistant", "a2")],
             "tools": None, "_row": 1},
            {"messages": [msg("user", "open question")], "tools": None, "_row": 2}]
    out = UnsupervisedPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(), accounting=True)(
        columnar(rows))
    text = tok.decode(out["input_ids"][0])
    assert text.startswith("<|im_start|>system") and text.endswith("q2<|im_end|>\n<|im_start|>assistant\n")
    assert "a1<|im_end|>" in text
    assert tok.decode(out["labels"][0]) == "a2<|im_end|>\n"
    assert tok.decode(out["labels"][1]) == "<|im_end|>\n"  # LLaMA-Factory's empty answer: the slot's closing tokens


# -- pretrain ----------------------------------------------------------------------------------------------------


DOCS = ["The quick brown fox jumps over the lazy dog.", "A journey of a thousand miles begins with a single step.",
        "Hello world", "Give three tips for staying healthy."]


def text_dataset(docs):
    return datasets.Dataset.from_list([{"text": d, "_row": i + 1} for i, d in enumerate(docs)],
                                      features=features("text"))


def test_pretrain_blocks_are_the_concatenated_documents(qwen):
    _, tok = qwen
    docs = DOCS * 5
    cfg = PreprocessConfig(cutoff_len=16, batch_size=3)
    result = preprocess_dataset(text_dataset(docs), template=None, tokenizer=tok, kind="text", config=cfg,
                                progress=False)
    stream = [t for d in docs for t in enc(tok, d + tok.eos_token)]
    blocks = result.dataset["input_ids"]
    assert all(len(b) == 16 for b in blocks)
    assert [t for b in blocks for t in b] == stream[: len(stream) // 16 * 16]  # global: only the last tail is lost
    assert result.stats["rows_out"] == len(stream) // 16
    assert result.stats["dropped_tail_tokens"] == len(stream) % 16
    assert result.dataset.column_names == ["input_ids", "attention_mask"]


def empty_dataset(kind):
    feats = features(kind)
    return datasets.Dataset.from_dict({name: [] for name in feats}, features=feats)


@pytest.mark.parametrize(("docs", "packing"), [(["tiny"], None), ([], None), ([], False)])
def test_empty_outputs_keep_their_columns(qwen, docs, packing):
    """No block (documents shorter than one block) or no row at all: the columns and dtypes are still there."""
    _, tok = qwen
    data = text_dataset(docs) if docs else empty_dataset("text")
    result = preprocess_dataset(data, template=None, tokenizer=tok, kind="text", progress=False,
                                config=PreprocessConfig(cutoff_len=4096, packing=packing))
    assert len(result.dataset) == 0 and result.stats["rows_out"] == 0
    assert result.dataset.features["input_ids"].feature.dtype == "int32"
    assert result.dataset.column_names == ["input_ids", "attention_mask"]


def test_empty_sft_input_keeps_its_columns(qwen):
    template, tok = qwen
    empty = empty_dataset("sft")
    for packing in (False, True):
        result = preprocess_dataset(empty, template=template, tokenizer=tok, progress=False,
                                    config=PreprocessConfig(packing=packing))
        assert len(result.dataset) == 0 and result.stats["rows_in"] == 0 and result.stats["tokens"] == 0
        assert "labels" in result.dataset.column_names and ("position_ids" in result.dataset.column_names) == packing


def test_pretrain_bos_overwrites_each_block_start():
    tok = build_tiny_tokenizer()
    tok.add_bos_token = True
    result = preprocess_dataset(text_dataset(DOCS * 3), template=None, tokenizer=tok, kind="text",
                                config=PreprocessConfig(cutoff_len=10), progress=False)
    assert all(b[0] == tok.bos_token_id for b in result.dataset["input_ids"])


def test_pretrain_without_packing_one_truncated_row_per_document():
    tok = build_tiny_tokenizer()
    tok.add_bos_token = True
    proc = PretrainPreprocessor(template=None, tokenizer=tok, config=PreprocessConfig(cutoff_len=8, packing=False),
                                accounting=True)
    out = proc(columnar([{"text": d, "_row": i} for i, d in enumerate(DOCS)]))
    for doc, ids in zip(DOCS, out["input_ids"], strict=False):
        assert ids == enc(tok, tok.bos_token + doc + tok.eos_token)[:8]


def test_pretrain_eos_is_llama3s_end_of_text():
    tok = build_tiny_tokenizer()
    template = get_template("llama3")
    fix_tokenizer(tok, template)
    proc = PretrainPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(packing=False),
                                accounting=True)
    out = proc(columnar([{"text": "Hello world", "_row": 1}]))
    assert out["input_ids"][0] == enc(tok, "Hello world<|end_of_text|>")


def test_pretrain_streaming_cuts_blocks_per_window(qwen):
    _, tok = qwen
    docs = DOCS * 4
    lazy = preprocess_dataset(text_dataset(docs).to_iterable_dataset(), template=None, tokenizer=tok, kind="text",
                              config=PreprocessConfig(cutoff_len=12, batch_size=4))
    blocks = [r["input_ids"] for r in lazy.dataset]
    window = [t for d in DOCS for t in enc(tok, d + tok.eos_token)]
    per_window = [window[i * 12:(i + 1) * 12] for i in range(len(window) // 12)]
    assert blocks == per_window * 4
    assert lazy.stats["blocks"] == len(blocks)
