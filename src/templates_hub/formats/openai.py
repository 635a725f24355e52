"""OpenAI chat messages: ``{"messages": [{"role", "content", "tool_calls"?}, ...], "tools"?}``.

Roles are ``system`` / ``user`` / ``assistant`` / ``tool`` (the tags are options, like LLaMA-Factory's
``tags`` block). Assistant ``tool_calls`` may be OpenAI's ``{"type": "function", "function": {"name",
"arguments"}}`` or the flat ``{"name", "arguments"}``; ``arguments`` may be JSON text or an object. A
message tagged ``function_tag`` holds its calls as JSON text, as in LLaMA-Factory. ``content`` may be a
string or a list of text parts. The chain of thought is read from ``reasoning``, ``reasoning_content`` or
``thinking``; a per-message ``train`` flag from ``train`` (or axolotl's 0/1 ``weight``).

Unlike LLaMA-Factory's undocumented ``formatting: openai`` converter, this adapter does not merge
consecutive tool results and does not rewrite the system prompt (that converter appends
"detailed thinking off" for Nemotron models): the messages are taken as they are.

This is the one layout that holds every canonical row without loss, so the writer is the exact inverse
of the reader: calls are written as OpenAI tool calls with ``arguments`` as JSON text, ``tools`` as a
list (``tools_as="string"`` keeps JSON text), and ``reasoning`` / ``train`` keys only when set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .base import (
    THOUGHT_WORDS,
    Converted,
    Detection,
    FormatAdapter,
    RowProblem,
    arguments_text,
    json_cell,
    message,
    need_dict,
    need_list,
    need_str,
    parse_label,
    parse_tool_calls,
    present,
    tools_text,
    type_name,
)
from .sharegpt import detect_turns

_REASONING_KEYS = ("reasoning", "reasoning_content", "thinking")


def content_text(value: Any, where: str) -> str:
    """A message's content: a string, null, or a list of ``{"type": "text", "text": ...}`` parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts: list[str] = []
        for i, part in enumerate(value):
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, Mapping) or part.get("type", "text") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, Mapping) else type_name(part)
                raise RowProblem(f"{where}[{i}]", f"only text content parts are supported, got {kind!r}", "wrong_type")
            texts.append(part["text"])
        return "".join(texts)
    raise RowProblem(where, f"must be a string, got {type_name(value)}", "wrong_type")


