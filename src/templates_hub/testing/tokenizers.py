"""The tokenizer conformance checks use when the caller does not give one.

The tiny offline tokenizer (``templates_hub.tiny``) already knows the special tokens of every major
template family. A plugin template may write tokens of its own (``{token: "<|acme|>"}`` elements, stop
words); those are added here as single special tokens, exactly as a model's tokenizer would have them,
so the checks exercise the template and not the tokenizer's ignorance of it. Building the tokenizer
trains a small BPE model, so each distinct set of extra tokens is built once per process and copied.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def _tiny(extra: tuple[str, ...]) -> Any:
    from ..tiny import CHAT_SPECIAL_TOKENS, build_tiny_tokenizer

    return build_tiny_tokenizer(special_tokens=(*CHAT_SPECIAL_TOKENS, *extra))


def template_special_tokens(template: Any) -> tuple[str, ...]:
    """Tokens a template writes as single tokens: slot ``Token`` elements and stop words, in order."""
    from ..templates.slot import Token

    found: list[str] = []
    for slot_name in ("prefix", "system", "user", "assistant", "function", "observation", "suffix"):
        for element in getattr(template, slot_name, None) or ():
            if isinstance(element, Token):
                found.append(element.token)
    found += [str(t) for t in (getattr(template, "stop_words", None) or ())]
    return tuple(dict.fromkeys(found))


def tiny_tokenizer(extra_special_tokens: tuple[str, ...] | list[str] = ()) -> Any:
    """A fresh copy of the tiny tokenizer with ``extra_special_tokens`` added (callers may modify it)."""
    from ..tiny import CHAT_SPECIAL_TOKENS

    extra = tuple(t for t in dict.fromkeys(extra_special_tokens) if t not in CHAT_SPECIAL_TOKENS)
    return copy.deepcopy(_tiny(extra))


def tokenizer_for(template: Any, tokenizer: Any = None) -> Any:
    """A copy of ``tokenizer`` (default: the tiny one, with the template's own tokens) after the template's
    special-token rules were applied (``fix_tokenizer``: eos, pad and stop words), as training does."""
    from ..templates import fix_tokenizer

    if tokenizer is None:
        tok = tiny_tokenizer(template_special_tokens(template) if template is not None else ())
    else:
        from ..tokenizer import load_tokenizer

        tok = copy.deepcopy(load_tokenizer(tokenizer))
    if template is not None:
        fix_tokenizer(tok, template)
    return tok
