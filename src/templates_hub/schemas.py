"""The canonical data model: one ``messages`` format for every kind of training row.

Rows travel through Hugging Face ``datasets`` as plain, Arrow-friendly dicts of exactly this shape
(see ``FEATURES``); the Pydantic models below validate at the boundaries (format adapters, the
``validate`` command, the Python API) and are never run once per token in the hot path.

Two fields hold JSON *text* rather than nested objects so every row has the same Arrow type however
different the tools are: ``ToolCall.arguments`` (a JSON object) and ``tools`` (a JSON list of function
schemas). The models accept a dict / list there too and serialise it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Role = Literal["system", "user", "assistant", "tool"]
RowKind = Literal["sft", "preference", "kto", "text"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")

#: Name of the optional column that carries each row's 1-based position in its source file, so that
#: rejects and reports can point at the original line after filtering and splitting.
ROW_COLUMN = "_row"


def _json_text(value: Any, what: str, expect: type | tuple[type, ...]) -> str:
    """Accept a dict / list (serialised) or a JSON string (checked); return JSON text."""
    if isinstance(value, (dict, list)):
        parsed = value
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is not valid JSON ({exc.msg} at character {exc.pos})") from None
        text = value
    else:
        raise ValueError(f"{what} must be a JSON string or an object, got {type(value).__name__}")
    if not isinstance(parsed, expect):
        names = expect.__name__ if isinstance(expect, type) else " or ".join(t.__name__ for t in expect)
        kind = {"dict": "object", "list": "list"}.get(names, names)
        raise ValueError(f"{what} must be a JSON {kind}, got {type(parsed).__name__}")
    return text


class ToolCall(BaseModel):
    """One function call made by the assistant."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Name of the function being called.")
    arguments: str = Field(default="{}", description="JSON text of the arguments object.")

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("tool call name is empty")
        return v

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments_json(cls, v: Any) -> str:
        if v is None:
            return "{}"
        return _json_text(v, "arguments", dict)


