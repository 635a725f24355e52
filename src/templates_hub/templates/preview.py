"""Rendering rows for people: what ``templates-hub render`` and ``check-template`` show.

``render_samples`` turns one canonical row of any kind into the sequences a trainer would see (one for
SFT / KTO / text rows, two for a preference row: prompt + chosen and prompt + rejected), each with its
pieces and, given a tokenizer, its token ids and labels. ``check_against`` renders the battery with two
templates and compares the strings case by case.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from ..errors import TemplateError
from .base import ChatTemplate, Piece, RenderOptions, SpecialTokens, render_text
from .battery import BatteryCase

IGNORE_INDEX = -100


@dataclass
class Sample:
    """One rendered sequence of a row."""

    label: str  # "" for SFT rows, "chosen" / "rejected" for preference rows
    pieces: list[Piece]
    ids: list[int] | None = None
    labels: list[int] | None = None
    #: token index ranges of each piece (``bounds[k]:bounds[k+1]``), when encoded
    bounds: list[int] | None = None

    @property
    def text(self) -> str:
        return render_text(self.pieces)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sequence": self.label or "conversation",
            "text": self.text,
            "pieces": [
                {"text": p.text, "trainable": p.trainable, "turn": p.turn, "slot": p.slot, "special": p.special,
                 "message": p.message}
                for p in self.pieces
            ],
        }
        if self.ids is not None:
            out["input_ids"] = self.ids
            out["labels"] = self.labels
        return out


def _trainable(piece: Piece, messages: list[dict[str, Any]]) -> bool:
    """The piece's flag, overridden by its message's ``train`` field when that is set."""
    if piece.message is not None and 0 <= piece.message < len(messages):
        forced = messages[piece.message].get("train")
        if forced is not None:
            return bool(forced)
    return piece.trainable


def render_samples(template: ChatTemplate, row: dict[str, Any], *, kind: str = "sft",
                   tokens: SpecialTokens | None = None, options: RenderOptions | None = None) -> list[Sample]:
    """The rendered sequences of one canonical row (see the module docstring)."""
    opts = options or RenderOptions()
    if kind == "text":
        return [Sample("", [Piece(row.get("text") or "", True, 0, "text")])]
    if kind == "preference":
        oneturn = dataclasses.replace(opts, mode="oneturn")
        samples = []
        for which in ("chosen", "rejected"):
            conversation = {"messages": list(row.get("messages") or []) + [row[which]], "tools": row.get("tools"),
                            "_row": row.get("_row")}
            pieces = template.render(conversation, tokens, oneturn)
            samples.append(Sample(which, _apply_train(pieces, conversation["messages"])))
        return samples
    if kind == "kto":
        opts = dataclasses.replace(opts, mode="oneturn")
    pieces = template.render(row, tokens, opts)
    return [Sample("", _apply_train(pieces, row.get("messages") or []))]


def _apply_train(pieces: list[Piece], messages: list[dict[str, Any]]) -> list[Piece]:
    out = []
    for p in pieces:
        flag = _trainable(p, messages)
        out.append(p if flag == p.trainable else Piece(p.text, flag, p.turn, p.slot, p.special, p.message))
    return out


def encode_samples(samples: list[Sample], tokenizer: Any, *, mode: str = "segments") -> None:
    """Fill each sample's ``ids`` / ``labels`` / ``bounds`` with the preprocessing engine's encoding."""
    from ..preprocess.encode import encode_pieces

    encoded = encode_pieces([s.pieces for s in samples], tokenizer, mode=mode)  # type: ignore[arg-type]
    for sample, row in zip(samples, encoded, strict=True):
        sample.ids = list(row.ids)
        sample.bounds = list(row.bounds)
        labels: list[int] = []
        for k, piece in enumerate(sample.pieces):
            ids = row.piece_ids(k)
            labels += ids if piece.trainable else [IGNORE_INDEX] * len(ids)
        sample.labels = labels


@dataclass
class CaseResult:
    """The outcome of one battery case in ``check_against``."""

    case: str
    status: str  # "equal" | "differs" | "refused" (the reference template raised) | "error" (the checked one raised)
    expected: str = ""
    actual: str = ""
    message: str = ""
    diff: list[str] = field(default_factory=list)


def text_diff(expected: str, actual: str, context: int = 1) -> list[str]:
    """A line diff that shows invisible characters (``\\n`` kept visible as ``⏎``)."""
    a = [line + "⏎" for line in expected.split("\n")]
    b = [line + "⏎" for line in actual.split("\n")]
    return list(difflib.unified_diff(a, b, "reference", "template", n=context, lineterm=""))


def rendered_string(template: ChatTemplate, row: dict[str, Any], tokens: SpecialTokens | None,
                    options: RenderOptions) -> str:
    """The string a template renders (Jinja templates: without looking for trained spans)."""
    render_string = getattr(template, "render_text", None)
    if callable(render_string):
        return render_string(row, tokens, options)[0]
    return render_text(template.render(row, tokens, options))


def check_against(template: ChatTemplate, reference: ChatTemplate, cases: list[BatteryCase], *,
                  tokens: SpecialTokens | None = None, options: RenderOptions | None = None,
                  generation_prompt: bool = False) -> list[CaseResult]:
    """Render every case with ``template`` and ``reference`` and compare the strings.

    With ``generation_prompt`` each case is cut before its last assistant message and rendered with the
    generation prompt (the inference prompt).
    """
    results = []
    for case in cases:
        row = case.row()
        opts = options or RenderOptions()
        if generation_prompt:
            messages = row["messages"]
            last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=len(messages))
            row = {**row, "messages": messages[:last]}
            opts = dataclasses.replace(opts, add_generation_prompt=True)
        try:
            expected = rendered_string(reference, row, tokens, opts)
        except TemplateError as exc:
            results.append(CaseResult(case.name, "refused", message=str(exc)))
            continue
        try:
            actual = rendered_string(template, row, tokens, opts)
        except TemplateError as exc:
            results.append(CaseResult(case.name, "error", expected=expected, message=str(exc)))
            continue
        if actual == expected:
            results.append(CaseResult(case.name, "equal", expected, actual))
        else:
            results.append(CaseResult(case.name, "differs", expected, actual, diff=text_diff(expected, actual)))
    return results
