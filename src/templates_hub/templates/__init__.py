"""Chat templates: slot (LLaMA-Factory style), Jinja (Hugging Face style) and tokenizer templates.

``get_template(spec)`` resolves what a user wrote after ``--template``; ``fix_tokenizer`` applies a
template's special-token rules to a tokenizer exactly as LLaMA-Factory's ``fix_special_tokens`` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import TemplateError
from .base import ChatTemplate, Piece, RenderOptions, SpecialTokens, render_text
from .slot import FALLBACK_EOS, SlotTemplate

TOKENIZER_SPEC = "tokenizer"

__all__ = [
    "ChatTemplate", "Piece", "RenderOptions", "SlotTemplate", "SpecialTokens", "TOKENIZER_SPEC", "attach_chat_template",
    "fix_tokenizer", "get_template", "render_text",
]


def _looks_like_file(spec: str | os.PathLike[str]) -> bool:
    from .registry import TEMPLATE_FILE_SUFFIXES

    return isinstance(spec, os.PathLike) or Path(spec).suffix in TEMPLATE_FILE_SUFFIXES


def get_template(spec: str | os.PathLike[str] | ChatTemplate, *, tokenizer: Any = None) -> ChatTemplate:
    """The template named by ``spec``.

    - a template object is returned as is;
    - ``"tokenizer"``: the tokenizer's own ``chat_template`` (needs ``tokenizer``);
    - a path to a ``.yaml`` / ``.yml`` declaration or a ``.jinja`` file;
    - otherwise a registered name (``templates-hub list templates``), built-in or from a plugin.
    """
    if not isinstance(spec, (str, os.PathLike)):
        if callable(getattr(spec, "render", None)):
            return spec
        raise TemplateError(f"not a template: {spec!r}")
    if isinstance(spec, str) and spec == TOKENIZER_SPEC:
        if tokenizer is None:
            raise TemplateError("--template tokenizer needs a tokenizer (pass --tokenizer DIR)")
        from .jinja_template import JinjaTemplate

        return JinjaTemplate.from_tokenizer(tokenizer)
    if _looks_like_file(spec):
        from .spec import load_template_file

        return load_template_file(spec)
    from ..plugins import get_registry

    return get_registry("templates").get(str(spec))


def _set_eos(tokenizer: Any, eos: str) -> None:
    if tokenizer.eos_token == eos:
        return
    tokenizer.add_special_tokens({"eos_token": eos})


def fix_tokenizer(tokenizer: Any, template: ChatTemplate) -> list[str]:
    """Apply LLaMA-Factory's ``fix_special_tokens`` to ``tokenizer`` (in place); return the tokens added.

    - ``replace_eos`` templates: eos := the first stop word (added as a special token when unknown);
    - a tokenizer without eos gets ``<|endoftext|>``;
    - pad := eos when the tokenizer has no pad token;
    - the remaining stop words are added as extra special tokens (existing extras are kept).

    The returned list names the tokens that were new to the vocabulary: a model trained with this
    tokenizer needs its embeddings resized when it is not empty.
    """
    before = set(tokenizer.get_vocab())
    stop_words = list(getattr(template, "stop_words", ()) or ())
    if getattr(template, "replace_eos", False):
        if not stop_words:
            raise TemplateError(f"template {template.name!r}: replace_eos needs stop words")
        _set_eos(tokenizer, stop_words[0])
        stop_words = stop_words[1:]
    if tokenizer.eos_token_id is None:
        _set_eos(tokenizer, FALLBACK_EOS)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if stop_words:
        extras = {"additional_special_tokens": stop_words}
        try:
            tokenizer.add_special_tokens(extras, replace_extra_special_tokens=False)
        except TypeError:  # transformers 4.x names the keyword differently
            tokenizer.add_special_tokens(extras, replace_additional_special_tokens=False)
    vocab = tokenizer.get_vocab()
    return sorted((t for t in vocab if t not in before), key=lambda t: vocab[t])


def attach_chat_template(tokenizer: Any, template: ChatTemplate, *, force: bool = False) -> bool:
    """Give ``tokenizer`` the template's Jinja form, as LLaMA-Factory's ``fix_jinja_template`` does.

    It is set when the tokenizer has no ``chat_template``, when the template asks to replace it
    (``replace_jinja_template``) or when ``force``. Returns True when it was set.
    """
    if tokenizer.chat_template is not None and not force and not getattr(template, "replace_jinja_template", False):
        return False
    tokenizer.chat_template = template.to_jinja()
    return True