class Message(BaseModel):
    """One turn. ``train`` overrides the default masking of this message (None = template default)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] | None = None
    reasoning: str | None = Field(default=None, description="Chain of thought shown inside thought words.")
    train: bool | None = Field(default=None, description="True/False forces this message's tokens trained/masked.")

    @field_validator("content", mode="before")
    @classmethod
    def _content_str(cls, v: Any) -> Any:
        return "" if v is None else v

    @model_validator(mode="after")
    def _non_empty(self) -> Message:
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError(f"tool_calls: only assistant messages may have tool_calls, not {self.role}")
        if self.tool_calls is not None and not self.tool_calls:
            self.tool_calls = None
        if self.content == "" and not self.tool_calls:
            raise ValueError("content: content is empty (a message needs content unless it makes tool_calls)")
        return self

    def to_row(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": self.content,
            "tool_calls": [tc.model_dump() for tc in self.tool_calls] if self.tool_calls else None,
            "reasoning": self.reasoning,
            "train": self.train,
        }


def turn_order_problems(messages: list[Message] | list[dict[str, Any]], end: str) -> list[tuple[str, str]]:
    """Check the order LLaMA-Factory accepts, plus consecutive tool results.

    ``end`` is ``"assistant"`` (SFT / KTO rows end with the assistant's answer) or ``"prompt"``
    (preference prompts end with a user or tool turn). Returns ``(field, reason)`` pairs.
    """
    roles = [m.role if isinstance(m, Message) else m.get("role") for m in messages]
    problems: list[tuple[str, str]] = []
    previous: str | None = None
    for i, role in enumerate(roles):
        where = f"messages[{i}].role"
        if role == "system":
            if i != 0:
                problems.append((where, "a system message is only allowed as the first message"))
            previous = "system" if i == 0 else previous
            continue
        if role == "user":
            if previous not in (None, "system", "assistant"):
                problems.append((where, f"user message after a {previous} message (turns must alternate)"))
        elif role == "assistant":
            if previous not in ("user", "tool"):
                after = f"a {previous} message" if previous else "the start"
                problems.append((where, f"assistant message after {after} (it must answer a user or tool turn)"))
        elif role == "tool":
            # LLaMA-Factory accepts an observation after any assistant turn (some datasets write the call
            # as text); consecutive tool messages are the results of parallel calls.
            if previous not in ("assistant", "tool"):
                after = f"a {previous} message" if previous else "the start"
                problems.append((where, f"tool message after {after} (it must follow an assistant turn)"))
        previous = role
    non_system = [r for r in roles if r != "system"]
    if not non_system:
        problems.append(("messages", "no user or assistant message"))
    elif end == "assistant" and non_system[-1] != "assistant":
        problems.append((f"messages[{len(roles) - 1}].role", f"the last message must be an assistant message, not {non_system[-1]}"))
    elif end == "prompt" and non_system[-1] not in ("user", "tool"):
        problems.append((f"messages[{len(roles) - 1}].role", f"a prompt must end with a user or tool message, not {non_system[-1]}"))
    return problems


def _raise_order(messages: list[Message], end: str) -> None:
    problems = turn_order_problems(messages, end)
    if problems:
        raise ValueError("; ".join(f"{f}: {r}" for f, r in problems))


class _WithTools(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tools: str | None = Field(default=None, description="JSON text of a list of function schemas.")

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_json(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        return _json_text(v, "tools", list)


class Conversation(_WithTools):
    """A supervised (SFT) row: messages ending with an assistant turn."""

    messages: list[Message] = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> Conversation:
        _raise_order(self.messages, "assistant")
        return self

    def to_row(self) -> dict[str, Any]:
        return {"messages": [m.to_row() for m in self.messages], "tools": self.tools}


class PreferenceExample(_WithTools):
    """A pairwise row (DPO / ORPO / SimPO / reward model): a prompt and two assistant answers."""

    messages: list[Message] = Field(min_length=1, description="The prompt: ends with a user or tool turn.")
    chosen: Message
    rejected: Message

    @model_validator(mode="after")
    def _order(self) -> PreferenceExample:
        _raise_order(self.messages, "prompt")
        for which in ("chosen", "rejected"):
            if getattr(self, which).role != "assistant":
                raise ValueError(f"{which}.role: must be assistant, not {getattr(self, which).role}")
        return self

    def to_row(self) -> dict[str, Any]:
        return {
            "messages": [m.to_row() for m in self.messages],
            "chosen": self.chosen.to_row(),
            "rejected": self.rejected.to_row(),
            "tools": self.tools,
        }


class KTOExample(_WithTools):
    """An unpaired preference row: a conversation ending with an assistant answer, labelled good or bad."""

    messages: list[Message] = Field(min_length=1)
    label: bool = Field(description="True when the final assistant answer is desirable.")

    @field_validator("label", mode="before")
    @classmethod
    def _strict_bool(cls, v: Any) -> Any:
        if not isinstance(v, bool):
            raise ValueError(f"label must be true or false, got {v!r}")
        return v

    @model_validator(mode="after")
    def _order(self) -> KTOExample:
        _raise_order(self.messages, "assistant")
        return self

    def to_row(self) -> dict[str, Any]:
        return {"messages": [m.to_row() for m in self.messages], "label": self.label, "tools": self.tools}


class TextDocument(BaseModel):
    """A pretraining document."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        return v

    def to_row(self) -> dict[str, Any]:
        return {"text": self.text}


MODELS: dict[str, type[BaseModel]] = {
    "sft": Conversation,
    "preference": PreferenceExample,
    "kto": KTOExample,
    "text": TextDocument,
}


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


_LOCATED = re.compile(r"^[A-Za-z_][\w\[\]\.]*: ")


def validate_row(kind: str, row: dict[str, Any]) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one canonical row of ``kind``; return ``(canonical_row, [])`` or ``(None, [(field, reason)])``.

    Every problem is reported with a field path such as ``messages[2].content``, not only the first.
    """
    model = MODELS[kind]
    clean = _drop_nones(row)
    try:
        obj = model.model_validate(clean)
    except ValidationError as exc:
        problems: list[tuple[str, str]] = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            base = _loc_to_path(tuple(err["loc"]))
            if err["type"] == "value_error" and _LOCATED.match(msg):
                # model validators report "field: reason; field: reason" relative to their model
                for chunk in msg.split("; "):
                    field, _, reason = chunk.partition(": ")
                    joined = f"{base}.{field}" if base and not field.startswith("[") else f"{base}{field}"
                    problems.append((joined, reason))
                continue
            if err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append((base or "(row)", msg))
        return None, problems
    return obj.to_row(), []  # type: ignore[attr-defined]


def _drop_nones(value: Any) -> Any:
    """Arrow fills absent keys with None; treat them as absent so defaults apply."""
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None and k != ROW_COLUMN}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


def features(kind: str):  # -> datasets.Features (imported lazily: datasets is slow to import)
    """The exact Arrow schema of canonical rows of ``kind`` (with the ``_row`` provenance column)."""
    from datasets import Features, List, Value

    message = {
        "role": Value("string"),
        "content": Value("string"),
        "tool_calls": List({"name": Value("string"), "arguments": Value("string")}),
        "reasoning": Value("string"),
        "train": Value("bool"),
    }
    columns: dict[str, Any]
    if kind == "text":
        columns = {"text": Value("string")}
    else:
        columns = {"messages": List(message)}
        if kind == "preference":
            columns |= {"chosen": message, "rejected": message}
        elif kind == "kto":
            columns["label"] = Value("bool")
        columns["tools"] = Value("string")
    columns[ROW_COLUMN] = Value("int64")
    return Features(columns)


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of every published model (``templates-hub schema`` writes these)."""
    schemas: dict[str, dict[str, Any]] = {
        "message.schema.json": Message.model_json_schema(),
        "conversation.schema.json": Conversation.model_json_schema(),
        "preference.schema.json": PreferenceExample.model_json_schema(),
        "kto.schema.json": KTOExample.model_json_schema(),
        "text.schema.json": TextDocument.model_json_schema(),
    }
    try:
        from .recipe import Recipe  # added by the recipe module
    except ImportError:
        pass
    else:
        schemas["recipe.schema.json"] = Recipe.model_json_schema()
    for name, schema in schemas.items():
        schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        schema.setdefault("$id", f"https://templates-hub.dev/schemas/{name}")
    return schemas
