"""Tool formats: how a slot template writes the tool list into the system prompt and an assistant's calls.

These reproduce LLaMA-Factory 0.9.5's ``tool_utils`` formats (``default``, ``qwen``, ``llama3``, ``glm4``,
``mistral``) character for character, because the training ids of tool-calling data depend on them.
A format has two halves:

- ``tool_prompt(tools)``: the text appended to the system message when a row has ``tools``;
- ``function_text(calls)``: the text of an assistant message that makes tool calls (``calls`` is a list of
  ``(name, arguments_json)`` pairs, arguments already re-serialised with ``json.dumps(..., ensure_ascii=False)``).

New formats can be added with ``register_tool_format`` (a plugin may do so at import time).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import TemplateError

Call = tuple[str, str]

DEFAULT_TOOL_PROMPT = (
    "You have access to the following tools:\n{tool_text}"
    "Use the following format if using a tool:\n"
    "```\n"
    "Action: tool name (one of [{tool_names}])\n"
    "Action Input: the input to the tool, in a JSON format representing the kwargs "
    """(e.g. ```{{"input": "hello world", "num_beams": 5}}```)\n"""
    "```\n"
)

GLM4_TOOL_PROMPT = (
    "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，"
    "你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{tool_text}"
)

LLAMA3_TOOL_PROMPT = (
    "Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n"
    "You have access to the following functions. To call a function, please respond with JSON for a function call. "
    """Respond in the format {{"name": function name, "parameters": dictionary of argument name and its value}}. """
    "Do not use variables.\n\n{tool_text}"
)

QWEN_TOOL_PROMPT = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>{tool_text}"
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    """<tool_call></tool_call> XML tags:\n<tool_call>\n{{"name": <function-name>, """
    """"arguments": <args-json-object>}}\n</tool_call>"""
)


def today() -> str:
    """Today's date the way LLaMA-Factory's llama3 tool prompt writes it (``26 Jul 2024``)."""
    return datetime.now().strftime("%d %b %Y")


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _unwrap(tool: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "function", "function": {...}}`` -> the function schema; a bare schema stays as is."""
    return tool.get("function", "") if tool.get("type") == "function" else tool


def _wrap(tool: dict[str, Any]) -> dict[str, Any]:
    """A bare function schema -> ``{"type": "function", "function": schema}`` (OpenAI style)."""
    return tool if tool.get("type") == "function" else {"type": "function", "function": tool}


def _tool_name(tool: dict[str, Any], fmt: str) -> str:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise TemplateError(f"tool format {fmt!r}: every tool needs a string 'name', got {tool!r}")
    return tool["name"]


@dataclass(frozen=True)
class ToolFormat:
    """One tool format: the tool prompt and the function-call text (see the module docstring)."""

    name: str
    tool_prompt: Callable[[list[dict[str, Any]], str | None], str]
    function_text: Callable[[list[Call]], str]
    description: str = ""


# --- default (ReAct-style "Action: / Action Input:") --------------------------------------------------------


def _default_tool_prompt(tools: list[dict[str, Any]], date: str | None = None) -> str:
    tool_text = ""
    tool_names = []
    for raw in tools:
        tool = _unwrap(raw)
        name = _tool_name(tool, "default")
        params = tool.get("parameters") or {}
        param_text = ""
        for pname, param in (params.get("properties") or {}).items():
            required = ", required" if pname in params.get("required", []) else ""
            enum = ", should be one of [{}]".format(", ".join(map(str, param["enum"]))) if param.get("enum") else ""
            items = ", where each item should be {}".format(param["items"].get("type", "")) if param.get("items") else ""
            param_text += "  - {name} ({type}{required}): {desc}{enum}{items}\n".format(
                name=pname, type=param.get("type", ""), required=required, desc=param.get("description", ""),
                enum=enum, items=items,
            )
        tool_text += "> Tool Name: {name}\nTool Description: {desc}\nTool Args:\n{args}\n".format(
            name=name, desc=tool.get("description", ""), args=param_text
        )
        tool_names.append(name)
    return DEFAULT_TOOL_PROMPT.format(tool_text=tool_text, tool_names=", ".join(tool_names))


def _default_function_text(calls: list[Call]) -> str:
    return "\n".join(f"Action: {name}\nAction Input: {arguments}" for name, arguments in calls)


# --- qwen (Hermes-style <tool_call> JSON) -------------------------------------------------------------------


def _qwen_tool_prompt(tools: list[dict[str, Any]], date: str | None = None) -> str:
    tool_text = "".join("\n" + _dumps(_wrap(tool)) for tool in tools)
    return QWEN_TOOL_PROMPT.format(tool_text=tool_text)


