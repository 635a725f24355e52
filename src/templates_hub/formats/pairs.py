"""Preference and KTO adapters: TRL's layouts, plus the alpaca / sharegpt / openai shapes.

``preference`` reads pairwise rows in any shape: TRL's ``prompt`` / ``chosen`` / ``rejected`` (strings,
message objects or message lists, with an explicit prompt or an implicit one shared by both answers),
or alpaca / sharegpt / openai records with ``chosen`` / ``rejected`` (LLaMA-Factory's ``ranking: true``
layouts). ``kto`` reads unpaired rows: TRL's ``prompt`` / ``completion`` / ``label``, or the three
record shapes with a boolean ``label`` (LLaMA-Factory's ``kto_tag``). The shape is detected from the first
rows unless the ``shape`` option names it.

Both write TRL's conversational layout (``write_records(..., layout="preference" | "kto")``):
``{"prompt": [...], "chosen": [assistant], "rejected": [assistant]}`` and
``{"prompt": [...], "completion": [assistant], "label": bool}``, messages as in the openai layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import UsageError
from .alpaca import AlpacaFormat
from .base import (
    Converted,
    Detection,
    FormatAdapter,
    RowProblem,
    json_cell,
    message,
    need_str,
    parse_label,
    present,
    tools_text,
)
from .openai import OpenAIFormat
from .sharegpt import SharegptFormat

_SHAPES: dict[str, type[FormatAdapter]] = {"alpaca": AlpacaFormat, "sharegpt": SharegptFormat, "openai": OpenAIFormat}
#: reads TRL message lists (role/content, OpenAI tool calls)
_MESSAGE_READER = OpenAIFormat()


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("role", "content", "tool_calls"))


class _ShapedFormat(FormatAdapter):
    """Shared machinery: TRL-style columns, or delegation to a record shape."""

    kind_fixed: str = "preference"
    trl_columns: tuple[str, ...] = ()

    def __init__(self, options: Mapping[str, Any] | None = None, *, kind: str | None = None):
        super().__init__(options, kind=kind or self.kind_fixed)
        if self.options["shape"] not in ("auto", "trl", *_SHAPES):
            raise UsageError(f"format {self.name!r}: shape must be auto, trl, {', '.join(_SHAPES)}; got {self.options['shape']!r}")
        self._inner: FormatAdapter | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._inner = None  # rebuilt on first use in the worker

    @classmethod
    def _trl_score(cls, sample: Sequence[Mapping[str, Any]]) -> float:
        if not sample:
            return 0.0
        hits = sum(1 for rec in sample if all(rec.get(c) is not None for c in cls.trl_columns if c != "prompt"))
        return hits / len(sample)

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        trl = cls._trl_score(sample)
        plain = [rec for rec in sample if all(rec.get(c) is None for c in ("instruction", "conversations", "messages"))]
        if trl and len(plain) == len(sample):
            return Detection(trl, cls.kind_fixed, {"shape": "trl"}, f"TRL {'/'.join(cls.trl_columns)} columns")
        best: Detection | None = None
        for shape, adapter in _SHAPES.items():
            found = adapter.detect(sample)
            if found is not None and found.kind == cls.kind_fixed and (best is None or found.score > best.score):
                # slightly below the shape's own adapter, so auto-detection names the shape
                best = Detection(found.score * 0.95, cls.kind_fixed, {"shape": shape, **found.options}, found.evidence)
        return best

    def prepare(self, sample: Sequence[Mapping[str, Any]]) -> None:
        if self.options["shape"] == "auto":
            found = self.detect(sample)
            if found is None:
                raise UsageError(
                    f"format {self.name!r}: cannot tell the shape of the rows (TRL {'/'.join(self.trl_columns)}, "
                    f"or alpaca/sharegpt/openai with {'chosen/rejected' if self.kind_fixed == 'preference' else 'a label'}); "
                    "set the shape option"
                )
            self.options["shape"] = found.options.get("shape", "trl")
            if found.options.get("messages"):
                self.options["messages"] = found.options["messages"]

    def inner(self) -> FormatAdapter | None:
        shape = self.options["shape"]
        if shape in ("trl", "auto"):
            return None
        if self._inner is None:
            self._inner = _SHAPES[shape](self._inner_options(), kind=self.kind_fixed)
        return self._inner

    def _inner_options(self) -> dict[str, Any]:
        """The options passed on to the shape's own adapter: only those that mean the same thing there."""
        cls = _SHAPES[self.options["shape"]]
        shared = ("chosen", "rejected", "system", "tools", "kto_tag", "messages")
        return {k: self.options[k] for k in shared if k in self.options and k in cls.defaults and self.options[k] is not None}

    def read_columns(self) -> dict[str, str]:
        """TRL columns, or the columns the shape's adapter reads under options passed on from here."""
        inner = self.inner()
        if inner is None:
            return {k: v for k, v in super().read_columns().items() if k != "messages"}
        passed = self._inner_options()
        return {k: v for k, v in inner.read_columns().items() if k in passed}

    def convert(self, record: Mapping[str, Any]) -> Converted:
        inner = self.inner()
        if inner is not None:
            return inner.convert(record)
        origin: dict[str, str] = {}
        prompt, row = self._common(record, origin)
        return self._convert_trl(record, prompt, row, origin)

    def _convert_trl(self, record: Mapping[str, Any], prompt: list[dict[str, Any]], row: dict[str, Any],
                     origin: dict[str, str]) -> Converted:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """TRL's conversational layout: every cell a list of openai-style messages, tools as JSON text."""
        w = OpenAIFormat({"tools_as": "string"})
        out = {column: [w._write_message(m) for m in messages] for column, messages in self._trl_cells(row).items()}
        if self.kind_fixed == "kto":
            out["label"] = bool(row["label"])
        if row.get("tools") is not None:
            out["tools"] = row["tools"]
        return out

    def _trl_cells(self, row: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:  # pragma: no cover
        raise NotImplementedError

    # -- TRL helpers ---------------------------------------------------------------------------------
    def _messages(self, value: Any, where: str, origin: dict[str, str], canonical_prefix: str, start: int) -> list[dict[str, Any]]:
        """A TRL cell: a string (one message of ``default_role``) or a list of role/content messages."""
        value = json_cell(value, where)
        reader = _MESSAGE_READER
        if isinstance(value, list):
            return [reader._message(m, f"{where}[{i}]", origin, f"{canonical_prefix}[{start + i}]")
                    for i, m in enumerate(value)]
        if isinstance(value, Mapping):
            return [reader._message(value, where, origin, f"{canonical_prefix}[{start}]")]
        text = need_str(value, where) or ""
        origin[f"{canonical_prefix}[{start}]"] = where
        origin[f"{canonical_prefix}[{start}].content"] = where
        return [message("user", text)]

    def _common(self, record: Mapping[str, Any], origin: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        o = self.options
        prompt: list[dict[str, Any]] = []
        if present(record, o["system"]):
            text = need_str(record[o["system"]], o["system"]) or ""
            if text:
                origin["messages[0]"] = origin["messages[0].content"] = o["system"]
                prompt.append(message("system", text))
        row: dict[str, Any] = {"tools": None}
        if present(record, o["tools"]):
            row["tools"] = tools_text(record[o["tools"]], o["tools"])
            origin["tools"] = o["tools"]
        if present(record, o["prompt"]):
            prompt += self._messages(record[o["prompt"]], o["prompt"], origin, "messages", len(prompt))
        return prompt, row

    def _answer(self, value: Any, where: str, prompt: list[dict[str, Any]], origin: dict[str, str], canonical: str,
                implicit: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A completion cell -> (its own prompt prefix, the single assistant answer)."""
        value = json_cell(value, where)
        if isinstance(value, str):
            origin[canonical] = origin[f"{canonical}.content"] = where
            return [], message("assistant", value)
        scratch: dict[str, str] = {}
        msgs = self._messages(value, where, scratch, "m", 0)
        if not implicit and len(msgs) > len(prompt) and all(_same(a, b) for a, b in zip(prompt, msgs, strict=False)):
            msgs = msgs[len(prompt):]  # full conversation repeating the prompt (UltraFeedback style)
            skip = len(prompt)
        else:
            skip = 0
        prefix, last = msgs[:-1], msgs[-1] if msgs else None
        if last is None:
            raise RowProblem(where, "is empty", "empty_content")
        if not implicit and prefix:
            raise RowProblem(where, "must hold one assistant message (or repeat the prompt before it)", "turn_order")
        index = skip + len(msgs) - 1
        mine = f"m[{index}]"
        for key, raw in scratch.items():
            if key == mine or key.startswith(mine + "."):
                origin[canonical + key[len(mine):]] = raw
        return prefix, last


class PreferenceFormat(_ShapedFormat):
    """Pairwise rows: TRL prompt/chosen/rejected, or alpaca/sharegpt/openai with chosen/rejected."""

    name = "preference"
    description = "Pairwise rows: TRL prompt/chosen/rejected (explicit or implicit prompt) or alpaca/sharegpt/openai with chosen/rejected"
    kinds = ("preference",)
    writable = True
    kind_fixed = "preference"
    trl_columns = ("prompt", "chosen", "rejected")
    defaults: dict[str, Any] = {
        "shape": "auto", "prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "system": "system",
        "tools": "tools", "messages": None,
    }
    column_options = ("prompt", "chosen", "rejected", "system", "tools", "messages")

    def _convert_trl(self, record: Mapping[str, Any], prompt: list[dict[str, Any]], row: dict[str, Any],
                     origin: dict[str, str]) -> Converted:
        o = self.options
        implicit = not present(record, o["prompt"])
        chosen_prefix, chosen = self._answer(record.get(o["chosen"]), o["chosen"], prompt, origin, "chosen", implicit)
        rejected_prefix, rejected = self._answer(record.get(o["rejected"]), o["rejected"], prompt, origin, "rejected", implicit)
        if implicit:
            if len(chosen_prefix) != len(rejected_prefix) or not all(_same(a, b) for a, b in zip(chosen_prefix, rejected_prefix, strict=True)):
                raise RowProblem(o["rejected"], "chosen and rejected must share the same prompt turns before their last message", "turn_order")
            for i in range(len(chosen_prefix)):
                origin[f"messages[{len(prompt) + i}]"] = f"{o['chosen']}[{i}]"
            prompt = prompt + chosen_prefix
        row.update({"messages": prompt, "chosen": chosen, "rejected": rejected})
        return Converted(row, origin)

    def _trl_cells(self, row: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
        return {"prompt": row["messages"], "chosen": [row["chosen"]], "rejected": [row["rejected"]]}


class KTOFormat(_ShapedFormat):
    """Unpaired preference rows: TRL prompt/completion/label, or alpaca/sharegpt/openai with a label."""

    name = "kto"
    description = "Unpaired rows: TRL prompt/completion/label or alpaca/sharegpt/openai with a boolean label"
    kinds = ("kto",)
    writable = True
    kind_fixed = "kto"
    trl_columns = ("prompt", "completion", "label")
    defaults: dict[str, Any] = {
        "shape": "auto", "prompt": "prompt", "completion": "completion", "kto_tag": "label", "system": "system",
        "tools": "tools", "messages": None,
    }
    column_options = ("prompt", "completion", "kto_tag", "system", "tools", "messages")

    def _convert_trl(self, record: Mapping[str, Any], prompt: list[dict[str, Any]], row: dict[str, Any],
                     origin: dict[str, str]) -> Converted:
        o = self.options
        implicit = not present(record, o["prompt"])
        prefix, answer = self._answer(record.get(o["completion"]), o["completion"], prompt, origin, "answer", implicit)
        messages = prompt + prefix
        for key in [k for k in origin if k.startswith("answer")]:
            origin[f"messages[{len(messages)}]" + key[len("answer"):]] = origin.pop(key)
        row.update({"messages": messages + [answer], "label": parse_label(record.get(o["kto_tag"]), o["kto_tag"])})
        origin["label"] = o["kto_tag"]
        return Converted(row, origin)

    def _trl_cells(self, row: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
        return {"prompt": row["messages"][:-1], "completion": row["messages"][-1:]}
