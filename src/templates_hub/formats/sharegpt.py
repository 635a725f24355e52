"""ShareGPT: a list of ``{"from": ..., "value": ...}`` turns (+ ``system``, ``tools`` columns).

Conversion follows LLaMA-Factory's ``SharegptDatasetConverter``:

- a first turn tagged ``system_tag`` is the system prompt (it wins over a ``system`` column);
- the remaining turns must alternate: positions 0, 2, 4 ... are ``user_tag`` or ``observation_tag``,
  positions 1, 3, 5 ... ``assistant_tag`` or ``function_tag``; SFT and KTO rows need an even number of
  turns, preference prompts an odd number (LLaMA-Factory drops other rows with "Invalid role tag" /
  "Invalid message count"; here they are rejects with the position and the reason);
- ``function_tag`` turns hold JSON ``{"name", "arguments"}`` (or a list of them for parallel calls) and
  become assistant messages with ``tool_calls``; ``observation_tag`` turns become ``tool`` messages;
- ``tools`` is JSON text of a list of function schemas;
- preference rows: ``chosen`` / ``rejected`` are single turn objects tagged assistant or function;
  KTO rows: a boolean label column (``kto_tag``).

Tag and column names are options named like LLaMA-Factory's ``tags`` / ``columns`` blocks. With the
tags ``role``/``content``/``user``/``assistant`` this is what LLaMA-Factory's README calls the "OpenAI
format".

The writer is the inverse. Two things LLaMA-Factory's layout cannot hold are handled its own way:
consecutive tool results (parallel calls) are merged into one observation joined by
``"\\n</tool_response>\\n<tool_response>\\n"`` (what LLaMA-Factory's openai converter does;
``merge_tool_results=False`` makes them an error), and a chain of thought is embedded in the text with
the thought words. Per-message ``train`` flags and assistant text next to tool calls cannot be written
and raise ``RowProblem`` (use the openai layout).
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
    calls_text,
    join_thought,
    json_cell,
    message,
    need_dict,
    need_list,
    need_str,
    parse_label,
    parse_tool_calls,
    present,
    split_thought,
    tools_text,
    type_name,
)

#: LLaMA-Factory's openai converter joins consecutive tool results with this separator.
TOOL_RESULT_SEPARATOR = "\n</tool_response>\n<tool_response>\n"

_CANDIDATE_COLUMNS = ("conversations", "messages", "conversation", "dialog", "chat")
#: columns that hold answers or prompts of preference / KTO layouts, never the conversation itself
_NOT_TURNS = ("chosen", "rejected", "prompt", "completion")


def find_turns_column(record: Mapping[str, Any], keys: tuple[str, str], preferred: str | None = None) -> str | None:
    """The column holding a list of turn objects with both ``keys`` (e.g. from/value)."""
    names = ([preferred] if preferred else []) + [c for c in _CANDIDATE_COLUMNS if c != preferred]
    names += [c for c in record if c not in names and c not in _NOT_TURNS]
    for name in names:
        value = record.get(name)
        if isinstance(value, list) and value and all(isinstance(t, Mapping) for t in value):
            if all(keys[0] in t and keys[1] in t for t in value):
                return name
    return None


def detect_turns(sample: Sequence[Mapping[str, Any]], keys: tuple[str, str], default_column: str,
                 evidence: str) -> Detection | None:
    """Shared detection of turn-list layouts (sharegpt from/value, openai role/content)."""
    if not sample:
        return None
    hits = 0
    columns: dict[str, int] = {}
    kinds = {"sft": 0, "preference": 0, "kto": 0}
    for rec in sample:
        col = find_turns_column(rec, keys, default_column)
        if col is None:
            continue
        hits += 1
        columns[col] = columns.get(col, 0) + 1
        if isinstance(rec.get("chosen"), Mapping) and isinstance(rec.get("rejected"), Mapping):
            kinds["preference"] += 1
        elif isinstance(rec.get("label"), bool):
            kinds["kto"] += 1
        else:
            kinds["sft"] += 1
    if not hits:
        return None
    column = max(columns, key=lambda c: columns[c])
    options = {"messages": column} if column != default_column else {}
    kind = max(kinds, key=lambda k: kinds[k])
    return Detection(hits / len(sample), kind, options, f"{column!r} holds {keys[0]}/{keys[1]} turns")


class SharegptFormat(FormatAdapter):
    """ShareGPT conversations with from/value turns (tags configurable)."""

    name = "sharegpt"
    description = "ShareGPT conversations: from/value turns, function_call/observation, tools JSON, system first"
    kinds = ("sft", "preference", "kto")
    writable = True
    defaults: dict[str, Any] = {
        "messages": "conversations",
        "system": "system",
        "tools": "tools",
        "chosen": "chosen",
        "rejected": "rejected",
        "kto_tag": "label",
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
        "observation_tag": "observation",
        "function_tag": "function_call",
        "system_tag": "system",
        "reasoning": "keep",
        "thought_words": THOUGHT_WORDS,
        "merge_tool_results": True,
    }
    column_options = ("messages", "system", "tools", "chosen", "rejected", "kto_tag")

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        return detect_turns(sample, ("from", "value"), "conversations", "from/value")

    # -- reading -------------------------------------------------------------------------------------
    def _turn(self, turn: Any, where: str) -> tuple[str, Any]:
        o = self.options
        turn = need_dict(turn, where)
        if o["role_tag"] not in turn or turn[o["role_tag"]] is None:
            raise RowProblem(f"{where}.{o['role_tag']}", "required field is missing", "missing_field")
        role = turn[o["role_tag"]]
        if not isinstance(role, str):
            raise RowProblem(f"{where}.{o['role_tag']}", f"must be a string, got {type_name(role)}", "wrong_type")
        return role, turn.get(o["content_tag"])

    def _tag_names(self) -> dict[str, str]:
        o = self.options
        return {o[k]: k for k in ("user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag") if o[k]}

    def _canonical(self, tag: str, content: Any, where: str) -> dict[str, Any]:
        """One turn -> one canonical message (tag already checked to be known)."""
        o = self.options
        content_path = f"{where}.{o['content_tag']}"
        which = self._tag_names()[tag]
        if which == "function_tag":
            calls, reasoning = parse_tool_calls(need_str(content, content_path), content_path, o["thought_words"])
            return message("assistant", "", tool_calls=calls, reasoning=reasoning)
        text = need_str(content, content_path) or ""
        if which == "assistant_tag":
            if o["reasoning"] == "split":
                reasoning, text = split_thought(text, o["thought_words"])
                return message("assistant", text, reasoning=reasoning)
            return message("assistant", text)
        role = {"user_tag": "user", "observation_tag": "tool", "system_tag": "system"}[which]
        return message(role, text)

    def _origin(self, origin: dict[str, str], canonical: str, raw: str) -> None:
        o = self.options
        origin[canonical] = raw
        origin[f"{canonical}.role"] = f"{raw}.{o['role_tag']}"
        for key in ("content", "tool_calls", "reasoning"):
            origin[f"{canonical}.{key}"] = f"{raw}.{o['content_tag']}"

    def convert(self, record: Mapping[str, Any]) -> Converted:
        o = self.options
        col = o["messages"] or "conversations"
        turns = need_list(json_cell(record.get(col), col), col)
        tags = self._tag_names()
        user_side = tuple(t for t in (o["user_tag"], o["observation_tag"]) if t)
        assistant_side = tuple(t for t in (o["assistant_tag"], o["function_tag"]) if t)
        messages: list[dict[str, Any]] = []
        origin: dict[str, str] = {}

        start = 0
        if turns and o["system_tag"]:
            role, content = self._turn(turns[0], f"{col}[0]")
            if role == o["system_tag"]:
                start = 1
                text = need_str(content, f"{col}[0].{o['content_tag']}") or ""
                if text:
                    self._origin(origin, "messages[0]", f"{col}[0]")
                    messages.append(message("system", text))
        if start == 0 and present(record, o["system"]):
            text = need_str(record[o["system"]], o["system"]) or ""
            if text:
                for key in ("", ".content", ".role"):
                    origin[f"messages[0]{key}"] = o["system"]
                messages.append(message("system", text))

        for pos, turn in enumerate(turns[start:]):
            i = pos + start
            where = f"{col}[{i}]"
            role, content = self._turn(turn, where)
            if role not in tags:
                known = ", ".join(repr(t) for t in tags)
                raise RowProblem(f"{where}.{o['role_tag']}", f"unknown role tag {role!r} (expected one of {known})", "unknown_role")
            expected = user_side if pos % 2 == 0 else assistant_side
            if role not in expected:
                if role == o["system_tag"]:
                    reason = "a system turn is only allowed as the first turn"
                else:
                    reason = (f"{role!r} at turn {pos + 1} where {' or '.join(map(repr, expected))} is expected "
                              f"(turns must alternate {'/'.join(user_side)} and {'/'.join(assistant_side)})")
                raise RowProblem(f"{where}.{o['role_tag']}", reason, "turn_order")
            self._origin(origin, f"messages[{len(messages)}]", where)
            messages.append(self._canonical(role, content, where))

        count = len(turns) - start
        kind = self.kind
        if kind == "preference":
            if count % 2 == 0:
                raise RowProblem(col, f"{count} turns after the system prompt: a preference prompt needs an odd number "
                                 f"(it must end with a {'/'.join(user_side)} turn)", "turn_order")
        elif count % 2 != 0:
            raise RowProblem(col, f"{count} turns after the system prompt: a conversation needs an even number "
                             f"(it must end with a {'/'.join(assistant_side)} turn)", "turn_order")

        row: dict[str, Any] = {"messages": messages, "tools": None}
        if present(record, o["tools"]):
            row["tools"] = tools_text(record[o["tools"]], o["tools"])
            origin["tools"] = o["tools"]
        if kind == "preference":
            for which in ("chosen", "rejected"):
                name = o[which] or which
                turn = need_dict(json_cell(record.get(name), name), name)
                role, content = self._turn(turn, name)
                if role not in assistant_side:
                    raise RowProblem(f"{name}.{o['role_tag']}", f"must be {' or '.join(map(repr, assistant_side))}, got {role!r}", "turn_order")
                row[which] = self._canonical(role, content, name)
                self._origin(origin, which, name)
        elif kind == "kto":
            name = o["kto_tag"] or "label"
            row["label"] = parse_label(record.get(name), name)
            origin["label"] = name
        return Converted(row, origin)

    # -- writing -------------------------------------------------------------------------------------
    def _write_turn(self, msg: Mapping[str, Any], where: str) -> dict[str, Any]:
        o = self.options
        if msg.get("train") is not None:
            raise RowProblem(f"{where}.train", "the sharegpt layout cannot hold per-message train flags; write layout openai", "unrepresentable")
        role = msg["role"]
        if role == "assistant" and msg.get("tool_calls"):
            if msg.get("content"):
                raise RowProblem(f"{where}.content", "the sharegpt layout cannot hold assistant text next to tool calls; write layout openai", "unrepresentable")
            tag, text = o["function_tag"], join_thought(msg.get("reasoning"), calls_text(msg["tool_calls"]), o["thought_words"])
        elif role == "assistant":
            tag, text = o["assistant_tag"], join_thought(msg.get("reasoning"), msg.get("content") or "", o["thought_words"])
        else:
            if msg.get("reasoning") is not None:
                raise RowProblem(f"{where}.reasoning", f"the sharegpt layout holds reasoning on assistant turns only, not {role}", "unrepresentable")
            tag = {"user": o["user_tag"], "tool": o["observation_tag"], "system": o["system_tag"]}[role]
            text = msg.get("content") or ""
        if not tag:
            raise RowProblem(f"{where}.role", f"no tag is configured for {role} turns", "unrepresentable")
        return {o["role_tag"]: tag, o["content_tag"]: text}

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        o = self.options
        out: dict[str, Any] = {}
        turns: list[dict[str, Any]] = []
        messages = list(row.get("messages") or [])
        for i, msg in enumerate(messages):
            where = f"messages[{i}]"
            if msg["role"] == "system" and i == 0 and not o["system_tag"]:
                out[o["system"] or "system"] = msg.get("content") or ""
                continue
            if msg["role"] == "tool" and i > 0 and messages[i - 1]["role"] == "tool":
                if not o["merge_tool_results"]:
                    raise RowProblem(f"{where}.role", "the sharegpt layout cannot hold consecutive tool results (merge_tool_results is off)", "unrepresentable")
                turns[-1][o["content_tag"]] += TOOL_RESULT_SEPARATOR + (msg.get("content") or "")
                continue
            turns.append(self._write_turn(msg, where))
        out[o["messages"] or "conversations"] = turns
        kind = self.kind or "sft"
        if kind == "preference":
            for which in ("chosen", "rejected"):
                out[o[which] or which] = self._write_turn(row[which], which)
        elif kind == "kto":
            out[o["kto_tag"] or "label"] = bool(row["label"])
        if row.get("tools") is not None:
            out[o["tools"] or "tools"] = row["tools"]
        return out
