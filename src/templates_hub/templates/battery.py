"""A built-in battery of conversations that exercises every part of a chat template.

Used by ``templates-hub check-template`` (a template against a tokenizer's own chat_template), by the
fidelity tests (built-ins against the official templates), by the to-Jinja round trip, and by the plugin
conformance kit. Every case is a canonical SFT row (``Conversation.to_row()`` shape) plus the *features*
it exercises, so a check can skip what a template does not support (e.g. ``tools`` for a template whose
official form has no tool calling, or ``system`` for one that refuses a system turn).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

#: Features a case may exercise.
FEATURES: tuple[str, ...] = (
    "system", "empty_system", "multiturn", "unicode", "whitespace", "tools", "tool_calls", "parallel_tool_calls",
    "tool_call_text", "reasoning", "inline_reasoning",
)

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name, e.g. Paris."},
                "unit": {"type": "string", "description": "Temperature unit.", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "sites": {"type": "array", "description": "Sites to restrict to.", "items": {"type": "string"}},
            },
            "required": ["query"],
        },
    },
}


def _msg(role: str, content: str = "", *, tool_calls: list[dict[str, Any]] | None = None,
         reasoning: str | None = None) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": tool_calls, "reasoning": reasoning, "train": None}


def _call(name: str, **arguments: Any) -> dict[str, str]:
    return {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}


@dataclass(frozen=True)
class BatteryCase:
    """One conversation of the battery."""

    name: str
    description: str
    conversation: dict[str, Any]
    features: frozenset[str] = field(default_factory=frozenset)

    def row(self) -> dict[str, Any]:
        """A fresh copy of the canonical row (templates may not mutate it, but callers might)."""
        return copy.deepcopy(self.conversation)


def _case(name: str, description: str, messages: list[dict[str, Any]], features: set[str],
          tools: list[dict[str, Any]] | None = None) -> BatteryCase:
    row = {"messages": messages, "tools": json.dumps(tools, ensure_ascii=False) if tools is not None else None}
    return BatteryCase(name, description, row, frozenset(features))


_CASES: tuple[BatteryCase, ...] = (
    _case("single_turn", "one user message and one answer", [
        _msg("user", "What is the capital of France?"),
        _msg("assistant", "The capital of France is Paris."),
    ], set()),
    _case("system", "a system prompt, then one turn", [
        _msg("system", "You are a concise assistant."),
        _msg("user", "Give three tips for staying healthy."),
        _msg("assistant", "Eat well, exercise regularly and sleep enough."),
    ], {"system"}),
    _case("empty_system", "an empty system message (templates fall back to their default system)", [
        _msg("system", ""),
        _msg("user", "Hello!"),
        _msg("assistant", "Hi! How can I help you today?"),
    ], {"system", "empty_system"}),
    _case("multi_turn", "three turns without a system prompt", [
        _msg("user", "Hi, who are you?"),
        _msg("assistant", "I am a helpful assistant."),
        _msg("user", "What is 12 * 7?"),
        _msg("assistant", "12 * 7 = 84."),
        _msg("user", "And plus 3?"),
        _msg("assistant", "84 + 3 = 87."),
    ], {"multiturn"}),
    _case("multi_turn_system", "a system prompt and two turns", [
        _msg("system", "You translate English into French."),
        _msg("user", "I like reading books."),
        _msg("assistant", "J'aime lire des livres."),
        _msg("user", "In the evening."),
        _msg("assistant", "Le soir."),
    ], {"system", "multiturn"}),
    _case("unicode", "CJK, emoji, accents and typographic quotes", [
        _msg("user", "请用中文回答：今天天气怎么样？🌤️ Café naïve — “quotes”"),
        _msg("assistant", "今天是晴天，气温二十度。😀 日本語もOK: こんにちは、世界。"),
    ], {"unicode"}),
    _case("whitespace", "leading / trailing spaces and newlines kept in content", [
        _msg("user", "  Write a haiku.\n"),
        _msg("assistant", "Old pond —\nfrog jumps in\nsound of water.\n"),
    ], {"whitespace"}),
    _case("tool_call", "tools, a tool call, its result and the final answer", [
        _msg("user", "What is the weather in Berlin?"),
        _msg("assistant", "", tool_calls=[_call("get_weather", city="Berlin", unit="celsius")]),
        _msg("tool", '{"temperature": 21, "condition": "sunny"}'),
        _msg("assistant", "It is sunny and 21 °C in Berlin."),
    ], {"tools", "tool_calls"}, tools=[WEATHER_TOOL, SEARCH_TOOL]),
    _case("parallel_tool_calls", "two calls in one turn and two results", [
        _msg("system", "You can call tools."),
        _msg("user", "Weather in Paris and in 東京?"),
        _msg("assistant", "", tool_calls=[_call("get_weather", city="Paris"), _call("get_weather", city="東京")]),
        _msg("tool", '{"temperature": 18}'),
        _msg("tool", '{"temperature": 25}'),
        _msg("assistant", "Paris: 18 °C, Tokyo: 25 °C."),
    ], {"system", "tools", "tool_calls", "parallel_tool_calls", "unicode"}, tools=[WEATHER_TOOL]),
    _case("tool_call_with_text", "an assistant message with text and a tool call", [
        _msg("user", "Find recent news about Rust."),
        _msg("assistant", "Let me search for that.", tool_calls=[_call("search", query="Rust news", sites=["lwn.net"])]),
        _msg("tool", '["Rust 2.0 released"]'),
        _msg("assistant", "Rust 2.0 was released."),
    ], {"tools", "tool_calls", "tool_call_text"}, tools=[SEARCH_TOOL]),
    _case("tools_no_call", "tools are offered but the assistant answers directly", [
        _msg("system", "Be brief."),
        _msg("user", "Say hello."),
        _msg("assistant", "Hello."),
    ], {"system", "tools"}, tools=[WEATHER_TOOL]),
    _case("reasoning", "an answer with separate reasoning (rendered inside thought words)", [
        _msg("user", "Is 91 a prime number?"),
        _msg("assistant", "No, 91 = 7 × 13.", reasoning="91 / 7 = 13, so it has divisors other than 1 and itself."),
    ], {"reasoning"}),
    _case("reasoning_multi_turn", "two turns, both with reasoning", [
        _msg("user", "What is 2 + 2?"),
        _msg("assistant", "4.", reasoning="Two plus two is four."),
        _msg("user", "And times 3?"),
        _msg("assistant", "12.", reasoning="4 * 3 = 12."),
    ], {"reasoning", "multiturn"}),
    _case("inline_reasoning", "chain of thought written inline in content, as LLaMA-Factory data does", [
        _msg("user", "Name a primary colour."),
        _msg("assistant", "<think>\nRed, yellow or blue.\n</think>\n\nRed."),
    ], {"inline_reasoning"}),
)


def battery(*, exclude: set[str] | frozenset[str] = frozenset(), names: list[str] | None = None) -> list[BatteryCase]:
    """The battery, without cases exercising any feature in ``exclude`` (or only the cases in ``names``)."""
    cases = [c for c in _CASES if not (c.features & set(exclude))]
    if names is not None:
        unknown = set(names) - {c.name for c in _CASES}
        if unknown:
            raise KeyError(f"unknown battery case(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.name in names]
    return cases


def case(name: str) -> BatteryCase:
    """One case by name."""
    for c in _CASES:
        if c.name == name:
            return c
    raise KeyError(f"unknown battery case {name!r}; known: {', '.join(c.name for c in _CASES)}")
