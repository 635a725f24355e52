"""Small, offline tokenizers and models for tests, demos and plugin conformance checks.

Real tokenizers and models come from the Hugging Face hub, which tests and the offline demo cannot
reach. ``build_tiny_tokenizer`` trains a byte-level BPE tokenizer in milliseconds, with the special
tokens of the major chat-template families registered as single tokens, so every built-in template
can be rendered and tokenized without a download. ``tiny_model`` builds a randomly initialised
Llama-architecture causal LM small enough to train a few steps on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

#: Special tokens of the template families templates-hub ships; each becomes one token.
CHAT_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<s>", "</s>", "<unk>",
    "<|im_start|>", "<|im_end|>", "<|im_sep|>",
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>",
    "<|python_tag|>",
    "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",
    "<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "<|observation|>", "[gMASK]", "<sop>",
    "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]",
    "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
    "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
    "<BOS_TOKEN>", "<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>",
    "<|SYSTEM_TOKEN|>", "<reserved_106>", "<reserved_107>",
)

_DEFAULT_CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step.",
    "Give three tips for staying healthy. Eat a balanced diet, exercise regularly and sleep well.",
    "Translate the following sentence into French: I like reading books in the evening.",
    "What is the capital of France? The capital of France is Paris, a city on the Seine.",
    "Write a short poem about the sea, the wind and the stars above the harbour at night.",
    "Explain why the sky is blue. Sunlight is scattered by molecules in the atmosphere (Rayleigh scattering).",
    "You are a helpful assistant. Answer the user's question as accurately and concisely as you can.",
    "Calculate 12 * 7 + 3 = 87. Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14 -42 2024-05-01.",
    'Tool call: {"name": "get_weather", "arguments": {"city": "Berlin", "unit": "celsius"}}',
    '{"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": {}}}',
    "System: Human: Assistant: User: ### Instruction: ### Response: USER: ASSISTANT: Question: Answer:",
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "Hello! How can I help you today? Thanks, that was very useful. Goodbye and have a nice day.",
    "请用中文回答：今天天气怎么样？今天是晴天，气温二十度。机器学习是人工智能的一个分支。",
    "日本語のテキストも少し含めます。こんにちは、世界。Emoji: 😀 🚀 ✨ Café naïve résumé — “quotes”.",
    "user assistant system tool model function observation ipython thinking reasoning",
)


def _corpus(texts: Iterable[str] | None) -> list[str]:
    base = list(_DEFAULT_CORPUS)
    if texts is not None:
        base.extend(texts)
    return base


def build_tiny_tokenizer(
    texts: Iterable[str] | None = None,
    *,
    vocab_size: int = 1024,
    special_tokens: Iterable[str] = CHAT_SPECIAL_TOKENS,
    bos_token: str | None = "<s>",
    eos_token: str = "</s>",
    pad_token: str | None = "<|endoftext|>",
    chat_template: str | None = None,
) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` (plus a small built-in corpus) and wrap it.

    Every string in ``special_tokens`` becomes one special token. The result is a
    ``transformers.PreTrainedTokenizerFast`` with fast offsets, able to encode any Unicode text through
    its byte alphabet. Training is deterministic for the same inputs.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys(special_tokens))
    for tok in (bos_token, eos_token, pad_token):
        if tok is not None and tok not in specials:
            specials.append(tok)
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(_corpus(texts), trainer)
    extra = [t for t in specials if t not in (bos_token, eos_token, pad_token)]
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token=bos_token,
        eos_token=eos_token,
        pad_token=pad_token,
        additional_special_tokens=extra,
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
    )


@lru_cache(maxsize=4)
def tiny_tokenizer_dir(cache_root: str | None = None) -> str:
    """Build the default tiny tokenizer once per process and save it; return its directory."""
    import tempfile

    root = Path(cache_root) if cache_root else Path(tempfile.mkdtemp(prefix="templates_hub_tiny_tok_"))
    build_tiny_tokenizer().save_pretrained(root)
    return str(root)


#: A Llama-architecture configuration small enough to train on a CPU in seconds.
TINY_MODEL_CONFIG: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 2048,
}


def tiny_model(tokenizer: Any, seed: int = 0, **overrides: Any) -> Any:
    """A randomly initialised causal LM sized to ``tokenizer`` (vocabulary, pad/bos/eos ids)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    params = {k: v for k, v in TINY_MODEL_CONFIG.items() if k != "model_type"} | overrides
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        **params,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)
