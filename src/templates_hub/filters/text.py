"""Text helpers shared by the filters and the split: which text a row's prompt and response are, how
long a text is (chars, words, tokens), and how to cut a text into word-like tokens for any script.

*Words* follow the seed notebook: whitespace-separated runs (``str.split()``). Chinese, Japanese and
Thai text has no spaces, so a whole Chinese sentence counts as one word; use ``chars`` or ``tokens`` to
measure such text. *Terms* (used by the blocklist and near-dedup shingles) are script-aware instead:
every CJK / Thai character is a term of its own and other letters and digits form terms between
non-word characters.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

Unit = Literal["chars", "words", "tokens"]

#: Scripts written without spaces between words: CJK ideographs (and radicals, compatibility forms and
#: extension planes), kana, Hangul, Thai, Lao, Khmer, Myanmar. A "whole word" there has no boundary to
#: look for, so the blocklist matches terms of these scripts anywhere.
CJK_CLASS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3005\u3006\u3007"  # CJK iteration / closing marks, ideographic zero
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u318f"  # Bopomofo, Hangul compatibility jamo
    "\u31a0-\u31ff"  # Bopomofo extended, katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width katakana
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
#: one CJK character, or a run of other word characters (letters, digits, underscore)
TERM = re.compile(f"[{CJK_CLASS}]|[^\\W{CJK_CLASS}]+")
#: characters Python's ``str.isspace`` does not count but that render as nothing
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def is_blank(text: str | None) -> bool:
    """True for None, "", whitespace (including U+3000) and zero-width characters only."""
    return not text or not text.translate(INVISIBLE).strip()


def normalize(text: str, *, casefold: bool = True) -> str:
    """NFKC (full-width letters -> ASCII, compatibility ideographs -> unified), case folding, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(INVISIBLE)
    if casefold:
        text = text.casefold()
    return " ".join(text.split())


def terms(text: str) -> list[str]:
    """Script-aware word tokens of normalised text (each CJK character is one term)."""
    return TERM.findall(normalize(text))


def count_words(text: str) -> int:
    """Whitespace-separated words, as the seed notebook counts them (``len(text.split())``)."""
    return len(text.split())


def measure(texts: Sequence[str], unit: Unit, tokenizer: Any = None) -> list[int]:
    """Length of each text in ``unit``; tokens are counted with one batched tokenizer call."""
    if unit == "chars":
        return [len(t) for t in texts]
    if unit == "words":
        return [count_words(t) for t in texts]
    if tokenizer is None:
        raise ValueError("unit 'tokens' needs a tokenizer")
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


# --------------------------------------------------------------------------- where the text of a row is
def row_kind(columns: Sequence[str]) -> str:
    """The canonical kind of rows with these columns."""
    cols = set(columns)
    if "messages" not in cols:
        return "text"
    if "chosen" in cols and "rejected" in cols:
        return "preference"
    if "label" in cols:
        return "kto"
    return "sft"


Located = tuple[str, dict[str, Any]]  # (field path, message dict)


def message_text(message: dict[str, Any] | None, *, with_calls: bool = True) -> str:
    """A message's content, followed by its tool calls (``name(arguments)``) when it makes any."""
    if not message:
        return ""
    text = message.get("content") or ""
    calls = message.get("tool_calls") or []
    if with_calls and calls:
        rendered = "\n".join(f"{c.get('name') or ''}({c.get('arguments') or ''})" for c in calls)
        text = f"{text}\n{rendered}" if text else rendered
    return text


def all_messages(row: dict[str, Any], kind: str) -> list[Located]:
    """Every message of a conversation row with its field path (chosen / rejected included)."""
    out: list[Located] = [(f"messages[{i}]", m) for i, m in enumerate(row.get("messages") or []) if m]
    if kind == "preference":
        out += [(k, row[k]) for k in ("chosen", "rejected") if row.get(k)]
    return out


def prompt_messages(row: dict[str, Any], kind: str) -> list[Located]:
    """The messages before the answer: all of ``messages`` for preference rows, all but the last otherwise."""
    messages = row.get("messages") or []
    if kind != "preference" and messages and (messages[-1] or {}).get("role") == "assistant":
        messages = messages[:-1]
    return [(f"messages[{i}]", m) for i, m in enumerate(messages) if m]


def answer_messages(row: dict[str, Any], kind: str) -> list[Located]:
    """The final answer(s): chosen and rejected for preference rows, else the last assistant message."""
    if kind == "preference":
        return [(k, row[k]) for k in ("chosen", "rejected") if row.get(k)]
    messages = row.get("messages") or []
    for i in range(len(messages) - 1, -1, -1):
        if (messages[i] or {}).get("role") == "assistant":
            return [(f"messages[{i}]", messages[i])]
    return []


def assistant_messages(row: dict[str, Any], kind: str) -> list[Located]:
    """Every assistant message (history turns and the answer(s))."""
    return [(p, m) for p, m in all_messages(row, kind) if m.get("role") == "assistant"]


def user_text(row: dict[str, Any], kind: str) -> str:
    """All user messages of a conversation joined by newlines; the text of a text row."""
    if kind == "text":
        return row.get("text") or ""
    return "\n".join(m.get("content") or "" for _, m in prompt_messages(row, kind) if m.get("role") == "user")


def conversation_text(row: dict[str, Any], kind: str, part: str = "conversation") -> str:
    """A stable text rendering of ``part`` (conversation | prompt | response) used for dedup keys."""
    if kind == "text":
        return row.get("text") or ""
    if part == "prompt":
        located = prompt_messages(row, kind)
    elif part == "response":
        located = answer_messages(row, kind)
    else:
        located = all_messages(row, kind)
    lines = [f"{path if path in ('chosen', 'rejected') else m.get('role')}: {message_text(m)}" for path, m in located]
    if part == "conversation":
        if kind == "kto":
            lines.append(f"label: {row.get('label')}")
        tools = row.get("tools")
        if tools:
            try:
                tools = json.dumps(json.loads(tools), sort_keys=True, ensure_ascii=False)
            except (TypeError, ValueError):
                pass
            lines.append(f"tools: {tools}")
    return "\n".join(lines)
