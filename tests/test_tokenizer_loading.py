"""load_tokenizer: local dirs, hub ids, 'tiny', and clear TokenizerErrors."""

from __future__ import annotations

import pytest

from templates_hub import tokenizer as tokenizer_module
from templates_hub.errors import TokenizerError
from templates_hub.tokenizer import load_tokenizer


def test_tiny_builds_the_offline_tokenizer():
    tok = load_tokenizer("tiny")
    assert tok.eos_token == "</s>" and tok.convert_tokens_to_ids("<|im_start|>") != tok.unk_token_id


def test_a_local_directory(tiny_tokenizer_dir):
    tok = load_tokenizer(tiny_tokenizer_dir)
    assert tok.encode("<|im_end|>", add_special_tokens=False) == [tok.convert_tokens_to_ids("<|im_end|>")]
    assert tok.eos_token == "</s>"


def test_a_tokenizer_object_passes_through(tiny_tokenizer):
    assert load_tokenizer(tiny_tokenizer) is tiny_tokenizer
    with pytest.raises(TokenizerError, match="not a tokenizer"):
        load_tokenizer(3.14)  # type: ignore[arg-type]


def test_missing_paths_and_empty_directories(tmp_path):
    with pytest.raises(TokenizerError, match="no such directory"):
        load_tokenizer(str(tmp_path / "nope"))
    file = tmp_path / "tokenizer.json"
    file.write_text("{}")
    with pytest.raises(TokenizerError, match="expected a directory"):
        load_tokenizer(file)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TokenizerError, match="no tokenizer files"):
        load_tokenizer(empty)


def test_unreachable_hub_id_is_explained(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TokenizerError, match="HF_HUB_OFFLINE is set"):
        load_tokenizer("some-org/some-model-that-is-not-cached")


def test_missing_sentencepiece_is_named(monkeypatch, tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(b"\x00")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "LlamaTokenizer"}')

    def fake_from_pretrained(*args, **kwargs):
        raise ValueError("tiktoken is required to read a tiktoken file. Install it with `pip install tiktoken`.")

    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_from_pretrained)
    monkeypatch.setattr(tokenizer_module, "_missing", lambda module: module == "sentencepiece")
    with pytest.raises(TokenizerError, match="needs sentencepiece.*tokenizers-extra"):
        load_tokenizer(tmp_path)


@pytest.mark.shared
@pytest.mark.parametrize("name, eos", [("qwen2.5", "<|im_end|>"), ("llama-2", "</s>")])
def test_shared_tokenizers_load(shared_dir, name, eos):
    path = shared_dir / "tokenizers" / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    try:
        tok = load_tokenizer(path)
    except TokenizerError as exc:  # an optional library is missing: the message must say which
        assert "sentencepiece" in str(exc) or "tiktoken" in str(exc)
        pytest.skip(str(exc))
    assert tok.eos_token == eos
