"""The ``final_turn`` preprocessor's rules, through its batch function."""

from __future__ import annotations

import pytest

pytest.importorskip("templates_hub_example_templates")

from templates_hub_example_templates import FinalTurnPreprocessor  # noqa: E402

from templates_hub.errors import TemplatesHubError  # noqa: E402
from templates_hub.preprocess import PreprocessConfig  # noqa: E402
from templates_hub.templates import get_template  # noqa: E402
from templates_hub.testing import tokenizer_for  # noqa: E402


def msg(role, content, train=None):
    return {"role": role, "content": content, "tool_calls": None, "reasoning": None, "train": train}


CONVERSATION = [msg("system", "Be brief."), msg("user", "Hi"), msg("assistant", "Hello!"),
                msg("user", "What is 2 + 2?"), msg("assistant", "4.")]


def build(example, template="acme", **settings):
    tmpl = get_template(template)
    tok = tokenizer_for(tmpl)
    params = settings.pop("params", {})
    config = PreprocessConfig(preprocessor="final_turn", params=params, media_columns=False, **settings)
    return FinalTurnPreprocessor(template=tmpl, tokenizer=tok, config=config, accounting=True), tok


def run(proc, *conversations):
    batch = {"messages": list(conversations), "tools": [None] * len(conversations),
             "_row": list(range(1, len(conversations) + 1))}
    return proc(batch)


def trained_text(tok, out, i=0):
    return tok.decode([t for t, label in zip(out["input_ids"][i], out["labels"][i], strict=True) if label != -100])


def test_only_the_final_answer_is_trained_by_default(example):
    proc, tok = build(example)
    out = run(proc, CONVERSATION)
    assert trained_text(tok, out) == "4.<|end|>\n"
    assert set(out["loss_weights"][0]) == {0.0, 1.0} and out["_drop"] == [None]


def test_history_weight_trains_earlier_answers_with_their_weight(example):
    proc, tok = build(example, params={"history_weight": 0.5, "final_weight": 2.0, "weights_column": "w"})
    out = run(proc, CONVERSATION)
    assert trained_text(tok, out) == "Hello!<|end|>\n4.<|end|>\n"
    weights = {w for w in out["w"][0] if w}
    assert weights == {0.5, 2.0} and "loss_weights" not in out


def test_train_flags_override_the_weights(example):
    proc, tok = build(example)
    flagged = [*CONVERSATION[:2], msg("assistant", "Hello!", train=True), *CONVERSATION[3:4],
               msg("assistant", "4.", train=False)]
    out = run(proc, flagged)
    assert trained_text(tok, out) == "Hello!<|end|>\n"  # train: true beats history_weight 0
    only_masked = [*CONVERSATION[:4], msg("assistant", "4.", train=False)]
    out = run(proc, only_masked)
    assert out["input_ids"] == [[]] and "no trained tokens" in out["_drop"][0]


def test_truncation_keeps_the_final_answer_and_cuts_the_oldest_tokens(example):
    proc, tok = build(example, cutoff_len=24)
    long_history = [msg("user", "Tell me a long story. " * 20), msg("assistant", "Once upon a time. " * 20),
                    msg("user", "Shorter please?"), msg("assistant", "The end.")]
    out = run(proc, long_history)
    ids = out["input_ids"][0]
    assert len(ids) == 24
    assert trained_text(tok, out) == "The end.<|end|>\n"
    assert tok.decode(ids).endswith("Shorter please?<|end|>\n[assistant]\nThe end.<|end|>\n")
    assert ids[0] != tok.bos_token_id  # the oldest tokens went first


def test_settings_it_cannot_honour_are_refused(example):
    with pytest.raises(TemplatesHubError, match="does not pack rows"):
        build(example, packing=True)
    with pytest.raises(TemplatesHubError, match="efficient_eos"):
        build(example, template="glm4")
    with pytest.raises(TemplatesHubError, match=r"preprocess.params.final_weight: Input should be greater than 0"):
        build(example, params={"final_weight": 0})
