"""templates-hub plugin: the ``pii`` filter.

Drops rows that contain personal data: e-mail addresses, phone numbers, IBANs, payment card numbers, or
sensitive terms (a bundled word list of terms such as "passport number" / "身份证号", plus your own).
Installed, it registers through the ``templates_hub`` entry point; use it in a recipe::

    filters:
      - name: pii
        detect: [email, phone, iban, credit_card, words]
        custom_words: [project bluebird]
        words_file: my_terms.txt      # relative to the recipe
"""

from __future__ import annotations

from importlib import resources
from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from templates_hub import hookimpl
from templates_hub.filters.base import ALL_KINDS, Filter
from templates_hub.filters.content import compile_terms, read_word_list
from templates_hub.filters.text import all_messages, normalize, row_kind

from .detectors import DETECTORS, mask

__version__ = "0.1.0"

Kind = Literal["email", "phone", "iban", "credit_card", "words"]
Role = Literal["system", "user", "assistant", "tool"]
ORDER: tuple[str, ...] = ("iban", "credit_card", "email", "phone", "words")
LABELS = {"email": "e-mail address", "phone": "phone number", "iban": "IBAN", "credit_card": "card number",
          "words": "sensitive term"}


def builtin_words() -> list[str]:
    """The bundled sensitive-term list (package data ``sensitive_words.txt``)."""
    text = resources.files(__name__).joinpath("sensitive_words.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


class PIIFilter(Filter):
    """Drop rows containing personal data (e-mails, phone numbers, IBANs, card numbers, sensitive terms)."""

    name: ClassVar[str] = "pii"
    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    path_params: ClassVar[tuple[str, ...]] = ("words_file",)

    detect: list[Kind] = Field(default_factory=lambda: ["email", "phone", "iban", "credit_card", "words"],
                               min_length=1, description="What to look for.")
    roles: list[Role] = Field(default_factory=lambda: ["system", "user", "assistant", "tool"], min_length=1,
                              description="Roles whose messages are searched (text rows: the text).")
    builtin_words: bool = Field(default=True, description="Use the bundled sensitive-term list (for `words`).")
    custom_words: list[str] = Field(default_factory=list, description="More sensitive terms (for `words`).")
    words_file: str | None = Field(default=None, description="A file of more terms, one per line (for `words`).")

    _terms: Any = PrivateAttr(default=None)

    @field_validator("words_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                read_word_list(value)
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read {value}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _compile(self) -> PIIFilter:
        if "words" in self.detect:
            terms = (builtin_words() if self.builtin_words else []) + list(self.custom_words)
            if self.words_file:
                terms += read_word_list(self.words_file)
            if not terms:
                raise ValueError("custom_words: `words` detection needs terms (builtin_words, custom_words or words_file)")
            self._terms = compile_terms(terms, whole_word=True, case_sensitive=False)
        return self

    def check(self, row: dict[str, Any]) -> str | None:
        kind = row_kind(list(row))
        if kind == "text":
            texts = [("text", row.get("text") or "")]
        else:
            texts = [(f"{path} ({m.get('role')})", m.get("content") or "") for path, m in all_messages(row, kind)
                     if m.get("role") in self.roles]
        # strictest checks first, so that an IBAN is reported as an IBAN and not as a phone number
        order = [what for what in ORDER if what in self.detect]
        for where, text in texts:
            for what in order:
                if what == "words":
                    found = self._terms.search(normalize(text)) if self._terms is not None else None
                    if found:
                        return f"sensitive term {found.group(0)!r} in {where}"
                    continue
                hit = DETECTORS[what](text)
                if hit:
                    return f"{LABELS[what]} in {where}: {mask(hit)}"
        return None


@hookimpl
def register_filters(register):
    register(PIIFilter)
