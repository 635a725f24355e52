"""Tool-call validity: arguments parse to a JSON object, called tools exist, required arguments are given."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from .base import Filter
from .text import assistant_messages, row_kind


def tool_schemas(tools: Any) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
    """``{name: parameters schema}`` from a row's ``tools`` JSON (plain or OpenAI ``{"type": "function"}``).

    Returns ``(None, None)`` when the row declares no tools and ``(None, reason)`` when ``tools`` is broken.
    """
    if tools is None or tools == "":
        return None, None
    try:
        parsed = json.loads(tools) if isinstance(tools, str) else tools
    except json.JSONDecodeError as exc:
        return None, f"tools is not valid JSON ({exc.msg} at character {exc.pos})"
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return None, f"tools must be a JSON list of functions, not {type(parsed).__name__}"
    schemas: dict[str, dict[str, Any]] = {}
    for i, tool in enumerate(parsed):
        spec = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            return None, f"tools[{i}] has no function name"
        params = spec.get("parameters")
        schemas[spec["name"]] = params if isinstance(params, dict) else {}
    return schemas, None


class ToolCalls(Filter):
    """Drop rows with broken tool calls: arguments that are not a JSON object, or calls to undeclared tools."""

    name: ClassVar[str] = "tool_calls"

    known_tools: bool = Field(default=True, description="Called names must be declared in the row's `tools` (when it has tools).")
    require_tools: bool = Field(default=False, description="Drop rows that make tool calls but declare no `tools`.")
    required_arguments: bool = Field(
        default=False, description="Arguments must include every parameter the tool's schema lists as required."
    )

    def check(self, row: dict[str, Any]) -> str | None:
        kind = row_kind(list(row))
        schemas, broken = tool_schemas(row.get("tools"))
        if broken:
            return broken
        for path, message in assistant_messages(row, kind):
            for j, call in enumerate(message.get("tool_calls") or []):
                where = f"{path}.tool_calls[{j}]"
                name = (call or {}).get("name") or ""
                if not name.strip():
                    return f"{where}.name is empty"
                raw = call.get("arguments")
                try:
                    args = json.loads(raw) if isinstance(raw, str) else ({} if raw is None else raw)
                except json.JSONDecodeError as exc:
                    return f"{where}.arguments is not valid JSON ({exc.msg} at character {exc.pos})"
                if not isinstance(args, dict):
                    return f"{where}.arguments must be a JSON object, not {type(args).__name__}"
                if schemas is None:
                    if self.require_tools:
                        return f"{where} calls {name!r} but the row declares no tools"
                    continue
                if self.known_tools and name not in schemas:
                    known = ", ".join(sorted(schemas)) or "none"
                    return f"{where} calls unknown tool {name!r} (declared: {known})"
                if self.required_arguments and name in schemas:
                    required = schemas[name].get("required") or []
                    missing = [p for p in required if isinstance(p, str) and p not in args]
                    if missing:
                        return f"{where} ({name}) lacks required argument(s): {', '.join(missing)}"
        return None
