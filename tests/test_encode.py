"""The tokenization engine: the fast paths give exactly the ids of naive per-piece encoding."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_paths import shared_tokenizer

from templates_hub.errors import TokenizerError
from templates_hub.preprocess.encode import TokenizerEngine, encode_pieces, profile_tokenizer
from templates_hub.templates.base import Piece

SPECIALS = ["<|im_start|>", "<|im_end|>", "</s>", "<s>", "<|eot_id|>", "<think>", "[INST]"]
ALPHABET = st.sampled_from(list("abcXYZ019 .,!?'\n\t_-") + ["é", "e\u0301", "\u0301", "数", "😀", "  ", "\n\n", "'s"])
TEXT = st.lists(st.one_of(ALPHABET, st.sampled_from(SPECIALS)), max_size=24).map("".join)
PIECE = st.one_of(
    TEXT.map(lambda t: Piece(t)),
    st.sampled_from(SPECIALS).map(lambda t: Piece(t, special=True)),
)
ROWS = st.lists(st.lists(PIECE, max_size=6), min_size=1, max_size=4)


def naive(tokenizer, pieces):
    """LLaMA-Factory's per-element encoding, one call per piece."""
    ids = []
    for p in pieces:
        ids += [tokenizer.convert_tokens_to_ids(p.text)] if p.special else tokenizer.encode(p.text, add_special_tokens=False)
    return ids


@pytest.fixture(scope="module")
def metaspace_tokenizer():
    """An offline SentencePiece-style tokenizer whose prefix space depends on the position."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from templates_hub.tiny import _DEFAULT_CORPUS

    tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=600, show_progress=False, special_tokens=["<unk>", *SPECIALS],
                                  initial_alphabet=[f"<0x{i:02X}>" for i in range(256)])
    tk.train_from_iterator(list(_DEFAULT_CORPUS), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   additional_special_tokens=[t for t in SPECIALS if t not in ("<s>", "</s>")])


def test_profile_byte_level_is_split_exact(tiny_tokenizer):
    profile = profile_tokenizer(tiny_tokenizer)
    assert profile.backend and profile.split_exact, profile.reason
    assert profile.sep in profile.added


def test_profile_metaspace_first_falls_back(metaspace_tokenizer):
    profile = profile_tokenizer(metaspace_tokenizer)
    assert not profile.split_exact
    assert "prepend_scheme" in profile.reason
    # and the reason is real: a piece alone differs from the same text after an added token
    alone = metaspace_tokenizer.encode("Hello", add_special_tokens=False)
    after = metaspace_tokenizer.encode("<s>Hello", add_special_tokens=False)[1:]
    assert alone != after


def test_profile_disabled_on_request(tiny_tokenizer):
    assert not profile_tokenizer(tiny_tokenizer, allow_split=False).split_exact


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_split_path_equals_naive(tiny_tokenizer, rows):
    engine = TokenizerEngine(tiny_tokenizer)
    assert engine.profile.split_exact
    for _ in range(2):  # the second pass is served partly from the caches
        got = engine.encode_pieces(rows)
        for row, enc in zip(rows, got, strict=False):
            assert enc.ids == naive(tiny_tokenizer, row)
            assert len(enc.bounds) == len(row) + 1
            for k, p in enumerate(row):
                assert enc.piece_ids(k) == naive(tiny_tokenizer, [p])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_exact_path_equals_naive(metaspace_tokenizer, tiny_tokenizer, rows):
    for tok, fast in ((metaspace_tokenizer, True), (tiny_tokenizer, False)):
        engine = TokenizerEngine(tok, fast=fast)
        assert not engine.profile.split_exact
        for row, enc in zip(rows, engine.encode_pieces(rows), strict=False):
            assert enc.ids == naive(tok, row)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_whole_mode_equals_encoding_the_text(tiny_tokenizer, metaspace_tokenizer, rows):
    for tok in (tiny_tokenizer, metaspace_tokenizer):
        engine = TokenizerEngine(tok)
        for row, enc in zip(rows, engine.encode_pieces(rows, "whole"), strict=False):
            text = "".join(p.text for p in row)
            assert enc.ids == tok.encode(text, add_special_tokens=False)
            assert enc.bounds[0] == 0 and enc.bounds[-1] == len(enc.ids)
            assert enc.bounds == sorted(enc.bounds)


@pytest.fixture(scope="module")
def nfc_tokenizer():
    """The tiny tokenizer with an NFC normalizer, as Qwen's tokenizers have."""
    from tokenizers import normalizers

    from templates_hub.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    tok.backend_tokenizer.normalizer = normalizers.NFC()
    return tok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_ascii_text_skips_the_unicode_normalizer_exactly(nfc_tokenizer, rows):
    engine = TokenizerEngine(nfc_tokenizer)
    assert engine.profile.ascii_unnormalized and engine.profile.split_exact
    for row, enc in zip(rows, engine.encode_pieces(rows), strict=True):
        assert enc.ids == naive(nfc_tokenizer, row)
    engine.encode_pieces([[Piece("plain ascii text")]])
    assert engine._ascii_ok is True  # the skip was verified and used
    assert nfc_tokenizer.backend_tokenizer.normalizer is not None  # restored after every call


