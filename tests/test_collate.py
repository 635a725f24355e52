"""Collators: padding, batch layouts, and no attention across packed sub-sequences (tiny Llama)."""

from __future__ import annotations

import pytest

from templates_hub.collate import (
    KTOCollator,
    PackedCollator,
    PairwiseCollator,
    PretrainCollator,
    SupervisedCollator,
    block_diagonal_mask,
    collator_for,
    segment_ids,
)
from templates_hub.errors import UsageError
from templates_hub.preprocess.packing import build_pack

torch = pytest.importorskip("torch")


def test_supervised_right_padding_to_multiple(tiny_tokenizer):
    collate = collator_for("sft", tiny_tokenizer, pad_to_multiple_of=8)
    assert isinstance(collate, SupervisedCollator)
    batch = collate([
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
        {"input_ids": [8] * 10, "attention_mask": [1] * 10, "labels": [8] * 10, "images": None},
    ])
    pad = tiny_tokenizer.pad_token_id
    assert batch["input_ids"].shape == (2, 16) and batch["input_ids"].dtype == torch.long
    assert batch["input_ids"][0].tolist() == [5, 6, 7] + [pad] * 13
    assert batch["attention_mask"][0].tolist() == [1, 1, 1] + [0] * 13
    assert batch["labels"][0].tolist() == [-100, 6, 7] + [-100] * 13
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    exact = collator_for("sft", tiny_tokenizer, pad_to_multiple_of=None)([{"input_ids": [1, 2], "labels": [1, 2]}])
    assert exact["input_ids"].shape == (1, 2)


def test_unsupervised_pads_left_for_generation(tiny_tokenizer):
    batch = collator_for("unsupervised", tiny_tokenizer, pad_to_multiple_of=None)(
        [{"input_ids": [5, 6], "attention_mask": [1, 1], "labels": [9]}, {"input_ids": [7], "attention_mask": [1],
                                                                         "labels": [9, 9, 9]}])
    pad = tiny_tokenizer.pad_token_id
    assert batch["input_ids"].tolist() == [[pad, 5, 6], [pad, pad, 7]]
    assert batch["labels"].tolist() == [[-100, -100, 9], [9, 9, 9]]


def test_pairwise_puts_all_chosen_first(tiny_tokenizer):
    collate = collator_for("dpo", tiny_tokenizer, pad_to_multiple_of=None)
    assert isinstance(collate, PairwiseCollator)
    rows = [{"chosen_input_ids": [1, 2, 10 + i], "chosen_attention_mask": [1, 1, 1], "chosen_labels": [-100, -100, 10 + i],
             "rejected_input_ids": [1, 2, 20 + i, 21], "rejected_attention_mask": [1] * 4,
             "rejected_labels": [-100, -100, 20 + i, 21]} for i in range(2)]
    batch = collate(rows)
    assert batch["input_ids"].shape == (4, 4)
    assert [row[2] for row in batch["input_ids"].tolist()] == [10, 11, 20, 21]


def test_kto_carries_kl_rows_and_tags(tiny_tokenizer):
    collate = collator_for("kto", tiny_tokenizer, pad_to_multiple_of=None)
    assert isinstance(collate, KTOCollator)
    rows = [{"input_ids": [1, 2], "attention_mask": [1, 1], "labels": [-100, 2], "kl_input_ids": [1, 3, 4],
             "kl_attention_mask": [1, 1, 1], "kl_labels": [-100, 3, 4], "kto_tags": tag} for tag in (True, False)]
    batch = collate(rows)
    assert batch["kl_input_ids"].shape == (2, 3) and batch["input_ids"].shape == (2, 2)
    assert batch["kto_tags"].tolist() == [True, False]


def test_pretrain_labels_mask_only_padding(tiny_tokenizer):
    tok = tiny_tokenizer
    collate = collator_for("pt", tok, pad_to_multiple_of=4)
    assert isinstance(collate, PretrainCollator)
    eos = tok.eos_token_id
    batch = collate([{"input_ids": [5, eos, 6], "attention_mask": [1, 1, 1]}, {"input_ids": [7], "attention_mask": [1]}])
    assert batch["labels"][0].tolist() == [5, eos, 6, -100]
    assert batch["labels"][1].tolist() == [7, -100, -100, -100]


