"""Jinja templates: Hugging Face chat templates (a file, a string, or a tokenizer's own ``chat_template``).

The template renders in the hardened sandbox of ``sandbox.py`` with the variables transformers'
``apply_chat_template`` passes (``messages``, ``tools``, ``add_generation_prompt``, the tokenizer's special
tokens, and extra keyword arguments such as ``date_string`` / ``enable_thinking`` from
``RenderOptions.extra``), so the text equals ``apply_chat_template(..., tokenize=False)``.

Which characters are trained:

- with ``{% generation %}`` blocks in the template, exactly what they enclose;
- otherwise, for each assistant message k, the text between rendering ``messages[:k]`` with the
  generation prompt and rendering ``messages[:k+1]``. Both must be prefixes of the full rendering; a
  template that rewrites earlier turns when the conversation grows (for instance one that drops the
  reasoning of past turns) is not *prefix-stable* and raises a ``TemplateError`` that says so.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import TemplateError
from .base import Piece, RenderOptions, SpecialTokens
from .sandbox import GENERATION_TAG, Limits, compile_template, render
from .slot import FALLBACK_EOS

_REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")


def hf_messages(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """Canonical messages as transformers passes them to templates.

    ``tool_calls`` become ``{"type": "function", "function": {"name", "arguments": <object>}}``; reasoning
    is given under ``reasoning``, ``reasoning_content`` and ``thinking`` (transformers' aliasing); keys
    whose value is None are dropped, as ``apply_chat_template`` does.
    """
    out: list[dict[str, Any]] = []
    for message in conversation.get("messages") or []:
        msg: dict[str, Any] = {"role": message.get("role"), "content": message.get("content") or ""}
        calls = message.get("tool_calls")
        if calls:
            converted = []
            for call in calls:
                arguments = call.get("arguments")
                if isinstance(arguments, str):
                    try:
                        arguments = json.loads(arguments) if arguments.strip() else {}
                    except json.JSONDecodeError:
                        pass  # keep the text; templates that tojson it will show it as a string
                converted.append({"type": "function", "function": {"name": call.get("name"), "arguments": arguments}})
            msg["tool_calls"] = converted
        reasoning = message.get("reasoning")
        if reasoning is not None:
            msg["thinking"] = reasoning
            msg["reasoning"] = reasoning
            msg["reasoning_content"] = reasoning
        out.append(msg)
    return out


def hf_tools(conversation: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = conversation.get("tools")
    if tools is None or tools == "":
        return None
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"tools: not valid JSON ({exc.msg})") from None
    return tools


class JinjaTemplate:
    """A Hugging Face chat template rendered in the sandbox (see the module docstring)."""

    kind = "jinja"
    efficient_eos = False
    replace_eos = False
    replace_jinja_template = False
    stop_words: tuple[str, ...] = ()
    lf_name: str | None = None

    def __init__(self, chat_template: str, name: str = "jinja", description: str = "", *,
                 source: str | None = None, special_tokens: SpecialTokens | None = None,
                 limits: Limits | None = None, variables: dict[str, Any] | None = None):
        if not isinstance(chat_template, str) or not chat_template.strip():
            raise TemplateError(f"template {name!r}: the chat template is empty")
        self.source_text = chat_template
        self.name = name
        self.description = description or "Jinja chat template"
        self.source = source
        self.special_tokens = special_tokens
        self.limits = limits or Limits()
        self.variables = dict(variables or {})
        self.has_generation_blocks = bool(GENERATION_TAG.search(chat_template))
        self._compiled: Any = None
        self._compile()  # syntax and safety checks happen now, before any row is rendered

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, name: str | None = None) -> JinjaTemplate:
        """The tokenizer's own ``chat_template`` (the ``default`` one when it has several)."""
        label = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()), None)
        elif isinstance(template, list):  # [{"name": ..., "template": ...}] in tokenizer_config.json
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        if not template:
            raise TemplateError(
                f"tokenizer {label!r} has no chat_template, so it cannot supply the template: name a registered "
                "template instead (`templates-hub list templates`) or a .jinja / .yaml template file"
            )
        variables = {}
        for attr in ("unk_token", "sep_token", "cls_token", "mask_token"):
            value = getattr(tokenizer, attr, None)
            if isinstance(value, str):
                variables[attr] = value
        return cls(template, name=name or f"tokenizer:{label}", description=f"chat_template of {label}",
                   source=label, special_tokens=SpecialTokens.from_tokenizer(tokenizer), variables=variables)

    # -- pickling (datasets.map with num_proc): the compiled template is rebuilt in the worker ------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_compiled"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _compile(self) -> Any:
        if self._compiled is None:
            self._compiled = compile_template(self.source_text, self.name)[1]
        return self._compiled

    # -- rendering ----------------------------------------------------------------------------------------

    def effective_eos(self, tokens: SpecialTokens | None) -> str:
        tokens = tokens or self.special_tokens
        return (tokens.eos_token if tokens is not None and tokens.eos_token else None) or FALLBACK_EOS

    def to_jinja(self, *, generation_tags: bool = False) -> str:
        return self.source_text

    def _variables(self, tokens: SpecialTokens | None, opts: RenderOptions) -> dict[str, Any]:
        tokens = tokens or self.special_tokens or SpecialTokens()
        variables: dict[str, Any] = dict(self.variables)
        for key in ("bos_token", "eos_token", "pad_token"):
            value = getattr(tokens, key)
            if value is not None:
                variables[key] = value
        if opts.enable_thinking is not None:
            variables["enable_thinking"] = opts.enable_thinking
        variables.update(opts.extra)
        return variables

    def render_text(self, conversation: dict[str, Any], tokens: SpecialTokens | None = None,
                    options: RenderOptions | None = None, *, messages: list[dict[str, Any]] | None = None,
                    add_generation_prompt: bool | None = None) -> tuple[str, list[tuple[int, int]]]:
        """The rendered string and the ``{% generation %}`` spans (character offsets)."""
        opts = options or RenderOptions()
        variables = self._variables(tokens, opts)
        variables["messages"] = hf_messages(conversation) if messages is None else messages
        variables["tools"] = hf_tools(conversation)
        variables.setdefault("documents", None)  # RAG templates get documents through RenderOptions.extra
        variables["add_generation_prompt"] = opts.add_generation_prompt if add_generation_prompt is None \
            else add_generation_prompt
        return render(self._compile(), self.name, variables, self.limits)

    def render(self, conversation: dict[str, Any], tokens: SpecialTokens | None = None,
               options: RenderOptions | None = None) -> list[Piece]:
        opts = options or RenderOptions()
        text, spans = self.render_text(conversation, tokens, opts)
        assistants = [i for i, m in enumerate(conversation.get("messages") or []) if m.get("role") == "assistant"]
        last_only = opts.mode == "oneturn" or opts.mask_history
        if self.has_generation_blocks:
            owners: list[int | None] = list(assistants) if len(spans) == len(assistants) else [None] * len(spans)
        else:
            # with mask_history / oneturn only the last answer is trained, so only its span must be found:
            # templates that rewrite earlier turns (e.g. drop past reasoning) still work then
            wanted = assistants[-1:] if last_only else assistants
            spans, owners = self._prefix_spans(conversation, tokens, opts, text, wanted)
        if last_only and spans:
            spans, owners = spans[-1:], owners[-1:]
        return _split(text, spans, owners, oneturn=opts.mode == "oneturn")

    def _prefix_spans(self, conversation: dict[str, Any], tokens: SpecialTokens | None, opts: RenderOptions,
                      full: str, assistants: list[int]) -> tuple[list[tuple[int, int]], list[int | None]]:
        messages = hf_messages(conversation)
        spans: list[tuple[int, int]] = []
        for k in assistants:
            before, _ = self.render_text(conversation, tokens, opts, messages=messages[:k], add_generation_prompt=True)
            upto, _ = self.render_text(conversation, tokens, opts, messages=messages[: k + 1],
                                       add_generation_prompt=False)
            for label, part in ((f"messages[:{k}] + generation prompt", before), (f"messages[:{k + 1}]", upto)):
                if not full.startswith(part):
                    at = next((i for i, (a, b) in enumerate(zip(part, full, strict=False)) if a != b),
                              min(len(part), len(full)))
                    raise TemplateError(
                        f"template {self.name!r} is not prefix-stable: rendering {label} gives text that the whole "
                        f"conversation does not start with (they differ at character {at}: "
                        f"{part[at:at + 30]!r} vs {full[at:at + 30]!r}). The template rewrites earlier turns as the "
                        "conversation grows, so trained spans cannot be found; add {% generation %} blocks to it, "
                        "train on the last turn only (mask_history), or use a slot template"
                    )
            if not upto.startswith(before):
                raise TemplateError(
                    f"template {self.name!r} is not prefix-stable at messages[{k}]: its generation prompt is not "
                    "where the assistant message starts; add {% generation %} blocks or use a slot template"
                )
            if spans and len(before) < spans[-1][1]:
                raise TemplateError(f"template {self.name!r}: assistant spans overlap at messages[{k}]")
            spans.append((len(before), len(upto)))
        return spans, list(assistants)


def _split(text: str, spans: list[tuple[int, int]], owners: list[int | None], *, oneturn: bool) -> list[Piece]:
    """Cut ``text`` into prompt and response pieces at the span boundaries."""
    pieces: list[Piece] = []
    pos = 0
    turn = 0
    for (start, end), owner in zip(sorted(spans), owners, strict=True):
        if start < pos:
            raise TemplateError("generation spans overlap")
        if start > pos:
            pieces.append(Piece(text[pos:start], False, 0 if oneturn else turn, "text", False, None))
        if end > start:
            pieces.append(Piece(text[start:end], True, 0 if oneturn else turn, "assistant", False, owner))
        pos = end
        turn += 1
    if pos < len(text):
        pieces.append(Piece(text[pos:], False, 0 if oneturn else turn, "text", False, None))
    return pieces
