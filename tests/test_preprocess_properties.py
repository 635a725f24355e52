"""Hypothesis properties of every preprocessor (tiny tokenizer, real slot templates, a Jinja-like one).

- every label is -100 or its input id (efficient_eos: or the eos id on the first token of a later prompt);
- the decoded trained tokens are the assistant contents plus their end tokens;
- no row exceeds cutoff_len;
- packing keeps every token of every example exactly once.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_preprocess_helpers import GenerationTemplate, columnar, msg, trained_ids

from templates_hub.preprocess.config import PreprocessConfig
from templates_hub.preprocess.feedback import KTOPreprocessor
from templates_hub.preprocess.packing import WindowPacker
from templates_hub.preprocess.pairwise import PairwisePreprocessor
from templates_hub.preprocess.pretrain import PretrainPreprocessor
from templates_hub.preprocess.supervised import SupervisedPreprocessor
from templates_hub.preprocess.unsupervised import UnsupervisedPreprocessor
from templates_hub.templates import fix_tokenizer, get_template
from templates_hub.tiny import build_tiny_tokenizer

PROFILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTENT = st.lists(st.sampled_from(list("abc xyz019.,?!\n") + ["fox", " the", "é", "数", "😀", "<|im_end|>", "  "]),
                   min_size=1, max_size=12).map("".join)
TURNS = st.lists(st.tuples(CONTENT, CONTENT), min_size=1, max_size=3)

#: template name -> the text that closes every assistant turn (what the trained tokens end with)
ENDS = {"qwen": "<|im_end|>\n", "llama3": "<|eot_id|>", "generation": "<|im_end|>"}


def _setup(name):
    tok = build_tiny_tokenizer()
    template = GenerationTemplate() if name == "generation" else get_template(name)
    if name != "generation":
        fix_tokenizer(tok, template)
    return template, tok


TEMPLATES = {name: _setup(name) for name in ("qwen", "llama3", "glm4", "generation")}


def sft(turns, system=None, row=1):
    messages = [msg("system", system)] if system else []
    for user, assistant in turns:
        messages += [msg("user", user), msg("assistant", assistant)]
    return {"messages": messages, "tools": None, "_row": row}


def check_labels(ids, labels, eos=None):
    """-100 or the input id; with efficient_eos also the eos id (LLaMA-Factory puts it on the first token of
    every prompt but the one it processes first, which with mask_history can be the row's first token)."""
    assert len(ids) == len(labels)
    for i, (t, label) in enumerate(zip(ids, labels, strict=False)):
        assert label == -100 or label == t or (eos is not None and label == eos), (i, t, label)


@PROFILE
@given(rows=st.lists(TURNS, min_size=1, max_size=3), system=st.one_of(st.none(), CONTENT),
       name=st.sampled_from(["qwen", "llama3", "generation"]), mode=st.sampled_from(["segments", "whole"]))
def test_supervised_trained_tokens_are_the_answers(rows, system, name, mode):
    template, tok = TEMPLATES[name]
    proc = SupervisedPreprocessor(template=template, tokenizer=tok, accounting=True,
                                  config=PreprocessConfig(cutoff_len=100_000, tokenization=mode))
    out = proc(columnar([sft(turns, system, i) for i, turns in enumerate(rows)]))
    for turns, ids, labels in zip(rows, out["input_ids"], out["labels"], strict=False):
        check_labels(ids, labels)
        trained = tok.decode(trained_ids(labels))
        answers = [a + ENDS[name] for _, a in turns]
        if mode == "segments":
            assert trained == "".join(answers)
        else:  # a token that straddles a prompt/answer boundary is trained whole (as in apply_chat_template)
            at = 0
            for answer in answers:
                found = trained.find(answer, at)
                assert found >= 0, (trained, answers)
                at = found + len(answer)


@PROFILE
@given(turns=TURNS, cutoff=st.integers(1, 60), mask_history=st.booleans(),
       name=st.sampled_from(["qwen", "llama3", "glm4", "generation"]))
def test_supervised_truncation_bounds_and_label_rule(turns, cutoff, mask_history, name):
    template, tok = TEMPLATES[name]
    proc = SupervisedPreprocessor(template=template, tokenizer=tok, accounting=True,
                                  config=PreprocessConfig(cutoff_len=cutoff, mask_history=mask_history))
    out = proc(columnar([sft(turns)]))
    ids, labels, drop = out["input_ids"][0], out["labels"][0], out["_drop"][0]
    eos = tok.eos_token_id if template.efficient_eos else None
    if drop is None:
        assert len(ids) <= cutoff
        check_labels(ids, labels, eos)
        assert out["_trained"][0] > 0
    else:
        assert ids == [] and out["_trained"][0] == 0


@PROFILE
@given(turns=TURNS)
def test_supervised_train_on_prompt_trains_everything(turns):
    template, tok = TEMPLATES["qwen"]
    proc = SupervisedPreprocessor(template=template, tokenizer=tok, accounting=True,
                                  config=PreprocessConfig(train_on_prompt=True))
    out = proc(columnar([sft(turns)]))
    assert out["labels"][0] == out["input_ids"][0]


@PROFILE
@given(prompt=TURNS, question=CONTENT, chosen=CONTENT, rejected=CONTENT, cutoff=st.integers(8, 200),
       name=st.sampled_from(["qwen", "llama3"]))
def test_pairwise_properties(prompt, question, chosen, rejected, cutoff, name):
    template, tok = TEMPLATES[name]
    messages = sft(prompt)["messages"] + [msg("user", question)]
    row = {"messages": messages, "chosen": msg("assistant", chosen), "rejected": msg("assistant", rejected),
           "tools": None, "_row": 1}
    full = PairwisePreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(cutoff_len=100_000),
                                accounting=True)(columnar([row]))
    for side, text in (("chosen", chosen), ("rejected", rejected)):
        check_labels(full[f"{side}_input_ids"][0], full[f"{side}_labels"][0])
        assert tok.decode(trained_ids(full[f"{side}_labels"][0])) == text + ENDS[name]
    cut = PairwisePreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(cutoff_len=cutoff),
                               accounting=True)(columnar([row]))
    if cut["_drop"][0] is None:
        for side in ("chosen", "rejected"):
            assert len(cut[f"{side}_input_ids"][0]) <= cutoff
            check_labels(cut[f"{side}_input_ids"][0], cut[f"{side}_labels"][0])
        # one prompt, shared by both rows
        n = cut["chosen_labels"][0].count(-100)
        assert cut["chosen_input_ids"][0][:n] == cut["rejected_input_ids"][0][:n]


