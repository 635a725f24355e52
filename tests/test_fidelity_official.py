"""Fidelity: built-in templates against the official Hugging Face chat templates in ../shared/chat_templates.

``FIDELITY`` is the one explicit table mapping built-ins to official template files. For every row and
variant, each battery case must render to exactly transformers' ``apply_chat_template(..., tokenize=False)``
with the official template, except:

- cases exercising a feature in ``skip`` (the official template has no notion of it, e.g. tool calls);
- cases exercising a feature in ``refuses``: the official template must raise (e.g. "System role not
  supported"), which is checked;
- cases in ``differs``: LLaMA-Factory deliberately renders them differently; they must still differ (so the
  table and docs/templates.md stay true), and the ``NAME@hf`` rows show the official behaviour is offered.

Variants: ``full`` (whole conversation), ``prompt`` (cut before the last answer, with the generation
prompt: the inference prompt), ``nothink`` (``enable_thinking=False``). The bos/eos given to the official
template are the family's (``special_tokens.json``); date-dependent templates get ``date_string``.
Everything skips when ../shared is absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from templates_hub.errors import TemplateError
from templates_hub.templates import RenderOptions, SpecialTokens, get_template, render_text
from templates_hub.templates.battery import battery
from templates_hub.templates.jinja_template import hf_messages, hf_tools

ALL = "*"
NO_TOOLS = "the official template has no tool calling"
NO_REASONING = "the official template ignores reasoning"
EMPTY_SYSTEM = "LF replaces an empty system message by the default system (or drops it); the official template renders it"
TRIMS = "the official template strips whitespace around message contents; LF keeps it"
LLAMA2_SPACES = "LF writes the answer right after [/INST] and before </s>; the official template adds a space on each side"


@dataclass(frozen=True)
class Fidelity:
    template: str
    official: str
    skip: dict[str, str] = field(default_factory=dict)  # feature -> why the case is not compared
    refuses: frozenset[str] = frozenset()  # features the official template raises on
    differs: dict[str, str] = field(default_factory=dict)  # "case", "case@variant" or "*" -> why LF differs
    variants: tuple[str, ...] = ("full", "prompt")
    lf_refuses: frozenset[str] = frozenset()  # cases the built-in itself refuses (e.g. glm4: parallel calls)


PLAIN = {"tools": NO_TOOLS, "reasoning": NO_REASONING}

FIDELITY: list[Fidelity] = [
    Fidelity("qwen", "qwen2.5-instruct", skip={"reasoning": NO_REASONING}, differs={
        "empty_system": EMPTY_SYSTEM,
        "tool_call_with_text": "the official template writes '\\n' between an assistant's text and its tool calls"}),
    Fidelity("qwen@hf", "qwen2.5-instruct", skip={"reasoning": NO_REASONING}),
    Fidelity("qwen3", "qwen3", variants=("full", "prompt", "nothink"), differs={
        "empty_system": EMPTY_SYSTEM,
        "multi_turn": "LF adds an empty <think> block to every answer without one; the official template only after "
                      "the last user message",
        "multi_turn_system": "as multi_turn",
        "tool_call": "LF's tool prompt starts with '\\n\\n' when there is no system prompt, and LF adds an empty "
                     "thought before tool calls",
        "parallel_tool_calls": "as tool_call (empty thought before the calls)",
        "tool_call_with_text": "as tool_call",
        "reasoning_multi_turn": "LF keeps the reasoning of earlier turns; the official template drops it",
        "reasoning@nothink": "enable_thinking=False: LF strips every chain of thought, the official template keeps "
                             "the last answer's",
        "inline_reasoning@nothink": "as reasoning@nothink"}),
    Fidelity("qwen3", "qwen3-initial-release", variants=("full",), differs={
        "empty_system": EMPTY_SYSTEM, "multi_turn": "as qwen3", "multi_turn_system": "as qwen3",
        "tool_call": "as qwen3", "parallel_tool_calls": "as qwen3", "tool_call_with_text": "as qwen3",
        "reasoning_multi_turn": "as qwen3"}),
    Fidelity("llama2", "llama-2-chat", skip=PLAIN, differs={
        "single_turn@full": LLAMA2_SPACES, "system@full": LLAMA2_SPACES, "unicode@full": LLAMA2_SPACES,
        "inline_reasoning@full": LLAMA2_SPACES, "multi_turn": LLAMA2_SPACES, "multi_turn_system": LLAMA2_SPACES,
        "empty_system": "the official template keeps an empty <<SYS>> block", "whitespace": TRIMS}),
    Fidelity("llama2@hf", "llama-2-chat", skip=PLAIN),
    Fidelity("llama3", "llama-3-instruct", skip=PLAIN, differs={"empty_system": EMPTY_SYSTEM, "whitespace": TRIMS}),
    Fidelity("llama3@hf", "llama-3-instruct", skip=PLAIN),
    Fidelity("mistral", "mistral-7b-instruct-v0.3", skip={"reasoning": NO_REASONING},
             refuses=frozenset({"tool_calls"}), differs={
        "system@full": "v0.3 writes the system prompt into the last user message, LF into the first",
        "multi_turn_system": "as system", "whitespace@full": TRIMS,
        "empty_system@prompt": "v0.3 writes an empty system prompt as '\\n\\n'",
        "tools_no_call": "v0.3 writes [AVAILABLE_TOOLS] before the last user message, LF in the first"}),
    Fidelity("mistral@hf", "mistral-7b-instruct-v0.1", skip=PLAIN),
    Fidelity("mistral@hf", "mixtral-8x7b-instruct", skip=PLAIN, variants=("full",)),
    Fidelity("gemma", "gemma-2-it", skip=PLAIN, refuses=frozenset({"system"}), differs={"whitespace": TRIMS}),
    Fidelity("gemma@hf", "gemma-2-it", skip=PLAIN, refuses=frozenset({"system"})),
    Fidelity("gemma2", "gemma-2-it", skip=PLAIN, refuses=frozenset({"system"}), differs={"whitespace": TRIMS}),
    Fidelity("gemma3", "gemma-3-it", skip=PLAIN, differs={"empty_system": EMPTY_SYSTEM, "whitespace": TRIMS}),
    Fidelity("gemma3@hf", "gemma-3-it", skip=PLAIN),
    Fidelity("phi", "phi-3-mini-instruct", skip=PLAIN, differs={
        "empty_system": EMPTY_SYSTEM,
        **{f"{c}@full": "the official template ends the conversation with the tokenizer's eos (<|endoftext|>)"
           for c in ("single_turn", "system", "multi_turn", "multi_turn_system", "unicode", "whitespace",
                     "inline_reasoning")}}),
    Fidelity("phi@hf", "phi-3-mini-instruct", skip=PLAIN),
    Fidelity("phi4", "phi-4", skip=PLAIN, differs={"empty_system": EMPTY_SYSTEM}),
    Fidelity("phi4@hf", "phi-4", skip=PLAIN),
    Fidelity("deepseek", "deepseek-v2-chat", skip=PLAIN, differs={
        **{f"{c}@full": "the official template writes 'Assistant: ' + answer, LF 'Assistant:' + answer"
           for c in ("single_turn", "system", "unicode", "whitespace", "inline_reasoning")},
        "multi_turn": "as single_turn (history answers)", "multi_turn_system": "as single_turn",
        "empty_system": "the official template writes an empty system message as '\\n\\n'"}),
    Fidelity("deepseek@hf", "deepseek-v2-chat", skip=PLAIN),
    Fidelity("deepseek3", "deepseek-v3", skip={"reasoning": NO_REASONING}, differs={
        c: "LF renders tools in its default ReAct format; DeepSeek-V3 uses its own tool-call markers"
        for c in ("tool_call", "parallel_tool_calls", "tool_call_with_text", "tools_no_call")}),
    Fidelity("deepseekr1", "deepseek-r1", refuses=frozenset({"tool_calls"}), differs={
        ALL: "LF adds an empty <think> block to answers and keeps reasoning; the official template drops reasoning "
             "from answers and ends the generation prompt with '<think>\\n'"}),
    Fidelity("glm4", "glm-4", skip={"reasoning": NO_REASONING}, lf_refuses=frozenset({"parallel_tool_calls"}), differs={
        c: "GLM-4's template takes tools from a system message's 'tools' field, not from the tools argument"
        for c in ("tool_call", "parallel_tool_calls", "tool_call_with_text", "tools_no_call")}),
    Fidelity("yi", "yi-chat", skip=PLAIN, differs={
        "system": "the official template writes the system text raw, LF as a ChatML system turn",
        "multi_turn_system": "as system"}),
    Fidelity("yi@hf", "yi-chat", skip=PLAIN),
    Fidelity("zephyr", "zephyr", skip=PLAIN, differs={
        ALL: "LF injects a default system prompt and writes no newline after each </s>"}),
    Fidelity("zephyr@hf", "zephyr", skip=PLAIN),
    Fidelity("falcon", "falcon-instruct", skip=PLAIN, differs={
        ALL: "LF's falcon is 'User: ...\\nFalcon:'; the official template is 'User: ...\\n\\nAssistant: ...'"}),
    Fidelity("intern2", "internlm2", skip=PLAIN, differs={
        c: "LF injects InternLM's default system prompt; the official template does not"
        for c in ("single_turn", "empty_system", "multi_turn", "unicode", "whitespace", "inline_reasoning")}),
    Fidelity("intern2@hf", "internlm2", skip=PLAIN),
    Fidelity("cohere", "command-r", skip=PLAIN, differs={"empty_system": EMPTY_SYSTEM, "whitespace": TRIMS}),
    Fidelity("cohere@hf", "command-r", skip=PLAIN),
    Fidelity("smollm2", "smollm2", skip=PLAIN, differs={
        c: "LF's default system prompt ends with a period, the official one does not"
        for c in ("single_turn", "empty_system", "multi_turn", "unicode", "whitespace", "inline_reasoning")}),
    Fidelity("smollm2@hf", "smollm2", skip=PLAIN),
    Fidelity("olmo", "olmo-2", skip=PLAIN, differs={
        ALL: "LF's olmo is OLMo 1's format; OLMo 2 uses <|system|>/<|user|> turns with newlines"}),
    Fidelity("baichuan2", "baichuan2", skip=PLAIN),
    Fidelity("vicuna", "vicuna", skip=PLAIN, differs={
        ALL: "the file is a third-party stand-in (Vicuna ships no template) with bos and newlines LF does not write"}),
    Fidelity("chatml", "chatml", skip=PLAIN, differs={"empty_system": EMPTY_SYSTEM}),
    Fidelity("chatml@hf", "chatml", skip=PLAIN),
]

NOT_MAPPED = {
    "default": "LLaMA-Factory's own format, no official counterpart",
    "empty": "LLaMA-Factory's own format, no official counterpart",
    "alpaca": "Stanford Alpaca ships no chat template",
    "user_assistant_tags": "the seed notebook's own format",
    "qwen3_nothink": "targets Qwen3-Instruct-2507, whose template is not among the official files",
    "deepseekcoder": "no official file in ../shared/chat_templates",
    "smollm": "no official file in ../shared/chat_templates",
    "starchat": "no official file in ../shared/chat_templates",
    "solar": "no official file in ../shared/chat_templates",
}

ROWS = [pytest.param(row, variant, id=f"{row.template}~{row.official}~{variant}")
        for row in FIDELITY for variant in row.variants]


def test_every_builtin_is_mapped_or_explained():
    from templates_hub.plugins import get_registry

    mapped = {row.template for row in FIDELITY} | set(NOT_MAPPED)
    assert set(get_registry("templates").names()) <= mapped


def _prompt_row(row):
    last = max(i for i, m in enumerate(row["messages"]) if m["role"] == "assistant")
    return {**row, "messages": row["messages"][:last]}


@pytest.mark.shared
@pytest.mark.parametrize("row, variant", ROWS)
def test_builtin_matches_official_template(shared_dir, tiny_tokenizer, row: Fidelity, variant: str):
    directory = shared_dir / "chat_templates"
    source_file = directory / f"{row.official}.jinja"
    if not source_file.is_file():
        pytest.skip(f"{source_file} is absent")
    source = source_file.read_text(encoding="utf-8")
    special = json.loads((directory / "special_tokens.json").read_text(encoding="utf-8"))[row.official]
    tokens = SpecialTokens(bos_token=special["bos_token"], eos_token=special["eos_token"])
    template = get_template(row.template)
    generation = variant == "prompt"
    options = RenderOptions(add_generation_prompt=generation, enable_thinking=variant != "nothink",
                            extra={"date_string": "26 Jul 2024"})
    kwargs = {"bos_token": special["bos_token"] or "", "eos_token": special["eos_token"], "date_string": "26 Jul 2024"}
    if variant == "nothink":
        kwargs["enable_thinking"] = False
    problems = []
    compared = 0
    for case in battery(exclude=set(row.skip)):
        conversation = _prompt_row(case.row()) if generation else case.row()
        try:
            mine = render_text(template.render(conversation, tokens, options))
        except TemplateError:
            if case.name in row.lf_refuses:
                continue
            raise
        if case.name in row.lf_refuses:
            problems.append(f"{case.name}: expected {row.template} to refuse it")
        try:
            official = tiny_tokenizer.apply_chat_template(
                hf_messages(conversation), tools=hf_tools(conversation), chat_template=source, tokenize=False,
                add_generation_prompt=generation, **kwargs)
        except Exception as exc:  # jinja2 TemplateError from raise_exception, or the template failing
            if case.features & row.refuses:
                continue
            problems.append(f"{case.name}: the official template raised {exc!r}")
            continue
        if case.features & row.refuses:
            problems.append(f"{case.name}: expected the official template to refuse it")
            continue
        reason = row.differs.get(f"{case.name}@{variant}") or row.differs.get(case.name) or row.differs.get(ALL)
        if reason and mine == official:
            problems.append(f"{case.name}: listed as differing ({reason}) but equal - update the table and the docs")
        elif not reason and mine != official:
            problems.append(f"{case.name}: differs\n  LF:       {mine!r}\n  official: {official!r}")
        compared += 1
    assert not problems, "\n".join(problems)
    assert compared > 0
