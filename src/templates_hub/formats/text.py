"""Plain text documents for pretraining: ``{"text": ...}`` records or ``.txt`` files (one per line).

LLaMA-Factory reads pretraining data as an alpaca entry with ``columns: {"prompt": "text"}`` and uses
that column's text as the document; the ``column`` option is that column. In ``.txt`` files every
non-blank line is one document (blank lines separate nothing and are not rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import Converted, Detection, FormatAdapter, need_str


class TextFormat(FormatAdapter):
    """Pretraining documents (a text column, or one document per line of a .txt file)."""

    name = "text"
    description = "Pretraining documents: a text column, or one document per line of a .txt file"
    kinds = ("text",)
    writable = True
    defaults: dict[str, Any] = {"column": "text"}
    column_options = ("column",)

    def __init__(self, options: Mapping[str, Any] | None = None, *, kind: str | None = None):
        super().__init__(options, kind=kind or "text")

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        if not sample:
            return None
        hits = sum(1 for rec in sample if isinstance(rec.get("text"), str))
        if not hits:
            return None
        # below the chat layouts: a "text" column next to messages is metadata, not the document
        return Detection(0.9 * hits / len(sample), "text", {}, "a 'text' column")

    def convert(self, record: Mapping[str, Any]) -> Converted:
        column = self.options["column"]
        text = need_str(record.get(column), column) or ""
        return Converted({"text": text}, {"text": column})

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {self.options["column"]: row["text"]}