def _qwen_function_text(calls: list[Call]) -> str:
    texts = [_dumps({"name": name, "arguments": json.loads(arguments)}) for name, arguments in calls]
    return "\n".join(f"<tool_call>\n{text}\n</tool_call>" for text in texts)


# --- llama3 (JSON tool calling, tools in the system message) ------------------------------------------------


def _llama3_tool_prompt(tools: list[dict[str, Any]], date: str | None = None) -> str:
    tool_text = "".join(_dumps(_wrap(tool), indent=4) + "\n\n" for tool in tools)
    return LLAMA3_TOOL_PROMPT.format(date=date or today(), tool_text=tool_text)


def _llama3_function_text(calls: list[Call]) -> str:
    objects = [{"name": name, "parameters": json.loads(arguments)} for name, arguments in calls]
    return _dumps(objects[0] if len(objects) == 1 else objects)


# --- glm4 ---------------------------------------------------------------------------------------------------


def _glm4_tool_prompt(tools: list[dict[str, Any]], date: str | None = None) -> str:
    tool_text = ""
    for raw in tools:
        tool = _unwrap(raw)
        tool_text += "\n\n## {name}\n\n{body}\n在调用上述函数时，请使用 Json 格式表示调用的参数。".format(
            name=_tool_name(tool, "glm4"), body=_dumps(tool, indent=4)
        )
    return GLM4_TOOL_PROMPT.format(tool_text=tool_text)


def _glm4_function_text(calls: list[Call]) -> str:
    if len(calls) > 1:
        raise TemplateError("tool format 'glm4' does not support parallel tool calls (one call per assistant turn)")
    name, arguments = calls[0]
    return f"{name}\n{arguments}"


# --- mistral (v0.3 [AVAILABLE_TOOLS] / [TOOL_CALLS]) ---------------------------------------------------------


def _mistral_tool_prompt(tools: list[dict[str, Any]], date: str | None = None) -> str:
    return "[AVAILABLE_TOOLS] " + _dumps([_wrap(tool) for tool in tools]) + "[/AVAILABLE_TOOLS]"


def _mistral_function_text(calls: list[Call]) -> str:
    return _dumps([{"name": name, "arguments": json.loads(arguments)} for name, arguments in calls])


TOOL_FORMATS: dict[str, ToolFormat] = {}


def register_tool_format(fmt: ToolFormat, *, override: bool = False) -> None:
    """Add a tool format (name collisions are errors unless ``override``)."""
    if fmt.name in TOOL_FORMATS and not override:
        raise TemplateError(f"tool format {fmt.name!r} is already registered")
    TOOL_FORMATS[fmt.name] = fmt


for _fmt in (
    ToolFormat("default", _default_tool_prompt, _default_function_text, "ReAct style: 'Action: NAME\\nAction Input: ARGS'"),
    ToolFormat("qwen", _qwen_tool_prompt, _qwen_function_text, "Hermes/Qwen2.5 style: <tools> JSON list, <tool_call> JSON"),
    ToolFormat("llama3", _llama3_tool_prompt, _llama3_function_text, "Llama 3.1 JSON tool calling (tools in the system message)"),
    ToolFormat("glm4", _glm4_tool_prompt, _glm4_function_text, "GLM-4: '# 可用工具' sections, 'NAME\\nARGS' calls"),
    ToolFormat("mistral", _mistral_tool_prompt, _mistral_function_text, "Mistral v0.3: [AVAILABLE_TOOLS] / [TOOL_CALLS] JSON"),
):
    register_tool_format(_fmt)


def get_tool_format(name: str) -> ToolFormat:
    """The registered tool format ``name`` (TemplateError listing the known ones otherwise)."""
    try:
        return TOOL_FORMATS[name]
    except KeyError:
        raise TemplateError(f"unknown tool format {name!r}; known: {', '.join(sorted(TOOL_FORMATS))}") from None


def parse_tools(tools: str | list[Any] | None, where: str = "tools") -> list[dict[str, Any]]:
    """The row's ``tools`` (JSON text or a list) as a list of dicts."""
    if tools is None or tools == "":
        return []
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{where}: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise TemplateError(f"{where}: must be a JSON list of function schemas")
    return tools


def normalize_call(name: str, arguments: Any, where: str = "tool_calls") -> Call:
    """One call as ``(name, arguments_json)`` re-serialised like LLaMA-Factory's FunctionFormatter does."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{where}: arguments are not valid JSON ({exc.msg} at character {exc.pos})") from None
    elif arguments is None:
        arguments = {}
    return name, _dumps(arguments)