class OpenAIFormat(FormatAdapter):
    """OpenAI-style chat messages (role/content/tool_calls, tool results)."""

    name = "openai"
    description = "OpenAI chat messages: role/content, assistant tool_calls, tool results, tools list"
    kinds = ("sft", "preference", "kto")
    writable = True
    defaults: dict[str, Any] = {
        "messages": "messages",
        "system": "system",
        "tools": "tools",
        "chosen": "chosen",
        "rejected": "rejected",
        "kto_tag": "label",
        "role_tag": "role",
        "content_tag": "content",
        "user_tag": "user",
        "assistant_tag": "assistant",
        "observation_tag": "tool",
        "function_tag": "function_call",
        "system_tag": "system",
        "thought_words": THOUGHT_WORDS,
        "tools_as": "list",  # writer: list | string
        "arguments_as": "string",  # writer: string (OpenAI) | object
    }
    column_options = ("messages", "system", "tools", "chosen", "rejected", "kto_tag")

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        return detect_turns(sample, ("role", "content"), "messages", "role/content")

    # -- reading -------------------------------------------------------------------------------------
    def _message(self, raw: Any, where: str, origin: dict[str, str], canonical: str) -> dict[str, Any]:
        o = self.options
        raw = need_dict(raw, where)
        role_path = f"{where}.{o['role_tag']}"
        content_path = f"{where}.{o['content_tag']}"
        origin[canonical] = where
        origin[f"{canonical}.role"] = role_path
        origin[f"{canonical}.content"] = content_path
        origin[f"{canonical}.tool_calls"] = f"{where}.tool_calls"
        tag = raw.get(o["role_tag"])
        if tag is None:
            raise RowProblem(role_path, "required field is missing", "missing_field")
        if not isinstance(tag, str):
            raise RowProblem(role_path, f"must be a string, got {type_name(tag)}", "wrong_type")
        roles = {o["user_tag"]: "user", o["assistant_tag"]: "assistant", o["observation_tag"]: "tool",
                 o["system_tag"]: "system", o["function_tag"]: "function"}
        roles.pop(None, None)
        if tag not in roles:
            known = ", ".join(repr(t) for t in roles)
            raise RowProblem(role_path, f"unknown role {tag!r} (expected one of {known})", "unknown_role")
        role = roles[tag]
        reasoning = None
        for key in _REASONING_KEYS:
            if raw.get(key) is not None:
                reasoning = need_str(raw[key], f"{where}.{key}")
                origin[f"{canonical}.reasoning"] = f"{where}.{key}"
                break
        train = raw.get("train")
        if train is None and raw.get("weight") is not None:
            weight = raw["weight"]
            if isinstance(weight, bool) or weight not in (0, 1):
                raise RowProblem(f"{where}.weight", f"must be 0 or 1, got {weight!r}", "wrong_type")
            train = bool(weight)
            origin[f"{canonical}.train"] = f"{where}.weight"
        elif train is not None:
            if not isinstance(train, bool):
                raise RowProblem(f"{where}.train", f"must be true or false, got {train!r}", "wrong_type")
            origin[f"{canonical}.train"] = f"{where}.train"
        if role == "function":  # LLaMA-Factory's function tag: the calls as JSON text
            calls, thought = parse_tool_calls(raw.get(o["content_tag"]), content_path, o["thought_words"])
            return message("assistant", "", tool_calls=calls, reasoning=reasoning if reasoning is not None else thought, train=train)
        content = content_text(raw.get(o["content_tag"]), content_path)
        calls = None
        if raw.get("tool_calls") is not None:
            items = need_list(raw["tool_calls"], f"{where}.tool_calls")
            if items and role != "assistant":
                raise RowProblem(f"{where}.tool_calls", f"only assistant messages may make tool calls, not {tag!r}", "bad_tool_call")
            calls = []
            for j, item in enumerate(items):
                sub = f"{where}.tool_calls[{j}]"
                item = need_dict(item, sub)
                fn = item.get("function") if isinstance(item.get("function"), Mapping) else item
                fn_path = f"{sub}.function" if fn is not item else sub
                name = fn.get("name")
                if not isinstance(name, str) or not name.strip():
                    raise RowProblem(f"{fn_path}.name", "tool call has no name", "bad_tool_call")
                calls.append({"name": name, "arguments": arguments_text(fn.get("arguments"), fn_path)})
        return message(role, content, tool_calls=calls, reasoning=reasoning, train=train)

    def convert(self, record: Mapping[str, Any]) -> Converted:
        o = self.options
        col = o["messages"] or "messages"
        raw_messages = need_list(json_cell(record.get(col), col), col)
        messages: list[dict[str, Any]] = []
        origin: dict[str, str] = {}
        has_system = bool(raw_messages) and isinstance(raw_messages[0], Mapping) and raw_messages[0].get(o["role_tag"]) == o["system_tag"]
        if not has_system and present(record, o["system"]):
            text = need_str(record[o["system"]], o["system"]) or ""
            if text:
                for key in ("", ".content", ".role"):
                    origin[f"messages[0]{key}"] = o["system"]
                messages.append(message("system", text))
        for i, raw in enumerate(raw_messages):
            messages.append(self._message(raw, f"{col}[{i}]", origin, f"messages[{len(messages)}]"))
        row: dict[str, Any] = {"messages": messages, "tools": None}
        if present(record, o["tools"]):
            row["tools"] = tools_text(record[o["tools"]], o["tools"])
            origin["tools"] = o["tools"]
        if self.kind == "preference":
            for which in ("chosen", "rejected"):
                name = o[which] or which
                value = json_cell(record.get(name), name)
                if isinstance(value, list) and len(value) == 1:  # TRL: a one-message list
                    value, path = value[0], f"{name}[0]"
                else:
                    path = name
                row[which] = self._message(need_dict(value, name), path, origin, which)
        elif self.kind == "kto":
            name = o["kto_tag"] or "label"
            row["label"] = parse_label(record.get(name), name)
            origin["label"] = name
        return Converted(row, origin)

    # -- writing -------------------------------------------------------------------------------------
    def _write_message(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        o = self.options
        tag = {"user": o["user_tag"], "assistant": o["assistant_tag"], "tool": o["observation_tag"], "system": o["system_tag"]}[msg["role"]]
        out: dict[str, Any] = {o["role_tag"]: tag, o["content_tag"]: msg.get("content") or ""}
        if msg.get("tool_calls"):
            out["tool_calls"] = [
                {"type": "function", "function": {
                    "name": call["name"],
                    "arguments": (call.get("arguments") or "{}") if o["arguments_as"] == "string"
                    else json.loads(call.get("arguments") or "{}"),
                }}
                for call in msg["tool_calls"]
            ]
        if msg.get("reasoning") is not None:
            out["reasoning"] = msg["reasoning"]
        if msg.get("train") is not None:
            out["train"] = msg["train"]
        return out

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        o = self.options
        out: dict[str, Any] = {o["messages"] or "messages": [self._write_message(m) for m in row.get("messages") or []]}
        kind = self.kind or "sft"
        if kind == "preference":
            for which in ("chosen", "rejected"):
                out[o[which] or which] = self._write_message(row[which])
        elif kind == "kto":
            out[o["kto_tag"] or "label"] = bool(row["label"])
        if row.get("tools") is not None:
            out[o["tools"] or "tools"] = row["tools"] if o["tools_as"] == "string" else json.loads(row["tools"])
        return out