def test_normalizer_is_restored_when_encoding_fails(nfc_tokenizer):
    backend = nfc_tokenizer.backend_tokenizer
    with pytest.raises(TypeError):
        TokenizerEngine._without_normalizer(backend, ["fine", None])  # type: ignore[list-item]
    assert backend.normalizer is not None
    assert nfc_tokenizer.encode("e\u0301", add_special_tokens=False) == nfc_tokenizer.encode("é", add_special_tokens=False)


def _variant(name):
    """Tokenizers whose configuration touches each rule of the split / ASCII tiers (see profile_tokenizer)."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from templates_hub.tiny import _DEFAULT_CORPUS

    pre = {"metaspace_always": pre_tokenizers.Metaspace(prepend_scheme="always"),
           "prefix_space": pre_tokenizers.ByteLevel(add_prefix_space=True)}.get(
        name, pre_tokenizers.ByteLevel(add_prefix_space=False))
    norm = {"nfkc": normalizers.NFKC(), "nfkc_lowercase": normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
            "normalized_added": normalizers.NFKC()}.get(name)
    tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tk.pre_tokenizer = pre
    if norm is not None:
        tk.normalizer = norm
    trainer = trainers.BpeTrainer(vocab_size=600, show_progress=False, special_tokens=["<unk>", *SPECIALS],
                                  initial_alphabet=[f"<0x{i:02X}>" for i in range(256)] + pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(list(_DEFAULT_CORPUS), trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                  additional_special_tokens=[t for t in SPECIALS if t not in ("<s>", "</s>")])
    if name == "stripping_added":
        tok.add_tokens([AddedToken("<mask>", lstrip=True, rstrip=True)])
    if name == "normalized_added":
        tok.add_tokens([AddedToken("hello", normalized=True), AddedToken("ﬁ", normalized=False)])
    if name == "plain_words_added":
        tok.add_tokens(["ab", "the"])
    return tok


# (variant, split tier expected, ASCII text skips the normalizer)
VARIANTS = [("prefix_space", True, False), ("metaspace_always", True, False), ("nfkc", True, True),
            ("nfkc_lowercase", True, False), ("stripping_added", False, False), ("normalized_added", False, True),
            ("plain_words_added", True, False)]
RISKY = st.sampled_from(list("abX9 .,'\n") + ["ＡＢ", "ﬁ", "ﬁne", "hello", "HELLO", "<mask>", " <mask> ", "the", "ab", "é",
                                                "e\u0301", "数", "😀", "\n\n"])
RISKY_ROWS = st.lists(st.lists(st.one_of(
    st.lists(st.one_of(RISKY, st.sampled_from(SPECIALS)), max_size=12).map(lambda p: Piece("".join(p))),
    st.sampled_from(SPECIALS).map(lambda t: Piece(t, special=True))), max_size=5), min_size=1, max_size=3)


@pytest.mark.parametrize(("name", "split", "ascii_skip"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_tokenizer_variants_get_the_right_tier_and_exact_ids(name, split, ascii_skip):
    """Prefix spaces, NFKC (full-width letters, ligatures), added tokens that strip whitespace or match after
    normalization, plain words added as tokens: each tier is taken only where it is exact."""
    tok = _variant(name)
    engine = TokenizerEngine(tok)
    assert (engine.profile.split_exact, engine.profile.ascii_unnormalized) == (split, ascii_skip), engine.profile.reason

    @settings(max_examples=40, deadline=None)
    @given(RISKY_ROWS)
    def check(rows):
        for _ in range(2):  # the second pass is served partly from the caches
            for row, enc in zip(rows, engine.encode_pieces(rows), strict=True):
                assert enc.ids == naive(tok, row)
        normalizer = tok.backend_tokenizer.normalizer
        assert (normalizer is None) == (name not in ("nfkc", "nfkc_lowercase", "normalized_added"))

    check()


def test_whole_mode_attributes_tokens_to_pieces(tiny_tokenizer):
    pieces = [Piece("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"), Piece("Hello there", trainable=True),
              Piece("<|im_end|>\n")]
    enc = TokenizerEngine(tiny_tokenizer).encode_pieces([pieces], "whole")[0]
    decoded = [tiny_tokenizer.decode(enc.piece_ids(k)) for k in range(3)]
    assert decoded == [p.text for p in pieces]


@pytest.mark.parametrize("name", ["qwen2.5", "gpt2", "llama-2", "mistral-7b-v0.1"])
def test_real_tokenizers_match_naive(name):
    tok = shared_tokenizer(name)
    profile = profile_tokenizer(tok)
    if name in ("llama-2", "mistral-7b-v0.1"):
        assert not profile.split_exact  # SentencePiece prefix space: exact tier only
    else:
        assert profile.split_exact, profile.reason
    vocab = tok.get_vocab()
    specials = [t for t in ("<|im_start|>", "<|im_end|>", "<|eot_id|>", "<|start_header_id|>", "<s>", "</s>",
                            "<|endoftext|>") if t in vocab]
    engine = TokenizerEngine(tok)

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.lists(st.one_of(
        st.lists(st.one_of(ALPHABET, st.sampled_from(specials + ["[/INST]", " [INST] "])), max_size=20).map(
            lambda parts: Piece("".join(parts))),
        st.sampled_from(specials).map(lambda t: Piece(t, special=True))), max_size=6), min_size=1, max_size=3))
    def check(rows):
        for row, enc in zip(rows, engine.encode_pieces(rows), strict=False):
            assert enc.ids == naive(tok, row)
        for row, enc in zip(rows, engine.encode_pieces(rows, "whole"), strict=False):
            assert enc.ids == tok.encode("".join(p.text for p in row), add_special_tokens=False)

    check()


def test_engine_pickles_without_its_caches(tiny_tokenizer):
    engine = TokenizerEngine(tiny_tokenizer)
    rows = [[Piece("<|im_start|>system\nYou are helpful.<|im_end|>\n")]] * 3
    engine.encode_pieces(rows)
    engine.encode_pieces(rows)
    assert engine._pieces.data
    clone = pickle.loads(pickle.dumps(engine))
    assert not clone._pieces.data and clone.profile == engine.profile
    assert [r.ids for r in clone.encode_pieces(rows)] == [r.ids for r in engine.encode_pieces(rows)]


def test_unknown_special_token_is_a_clear_error(tiny_tokenizer):
    with pytest.raises(TokenizerError, match="does not have"):
        encode_pieces([[Piece("<|not_a_token|>", special=True)]], tiny_tokenizer)


def test_encode_texts_is_one_batched_call(tiny_tokenizer, monkeypatch):
    engine = TokenizerEngine(tiny_tokenizer)
    calls = []
    original = engine.encode_texts

    def counting(texts):
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(engine, "encode_texts", counting)
    rows = [[Piece(f"<|im_start|>user\nquestion {i}<|im_end|>\n"), Piece(f"answer {i}", trainable=True)]
            for i in range(50)]
    engine.encode_pieces(rows)
    assert len(calls) == 1 and calls[0] <= 50