@PROFILE
@given(rows=st.lists(st.tuples(TURNS, st.booleans()), min_size=1, max_size=4), cutoff=st.integers(8, 100_000))
def test_kto_properties(rows, cutoff):
    template, tok = TEMPLATES["qwen"]
    batch = [{**sft(turns, row=i), "label": label} for i, (turns, label) in enumerate(rows)]
    out = KTOPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(cutoff_len=cutoff),
                          accounting=True)(columnar(batch))
    answers = [turns[-1][1] + "<|im_end|>\n" for turns, _ in rows]
    for i in range(len(rows)):
        if out["_drop"][i] is not None:
            continue
        for prefix in ("", "kl_"):
            assert len(out[f"{prefix}input_ids"][i]) <= cutoff
            check_labels(out[f"{prefix}input_ids"][i], out[f"{prefix}labels"][i])
        if cutoff == 100_000 or cutoff > 2 * len(out["input_ids"][i]):
            assert tok.decode(trained_ids(out["labels"][i])) == answers[i]
            assert tok.decode(trained_ids(out["kl_labels"][i])) == answers[i - 1]
        assert out["kto_tags"][i] == rows[i][1]


@PROFILE
@given(turns=TURNS, cutoff=st.integers(1, 200))
def test_unsupervised_properties(turns, cutoff):
    template, tok = TEMPLATES["qwen"]
    out = UnsupervisedPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(cutoff_len=cutoff),
                                   accounting=True)(columnar([sft(turns)]))
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert len(ids) <= cutoff and len(labels) <= cutoff
    reference = tok.encode(turns[-1][1] + "<|im_end|>\n", add_special_tokens=False)
    assert labels == reference[: len(labels)]


@PROFILE
@given(docs=st.lists(CONTENT, min_size=1, max_size=8), cutoff=st.integers(1, 30), packing=st.booleans())
def test_pretrain_properties(docs, cutoff, packing):
    _, tok = TEMPLATES["qwen"]
    proc = PretrainPreprocessor(template=None, tokenizer=tok, accounting=True,
                                config=PreprocessConfig(cutoff_len=cutoff, packing=packing))
    out = proc(columnar([{"text": d, "_row": i} for i, d in enumerate(docs)]))
    encoded = [tok.encode(d + tok.eos_token, add_special_tokens=False) for d in docs]
    if packing:
        assert out["input_ids"] == encoded  # blocks are cut afterwards, from these
    else:
        assert out["input_ids"] == [e[:cutoff] for e in encoded]
        assert all(len(x) <= cutoff for x in out["input_ids"])


@PROFILE
@given(rows=st.lists(st.lists(st.integers(3, 300), min_size=1, max_size=40), min_size=1, max_size=30),
       capacity=st.integers(40, 200), neat=st.booleans())
def test_packing_keeps_every_token_once(rows, capacity, neat):
    rows = [r[:capacity] for r in rows]
    labels = [[-100] + r[1:] for r in rows]
    stats: dict = {}
    packer = WindowPacker(capacity=capacity, length=capacity + 1, pad_id=0, neat=neat, media=False, stats=stats)
    out = packer({"input_ids": rows, "labels": labels})
    got: Counter = Counter()
    for ids, lab, pos in zip(out["input_ids"], out["labels"], out["position_ids"], strict=False):
        assert len(ids) == capacity + 1
        starts = [i for i, p in enumerate(pos) if p == 0]
        for a, b in zip(starts, starts[1:] + [len(pos)], strict=False):
            if ids[a] == 0:  # padding (real rows here never start with id 0)
                continue
            got[(tuple(ids[a:b]), tuple(lab[a:b]))] += 1
    assert got == Counter(zip(map(tuple, rows), map(tuple, labels), strict=False))
    assert stats["packs"] == len(out["input_ids"])


def test_templates_render_with_the_tiny_tokenizer():
    """Guard for the properties above: every template they use renders and trains something."""
    for name, (template, tok) in TEMPLATES.items():
        proc = SupervisedPreprocessor(template=template, tokenizer=tok, config=PreprocessConfig(), accounting=True)
        out = proc(columnar([sft([("q", "a")])]))
        assert out["_drop"] == [None], name


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
