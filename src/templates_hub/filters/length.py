"""Length filters: response length, prompt length (chars, words or tokens) and number of turns."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from .base import Batch, Filter, batch_rows
from .text import Unit, answer_messages, assistant_messages, measure, message_text, prompt_messages, row_kind

Role = Literal["system", "user", "assistant", "tool"]


def _amount(n: int, unit: str) -> str:
    return f"{n} {unit[:-1] if n == 1 else unit}"


class _Bounds(Filter):
    """min / max bounds shared by the length and turn filters."""

    min: int | None = Field(default=None, ge=0, description="Smallest accepted value (inclusive).")
    max: int | None = Field(default=None, ge=0, description="Largest accepted value (inclusive).")

    @model_validator(mode="after")
    def _bounds(self) -> _Bounds:
        if self.min is None and self.max is None:
            raise ValueError("min: give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"max: must be >= min ({self.min})")
        return self

    def judge(self, what: str, n: int, unit: str) -> str | None:
        if self.min is not None and n < self.min:
            return f"{what} is {_amount(n, unit)} (min {self.min})"
        if self.max is not None and n > self.max:
            return f"{what} is {_amount(n, unit)} (max {self.max})"
        return None


class _LengthFilter(_Bounds):
    unit: Unit = Field(default="chars", description="chars, words (whitespace-separated) or tokens (needs a tokenizer).")
    strip: bool = Field(default=True, description="Strip surrounding whitespace before measuring.")

    def needs_tokenizer(self) -> bool:
        return self.unit == "tokens"

    def texts(self, row: dict[str, Any], kind: str) -> list[tuple[str, str]]:
        """``(what, text)`` pairs to measure for one row; every one must be within bounds."""
        raise NotImplementedError

    def __call__(self, batch: Batch) -> list[str | None]:
        kind = row_kind(list(batch))
        per_row = [self.texts(row, kind) for row in batch_rows(batch)]
        flat = [text.strip() if self.strip else text for items in per_row for _, text in items]
        lengths = iter(measure(flat, self.unit, self.tokenizer))
        verdicts: list[str | None] = []
        for items in per_row:
            verdict = None
            for what, _ in items:
                n = next(lengths)
                verdict = verdict or self.judge(what, n, self.unit)
            verdicts.append(verdict)
        return verdicts


class ResponseLength(_LengthFilter):
    """Drop rows whose answer is too short or too long (the seed notebook's keep_example is min: 6)."""

    name: ClassVar[str] = "response_length"

    scope: Literal["last", "each", "total"] = Field(
        default="last",
        description="last: the final answer (chosen and rejected for preference rows); each: every assistant "
        "message; total: all assistant messages together.",
    )

    def texts(self, row: dict[str, Any], kind: str) -> list[tuple[str, str]]:
        if self.scope == "last":
            answers = answer_messages(row, kind)
            if not answers:
                return [("response", "")]
            label = (lambda p: p) if kind == "preference" else (lambda p: "response")
            return [(label(path), message_text(m)) for path, m in answers]
        messages = assistant_messages(row, kind)
        if self.scope == "each":
            return [(f"{path} (assistant)", message_text(m)) for path, m in messages] or [("response", "")]
        return [("assistant messages", "\n".join(message_text(m) for _, m in messages))]


class PromptLength(_LengthFilter):
    """Drop rows whose prompt is too short or too long."""

    name: ClassVar[str] = "prompt_length"

    scope: Literal["last", "each", "total"] = Field(
        default="total",
        description="total: the prompt messages of `roles` joined by newlines; last: the last of them; each: every one.",
    )
    roles: list[Role] = Field(default_factory=lambda: ["user"], min_length=1,
                              description="Which prompt messages count (before the final answer).")

    def texts(self, row: dict[str, Any], kind: str) -> list[tuple[str, str]]:
        located = [(p, m) for p, m in prompt_messages(row, kind) if m.get("role") in self.roles]
        if self.scope == "total":
            return [("prompt", "\n".join(message_text(m) for _, m in located))]
        if self.scope == "last":
            return [(f"last {'/'.join(self.roles)} message", message_text(located[-1][1]) if located else "")]
        return [(f"{path} ({m.get('role')})", message_text(m)) for path, m in located] or [("prompt", "")]


class Turns(_Bounds):
    """Drop rows with too few or too many turns (a turn = one user message)."""

    name: ClassVar[str] = "turns"

    def check(self, row: dict[str, Any]) -> str | None:
        n = sum(1 for m in row.get("messages") or [] if m and m.get("role") == "user")
        return self.judge("conversation", n, "turns")
