"""Alpaca: ``instruction`` / ``input`` / ``output`` (+ ``system``, ``history``, ``tools``).

Conversion follows LLaMA-Factory's ``AlpacaDatasetConverter`` exactly:

- the user turn is the NON-EMPTY of ``[instruction, input]`` joined by ``"\\n"``;
- ``history`` is a list of ``[prompt, response]`` pairs prepended as user/assistant turns;
- ``system`` becomes a leading system message (an empty system means "none");
- preference rows carry ``chosen`` / ``rejected`` strings, KTO rows a boolean label column.

Column names are options named like LLaMA-Factory's ``columns`` block (``prompt``, ``query``,
``response``, ``history``, ``system``, ``tools``, ``chosen``, ``rejected``, ``kto_tag``); an option set to
None disables that column.

The writer is the inverse for rows alpaca can hold: ``system?, (user, assistant)*`` with plain text.
Because LLaMA-Factory joins instruction and input, the writer puts the whole user text in
``instruction`` and leaves ``input`` empty: canonical -> alpaca -> canonical is the identity, and an
alpaca record with a non-empty ``input`` comes back with the two joined (the same text the model saw).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import (
    THOUGHT_WORDS,
    Converted,
    Detection,
    FormatAdapter,
    RowProblem,
    join_thought,
    json_cell,
    message,
    need_str,
    parse_label,
    present,
    split_thought,
    tools_text,
    type_name,
)


class AlpacaFormat(FormatAdapter):
    """instruction / input / output records (LLaMA-Factory's default layout)."""

    name = "alpaca"
    description = "Alpaca records: instruction, input, output (+ system, history, tools; chosen/rejected; label)"
    kinds = ("sft", "preference", "kto")
    writable = True
    defaults: dict[str, Any] = {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "history": "history",
        "system": "system",
        "tools": "tools",
        "chosen": "chosen",
        "rejected": "rejected",
        "kto_tag": "label",
        "reasoning": "keep",  # keep | split: split "<think>\n...\n</think>\n\n" off answers into `reasoning`
        "thought_words": THOUGHT_WORDS,
    }
    column_options = ("prompt", "query", "response", "history", "system", "tools", "chosen", "rejected", "kto_tag")
    #: answers come from ``response`` (sft, kto rows) or ``chosen``/``rejected`` (preference rows)
    kind_columns = {**FormatAdapter.kind_columns, "response": ("sft", "kto")}

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        if not sample:
            return None
        hits = 0
        kinds = {"sft": 0, "preference": 0, "kto": 0}
        for rec in sample:
            if not isinstance(rec.get("instruction"), str):
                continue
            if isinstance(rec.get("output"), str) or isinstance(rec.get("chosen"), str):
                hits += 1
            if isinstance(rec.get("chosen"), str) and isinstance(rec.get("rejected"), str):
                kinds["preference"] += 1
            elif isinstance(rec.get("label"), bool) and isinstance(rec.get("output"), str):
                kinds["kto"] += 1
            else:
                kinds["sft"] += 1
        if not hits:
            return None
        kind = max(kinds, key=lambda k: kinds[k])
        return Detection(hits / len(sample), kind, {}, "instruction/output columns")

    # -- reading -------------------------------------------------------------------------------------
    def _answer(self, text: str) -> dict[str, Any]:
        if self.options["reasoning"] == "split":
            reasoning, content = split_thought(text, self.options["thought_words"])
            return message("assistant", content, reasoning=reasoning)
        return message("assistant", text)

    def convert(self, record: Mapping[str, Any]) -> Converted:
        o = self.options
        messages: list[dict[str, Any]] = []
        origin: dict[str, str] = {}

        def add(msg: dict[str, Any], raw: str) -> None:
            i = len(messages)
            messages.append(msg)
            for key in ("", ".content", ".role", ".reasoning"):
                origin[f"messages[{i}]{key}"] = raw

        if present(record, o["system"]):
            system = need_str(record[o["system"]], o["system"])
            if system:
                add(message("system", system), o["system"])

        if present(record, o["history"]):
            history = json_cell(record[o["history"]], o["history"])
            if not isinstance(history, list):
                raise RowProblem(o["history"], f"must be a list of [prompt, response] pairs, got {type_name(history)}", "wrong_type")
            for j, pair in enumerate(history):
                where = f"{o['history']}[{j}]"
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise RowProblem(where, "must be a [prompt, response] pair", "wrong_type")
                add(message("user", need_str(pair[0], f"{where}[0]") or ""), f"{where}[0]")
                add(self._answer(need_str(pair[1], f"{where}[1]") or ""), f"{where}[1]")

        parts: list[str] = []
        for col in (o["prompt"], o["query"]):
            if col and record.get(col) is not None:
                value = need_str(record[col], col)
                if value:
                    parts.append(value)
        user_path = o["prompt"] or o["query"] or "instruction"
        if not parts and o["prompt"] and record.get(o["prompt"]) is None and (not o["query"] or record.get(o["query"]) is None):
            raise RowProblem(o["prompt"], "required field is missing", "missing_field")
        add(message("user", "\n".join(parts)), user_path)

        row: dict[str, Any] = {"messages": messages, "tools": None}
        if present(record, o["tools"]):
            row["tools"] = tools_text(record[o["tools"]], o["tools"])
            origin["tools"] = o["tools"]

        kind = self.kind
        if kind == "preference":
            chosen = need_str(record.get(o["chosen"]) if o["chosen"] else None, o["chosen"] or "chosen")
            rejected = need_str(record.get(o["rejected"]) if o["rejected"] else None, o["rejected"] or "rejected")
            row["chosen"] = self._answer(chosen or "")
            row["rejected"] = self._answer(rejected or "")
            for which in ("chosen", "rejected"):
                for key in ("", ".content", ".role"):
                    origin[f"{which}{key}"] = o[which]
            return Converted(row, origin)
        response_col = o["response"] or "output"
        answer = need_str(record.get(o["response"]) if o["response"] else None, response_col)
        add(self._answer(answer or ""), response_col)
        if kind == "kto":
            label_col = o["kto_tag"] or "label"
            row["label"] = parse_label(record.get(o["kto_tag"]) if o["kto_tag"] else None, label_col)
            origin["label"] = label_col
        return Converted(row, origin)

    # -- writing -------------------------------------------------------------------------------------
    def _text(self, msg: Mapping[str, Any], where: str) -> str:
        if msg.get("tool_calls"):
            raise RowProblem(f"{where}.tool_calls", "the alpaca layout cannot hold tool calls; write layout sharegpt or openai", "unrepresentable")
        if msg.get("train") is not None:
            raise RowProblem(f"{where}.train", "the alpaca layout cannot hold per-message train flags; write layout openai", "unrepresentable")
        return join_thought(msg.get("reasoning"), msg.get("content") or "", self.options["thought_words"])

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        o = self.options
        kind = self.kind or "sft"
        messages = list(row.get("messages") or [])
        out: dict[str, Any] = {}
        system = None
        if messages and messages[0]["role"] == "system":
            system = self._text(messages[0], "messages[0]")
            messages = messages[1:]
            offset = 1
        else:
            offset = 0
        pairs: list[list[str]] = []
        expect = "user"
        for i, msg in enumerate(messages):
            where = f"messages[{i + offset}]"
            if msg["role"] != expect:
                raise RowProblem(f"{where}.role", f"the alpaca layout holds alternating user/assistant turns only, found {msg['role']}", "unrepresentable")
            text = self._text(msg, where)
            if expect == "user":
                pairs.append([text])
                expect = "assistant"
            else:
                pairs[-1].append(text)
                expect = "user"
        if not pairs:
            raise RowProblem("messages", "no user message to write", "unrepresentable")
        last = pairs.pop()
        out[o["prompt"] or "instruction"] = last[0]
        out[o["query"] or "input"] = ""
        if kind == "preference":
            if len(last) != 1:
                raise RowProblem("messages", "a preference prompt must end with a user turn", "unrepresentable")
            out[o["chosen"] or "chosen"] = self._text(row["chosen"], "chosen")
            out[o["rejected"] or "rejected"] = self._text(row["rejected"], "rejected")
        else:
            if len(last) != 2:
                raise RowProblem("messages", "the conversation must end with an assistant turn", "unrepresentable")
            out[o["response"] or "output"] = last[1]
        if system is not None:
            out[o["system"] or "system"] = system
        if pairs:
            if any(len(p) != 2 for p in pairs):
                raise RowProblem("messages", "history must hold complete user/assistant pairs", "unrepresentable")
            out[o["history"] or "history"] = pairs
        if row.get("tools") is not None:
            out[o["tools"] or "tools"] = row["tools"]
        if kind == "kto":
            out[o["kto_tag"] or "label"] = bool(row["label"])
        return out
