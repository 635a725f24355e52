"""Content filters: empty turns, blocklists and regular expressions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from .base import ALL_KINDS, Batch, Filter, batch_rows
from .text import CJK_CLASS, INVISIBLE, all_messages, normalize, row_kind

Role = Literal["system", "user", "assistant", "tool"]
ALL_ROLES: list[Role] = ["system", "user", "assistant", "tool"]


def _texts_of(row: dict[str, Any], kind: str, roles: list[str]) -> list[tuple[str, str]]:
    """``(where, content)`` of every message of ``roles`` (the text itself for text rows)."""
    if kind == "text":
        return [("text", row.get("text") or "")]
    return [(f"{path} ({m.get('role')})", m.get("content") or "") for path, m in all_messages(row, kind)
            if m.get("role") in roles]


class EmptyTurns(Filter):
    """Drop rows with an empty or whitespace-only message (zero-width characters count as blank)."""

    name: ClassVar[str] = "empty_turns"
    kinds: ClassVar[frozenset[str]] = ALL_KINDS

    roles: list[Role] = Field(default_factory=lambda: list(ALL_ROLES), min_length=1,
                              description="Roles whose messages must not be blank.")

    def check(self, row: dict[str, Any]) -> str | None:
        kind = row_kind(list(row))
        if kind == "text":
            text = row.get("text") or ""
            return None if text.translate(INVISIBLE).strip() else ("text is empty" if not text else "text is whitespace-only")
        for path, message in all_messages(row, kind):
            if message.get("role") not in self.roles or message.get("tool_calls"):
                continue
            content = message.get("content") or ""
            if not content.translate(INVISIBLE).strip():
                state = "empty" if not content else "whitespace-only"
                return f"{path} ({message.get('role')}) is {state}"
        return None


# --------------------------------------------------------------------------- blocklist
_WORD_EDGE = re.compile(f"[^\\W{CJK_CLASS}]")  # a letter/digit of a script that separates words


def read_word_list(path: str | Path) -> list[str]:
    """One term per line; blank lines and lines starting with ``#`` are skipped (UTF-8)."""
    text = Path(path).read_text(encoding="utf-8-sig")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def compile_terms(terms: list[str], *, whole_word: bool, case_sensitive: bool) -> re.Pattern[str] | None:
    """One regex matching any term in normalised text (see ``normalize``).

    *Whole word* needs a definition that works across scripts: an edge of a term made of a letter or digit
    from a script that separates words by spaces (Latin, Cyrillic, Greek ...) must not touch another such
    letter or digit. Edges in CJK / Thai characters have no boundary to respect, because those scripts do not
    separate words: ``赌博`` matches inside ``我不赌博``, ``ass`` does not match inside ``class`` but does in
    ``ass。`` and ``用ass``. Spaces inside a term match any run of whitespace.
    """
    patterns = []
    for term in sorted({normalize(t, casefold=not case_sensitive) for t in terms if t.strip()}, key=len, reverse=True):
        body = r"\s+".join(re.escape(part) for part in term.split(" "))
        if whole_word:
            if _WORD_EDGE.match(term[0]):
                body = f"(?<![^\\W{CJK_CLASS}])" + body
            if _WORD_EDGE.match(term[-1]):
                body += f"(?![^\\W{CJK_CLASS}])"
        patterns.append(body)
    return re.compile("|".join(patterns)) if patterns else None


class Blocklist(Filter):
    """Drop rows containing a blocked word or phrase (inline list and/or a word-list file)."""

    name: ClassVar[str] = "blocklist"
    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    path_params: ClassVar[tuple[str, ...]] = ("file",)

    words: list[str] = Field(default_factory=list, description="Blocked words or phrases.")
    file: str | None = Field(default=None, description="A UTF-8 file with one blocked term per line (# comments).")
    match: Literal["word", "substring"] = Field(default="word", description="Whole words (script-aware) or any substring.")
    case_sensitive: bool = Field(default=False, description="Match case exactly (default: ignore case).")
    roles: list[Role] = Field(default_factory=lambda: list(ALL_ROLES), min_length=1, description="Roles to search.")

    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            path = Path(value)
            if not path.is_file():
                raise ValueError(f"no such file: {value}")
            try:
                read_word_list(path)
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read {value}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _compile(self) -> Blocklist:
        terms = list(self.words) + (read_word_list(self.file) if self.file else [])
        if not any(t.strip() for t in terms):
            raise ValueError("words: give at least one word (inline `words:` or a `file:`)")
        self._pattern = compile_terms(terms, whole_word=self.match == "word", case_sensitive=self.case_sensitive)
        return self

    def check(self, row: dict[str, Any]) -> str | None:
        assert self._pattern is not None
        kind = row_kind(list(row))
        for where, text in _texts_of(row, kind, list(self.roles)):
            found = self._pattern.search(normalize(text, casefold=not self.case_sensitive))
            if found:
                return f"blocked term {found.group(0)!r} in {where}"
        return None


# --------------------------------------------------------------------------- regex
class Regex(Filter):
    """Drop rows matching a regular expression (exclude), or rows that do not match it (include)."""

    name: ClassVar[str] = "regex"
    kinds: ClassVar[frozenset[str]] = ALL_KINDS

    pattern: str = Field(description="A Python regular expression (quote it in YAML: '...').")
    action: Literal["exclude", "include"] = Field(
        default="exclude", description="exclude: drop rows where it matches; include: keep only rows where it matches."
    )
    roles: list[Role] = Field(default_factory=lambda: list(ALL_ROLES), min_length=1,
                              description="Roles whose messages are searched (ignored for text rows).")
    ignore_case: bool = Field(default=False, description="Case-insensitive matching.")

    _compiled: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _compile(self) -> Regex:
        self._compiled = re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)
        return self

    def __call__(self, batch: Batch) -> list[str | None]:
        assert self._compiled is not None
        kind = row_kind(list(batch))
        out: list[str | None] = []
        for row in batch_rows(batch):
            hit = None
            for where, text in _texts_of(row, kind, list(self.roles)):
                found = self._compiled.search(text)
                if found:
                    hit = (where, found.group(0))
                    break
            if self.action == "exclude":
                out.append(None if hit is None else f"{hit[0]} matches /{self.pattern}/: {_snippet(hit[1])!r}")
            else:
                scope = "text" if kind == "text" else f"{'/'.join(self.roles)} messages"
                out.append(None if hit is not None else f"no {scope} match /{self.pattern}/")
        return out


def _snippet(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
