"""Chain-of-thought handling shared by slot and Jinja templates.

Canonical messages may carry their reasoning separately (``message["reasoning"]``) or inline in
``content`` between thought words (``<think>\\n ... \\n</think>\\n\\n``), as LLaMA-Factory data does.
``compose`` turns the first form into the second so that both render - and tokenize - identically.
``remove_thought`` and ``has_thought`` are LLaMA-Factory's ``Template.remove_thought`` and its "does this
response already contain thought words" test, which decide where reasoning templates put an empty CoT.
"""

from __future__ import annotations

import re
from functools import lru_cache

DEFAULT_THOUGHT_WORDS: tuple[str, str] = ("<think>\n", "\n</think>\n\n")


def compose(reasoning: str | None, content: str, thought_words: tuple[str, str] = DEFAULT_THOUGHT_WORDS) -> str:
    """``content`` with ``reasoning`` (when not None) written in front of it inside the thought words.

    An empty string is an explicit empty thought (``<think>\\n\\n</think>\\n\\n``); None means no thought.
    """
    if reasoning is None:
        return content
    return f"{thought_words[0]}{reasoning}{thought_words[1]}{content}"


@lru_cache(maxsize=32)
def _thought_pattern(open_word: str, close_word: str) -> re.Pattern[str]:
    return re.compile(f"{re.escape(open_word)}(.*?){re.escape(close_word)}", re.DOTALL)


def remove_thought(content: str, thought_words: tuple[str, str] = DEFAULT_THOUGHT_WORDS) -> str:
    """Drop every thought block from ``content`` and the newlines that then lead it (LLaMA-Factory's rule)."""
    return _thought_pattern(*thought_words).sub("", content).lstrip("\n")


def has_thought(content: str, thought_words: tuple[str, str] = DEFAULT_THOUGHT_WORDS) -> bool:
    """True when ``content`` contains either (stripped) thought word, i.e. it needs no empty CoT added."""
    return thought_words[0].strip() in content or thought_words[1].strip() in content


def empty_thought(thought_words: tuple[str, str] = DEFAULT_THOUGHT_WORDS) -> str:
    """The empty chain of thought a reasoning template adds to responses that have none."""
    return f"{thought_words[0]}{thought_words[1]}"