def test_unknown_stage_and_bad_packing(tiny_tokenizer):
    with pytest.raises(UsageError, match="unknown training stage"):
        collator_for("nope", tiny_tokenizer)
    with pytest.raises(UsageError, match="packing"):
        collator_for("kto", tiny_tokenizer, packing=True)
    with pytest.raises(UsageError, match="position_ids"):
        collator_for("sft", tiny_tokenizer, packing=True)([{"input_ids": [1], "labels": [1]}])


def test_plain_collator_refuses_packed_rows(tiny_tokenizer):
    """Padding packed rows without isolating their examples would silently let them attend to each other."""
    pack = build_pack([[1, 2, 3], [4, 5]], [[1, 2, 3], [4, 5]], length=8, pad_id=0, neat=False)
    with pytest.raises(UsageError, match="packing=True"):
        collator_for("sft", tiny_tokenizer)([pack])
    assert collator_for("sft", tiny_tokenizer, packing=True)([pack])["attention_mask"].dim() == 4


def test_segments_from_neat_ids_or_position_restarts():
    plain = build_pack([[1, 2, 3], [4, 5]], [[1, 2, 3], [4, 5]], length=7, pad_id=0, neat=False)
    neat = build_pack([[1, 2, 3], [4, 5]], [[1, 2, 3], [4, 5]], length=7, pad_id=0, neat=True)
    assert neat["attention_mask"] == [1, 1, 1, 2, 2, 0, 0]
    seg_neat = segment_ids(torch.tensor([neat["attention_mask"]]), torch.tensor([neat["position_ids"]]))
    assert seg_neat.tolist() == [[1, 1, 1, 2, 2, 0, 0]]
    seg_plain = segment_ids(torch.tensor([plain["attention_mask"]]), torch.tensor([plain["position_ids"]]))
    assert seg_plain.tolist()[0][:5] == [1, 1, 1, 2, 2]  # padding positions restart too: each its own segment
    mask = block_diagonal_mask(seg_neat)
    assert mask.shape == (1, 1, 7, 7) and mask.dtype == torch.float32
    allowed = (mask[0, 0] == 0).int().tolist()
    assert allowed[4] == [0, 0, 0, 1, 1, 0, 0]  # token 5 sees only its own example, causally
    assert allowed[2] == [1, 1, 1, 0, 0, 0, 0]
    assert allowed[6] == [0] * 7  # padding attends nowhere


SEGMENTS = [[11, 12, 13, 14, 15, 16, 17], [21, 22, 23, 24, 25, 26, 27, 28, 29], [31, 32, 33, 34, 35]]


@pytest.fixture(scope="module")
def models(tiny_tokenizer):
    from templates_hub.tiny import tiny_model

    out = {}
    for attn in ("eager", "sdpa"):
        model = tiny_model(tiny_tokenizer, seed=3)
        model.config._attn_implementation = attn
        model.eval()
        out[attn] = model
    return out


def _alone(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("neat", [False, True])
@pytest.mark.parametrize("form", ["4d", "varlen"])
def test_no_attention_across_packed_subsequences(models, tiny_tokenizer, attn, neat, form):
    model = models[attn]
    pack = build_pack(SEGMENTS, SEGMENTS, length=24, pad_id=tiny_tokenizer.pad_token_id, neat=neat)
    collate = collator_for("sft", tiny_tokenizer, packing=True, neat_packing=neat, packed_attention=form)
    assert isinstance(collate, PackedCollator)
    batch = collate([pack, pack])
    assert ("attention_mask" in batch) == (form == "4d")
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits
    start = 0
    for seg in SEGMENTS:
        alone = _alone(model, seg)
        packed = logits[1, start : start + len(seg)]
        assert torch.allclose(packed, alone, atol=1e-5), (attn, neat, form, float((packed - alone).abs().max()))
        start += len(seg)


def test_packed_row_without_isolation_does_leak(models, tiny_tokenizer):
    """The control: the same packed row with a plain mask of ones mixes the sub-sequences."""
    model = models["sdpa"]
    flat = [t for seg in SEGMENTS for t in seg]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([flat]), attention_mask=torch.ones(1, len(flat), dtype=torch.long),
                       use_cache=False).logits[0]
    second = logits[len(SEGMENTS[0]) : len(SEGMENTS[0]) + len(SEGMENTS[1])]
    assert not torch.allclose(second, _alone(model, SEGMENTS[1]), atol=1e-3)
