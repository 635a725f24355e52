"""Slot templates: LLaMA-Factory 0.9.5's ``register_template`` semantics, as data.

A slot template is a handful of *slots* - lists of elements - filled with each message's content:

- ``prefix`` (first message only), ``system``, ``user``, ``assistant``, ``function`` (an assistant turn that
  makes tool calls), ``observation`` (tool results);
- an element is a string with a ``{{content}}`` placeholder, ``Special("bos_token" | "eos_token")``
  (LLaMA-Factory's ``{"bos_token"}`` set: the tokenizer's token, skipped when it has none) or
  ``Token("<x>")`` (LLaMA-Factory's ``{"token": "<x>"}``: converted with ``convert_tokens_to_ids``).

``render`` returns one ``Piece`` per element, exactly the elements LLaMA-Factory encodes one at a time, so
encoding the pieces one by one gives LLaMA-Factory's token ids. The rules reproduced here:

- ``system = system or default_system``; the system slot (with the tool prompt appended when the row has
  tools) is rendered before the first message whenever ``system or tools`` is truthy;
- ``fuse_system`` (LLaMA-Factory's ``Llama2Template``): the first element of the system slot, as text, is
  written in front of the first user message's content instead of being its own element;
- turns are (prompt, response) pairs of messages; prompt pieces are not trainable, response pieces are;
  in ``oneturn`` mode (pairwise / KTO / unsupervised) everything before the last message is one prompt;
- ``reasoning`` templates (``ReasoningTemplate``) strip and add chain-of-thought: see ``_apply_thinking``;
- consecutive tool messages become one observation joined by ``\\n</tool_response>\\n<tool_response>\\n``
  (LLaMA-Factory's OpenAI-format converter does this before any template sees the row).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from ..errors import TemplateError
from .base import Piece, RenderOptions, SpecialTokens
from .thinking import DEFAULT_THOUGHT_WORDS, compose, empty_thought, has_thought, remove_thought
from .tool_formats import get_tool_format, normalize_call, parse_tools

CONTENT = "{{content}}"
IDX = "{{idx}}"
#: How LLaMA-Factory's OpenAI-format converter joins consecutive tool results into one observation.
TOOL_RESPONSE_JOINER = "\n</tool_response>\n<tool_response>\n"
#: The eos LLaMA-Factory's fix_special_tokens adds when a tokenizer has none.
FALLBACK_EOS = "<|endoftext|>"


@dataclass(frozen=True)
class Special:
    """LLaMA-Factory's ``{"bos_token"}`` / ``{"eos_token"}`` element: the tokenizer's bos / eos token."""

    name: Literal["bos_token", "eos_token"]


@dataclass(frozen=True)
class Token:
    """LLaMA-Factory's ``{"token": "<x>"}`` element: one token by its string, never split by BPE."""

    token: str


Element = str | Special | Token
Slot = tuple[Element, ...]

BOS = Special("bos_token")
EOS = Special("eos_token")


@dataclass
class _Msg:
    """One message as LLaMA-Factory sees it (roles user / assistant / function / observation)."""

    role: str
    text: str
    index: int | None
    calls: list[tuple[str, str]] = field(default_factory=list)
    virtual: bool = False  # the empty response a generation prompt stands for (never rendered)


def _has_placeholder(slot: Slot) -> bool:
    return any(isinstance(e, str) and CONTENT in e for e in slot)


@dataclass(frozen=True)
class SlotTemplate:
    """A LLaMA-Factory-style slot template (see the module docstring). Build one with ``slot_template``
    or from a declaration dict with ``templates_hub.templates.spec.template_from_spec``."""

    name: str
    user: Slot = (CONTENT,)
    assistant: Slot = (CONTENT, EOS)
    system: Slot = (CONTENT,)
    function: Slot | None = None  # None: the assistant slot (LLaMA-Factory's default function formatter)
    observation: Slot | None = None  # None: the user slot
    prefix: Slot = ()
    tool_format: str = "default"
    default_system: str = ""
    stop_words: tuple[str, ...] = ()
    thought_words: tuple[str, str] = DEFAULT_THOUGHT_WORDS
    efficient_eos: bool = False
    replace_eos: bool = False
    replace_jinja_template: bool = False
    reasoning: bool = False
    fuse_system: bool = False
    # -- not in LLaMA-Factory: what official templates do that LLaMA-Factory's slots cannot express --------
    #: render a system message that is present but empty (instead of falling back to default_system)
    keep_empty_system: bool = False
    #: ``messages``: strip user / assistant / tool content (before system fusion); ``all``: the system too
    strip: Literal["none", "messages", "all"] = "none"
    #: written once after the last message (unless the conversation ends with a generation prompt)
    suffix: Slot = ()
    #: written between an assistant's text and its tool calls when it has both
    tool_call_separator: str = ""
    description: str = ""
    #: LLaMA-Factory's name for this template when it differs from ``name`` (e.g. ``qwen`` for ``qwen@hf``).
    lf_name: str | None = None
    kind: str = field(default="slot", init=False)

    def __post_init__(self) -> None:
        for slot_name in ("user", "assistant", "system"):
            if not _has_placeholder(getattr(self, slot_name)):
                raise TemplateError(f"template {self.name!r}: the {slot_name} slot needs a {CONTENT} placeholder")
        for slot_name in ("function", "observation"):
            slot = getattr(self, slot_name)
            if slot is not None and not _has_placeholder(slot):
                raise TemplateError(f"template {self.name!r}: the {slot_name} slot needs a {CONTENT} placeholder")
        for slot_name in ("prefix", "suffix"):
            if any(isinstance(e, str) and "{{" in e and "}}" in e for e in getattr(self, slot_name)):
                raise TemplateError(f"template {self.name!r}: the {slot_name} slot cannot contain a placeholder")
        if self.strip not in ("none", "messages", "all"):
            raise TemplateError(f"template {self.name!r}: strip must be none, messages or all, not {self.strip!r}")
        if self.replace_eos and not self.stop_words:
            raise TemplateError(f"template {self.name!r}: replace_eos needs at least one stop word")
        if self.fuse_system and not isinstance(self.system[0], str):
            raise TemplateError(f"template {self.name!r}: fuse_system needs a system slot that starts with text")
        get_tool_format(self.tool_format)  # fail early on an unknown format

    # -- the ChatTemplate protocol -------------------------------------------------------------------------

    def effective_eos(self, tokens: SpecialTokens | None) -> str:
        """The eos string after LLaMA-Factory's fix_special_tokens: the first stop word for replace_eos
        templates, else the tokenizer's eos, else ``<|endoftext|>`` (which fix_tokenizer adds)."""
        if self.replace_eos:
            return self.stop_words[0]
        if tokens is not None and tokens.eos_token:
            return tokens.eos_token
        return FALLBACK_EOS

    def render(
        self,
        conversation: dict[str, Any],
        tokens: SpecialTokens | None = None,
        options: RenderOptions | None = None,
    ) -> list[Piece]:
        """The pieces of ``conversation`` (a canonical row): LLaMA-Factory's elements, in order."""
        opts = options or RenderOptions()
        tokens = tokens or SpecialTokens()
        row = conversation.get("_row")
        system, system_index, msgs = _lf_messages(conversation.get("messages") or [], self.thought_words, row)
        if opts.add_generation_prompt and (not msgs or msgs[-1].role in ("user", "observation")):
            msgs.append(_Msg("assistant", "", None, virtual=True))
        if not msgs:
            raise TemplateError(_where(row, "messages") + "no user or assistant message to render")
        oneturn = opts.mode == "oneturn"
        response_at = _response_positions(msgs, oneturn)
        # the user / observation slot already ends with the assistant header, so a generation prompt adds
        # nothing but, for reasoning templates with thinking off, the empty thought
        cot_at = self._apply_thinking(msgs, opts, oneturn) if self.reasoning else {}
        return self._pieces(conversation, msgs, system, system_index, response_at, cot_at, tokens, opts, oneturn)

    def to_jinja(self, *, generation_tags: bool = False) -> str:
        """An equivalent Hugging Face chat template (see ``templates_hub.templates.to_jinja``)."""
        from .to_jinja import slot_to_jinja

        return slot_to_jinja(self, generation_tags=generation_tags)

    # -- helpers -------------------------------------------------------------------------------------------

    def replace(self, **changes: Any) -> SlotTemplate:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def function_setup(self, opts: RenderOptions) -> tuple[Slot, str]:
        """The function slot and tool format to use. A ``tool_format`` option replaces both, with the plain
        ``{{content}}`` (+ eos unless efficient_eos) function slot, as LLaMA-Factory's ``tool_format`` does."""
        if opts.tool_format:
            get_tool_format(opts.tool_format)
            slot: Slot = (CONTENT,) if self.efficient_eos else (CONTENT, EOS)
            return slot, opts.tool_format
        return (self.function if self.function is not None else self.assistant), self.tool_format

    def system_text(self, system: str, tools: Any, opts: RenderOptions, present: bool = False) -> str | None:
        """The system slot's content (system + tool prompt), or None when no system slot is rendered.

        LLaMA-Factory renders the slot when ``system or tools`` is truthy (``tools`` being the row's JSON
        text, so ``"[]"`` counts); ``present`` (keep_empty_system) also renders an empty system message."""
        if isinstance(tools, list):
            tools = json.dumps(tools, ensure_ascii=False)
        if not (system or tools or present):
            return None
        tool_text = ""
        if tools:
            _, fmt = self.function_setup(opts)
            tool_text = _tool_prompt(fmt, tools, opts.extra.get("date_string"))
        return system + tool_text

    def _apply_thinking(self, msgs: list[_Msg], opts: RenderOptions, oneturn: bool) -> dict[int, str]:
        """LLaMA-Factory's ReasoningTemplate: strip thoughts, and say where each empty CoT goes.

        Returns ``{message position: "prompt" | "response"}``: the empty thought is appended to the prompt
        that precedes the response (masked) when ``enable_thinking`` is falsy, and prepended to the response
        (trained) when it is truthy; it is added only to responses without thought words.

        - multiturn: ``enable_thinking is False`` strips thoughts from every response; ``mask_history`` without
          ``preserve_thinking`` strips them from all but the last response and adds the empty CoT to the
          last turn only (otherwise to every turn);
        - oneturn: history thoughts are stripped unless ``preserve_thinking``; ``enable_thinking is False``
          strips the last response's too; only the last response gets an empty CoT.
        """
        words = self.thought_words
        n = len(msgs)
        thinking = opts.enable_thinking
        if oneturn:
            if not opts.preserve_thinking:
                for i in range(1, n - 2, 2):
                    msgs[i].text = remove_thought(msgs[i].text, words)
            if thinking is False:
                msgs[-1].text = remove_thought(msgs[-1].text, words)
            candidates = [n - 1] if msgs[-1].role in ("assistant", "function") else []
        else:
            if thinking is False:
                for i in range(1, n, 2):
                    msgs[i].text = remove_thought(msgs[i].text, words)
            discard = opts.mask_history and not opts.preserve_thinking
            if discard:
                for i in range(1, n - 2, 2):
                    msgs[i].text = remove_thought(msgs[i].text, words)
                candidates = [n - 1] if n % 2 == 0 else []
            else:
                candidates = list(range(1, n, 2))
        cot_at: dict[int, str] = {}
        for i in candidates:
            probe = msgs[i].text + "".join(args for _, args in msgs[i].calls)
            if not has_thought(probe, words):
                cot_at[i] = "response" if thinking else "prompt"
        return cot_at

    def _pieces(
        self,
        conversation: dict[str, Any],
        msgs: list[_Msg],
        system: str,
        system_index: int | None,
        response_at: set[int],
        cot_at: dict[int, str],
        tokens: SpecialTokens,
        opts: RenderOptions,
        oneturn: bool,
    ) -> list[Piece]:
        default_system = self.default_system if opts.default_system is None else opts.default_system
        present = system_index is not None and self.keep_empty_system
        if not present:
            system = system or default_system
        if system_index is not None and system != conversation["messages"][system_index].get("content"):
            system_index = None  # the default system text belongs to no message
        if self.strip == "all":
            system = system.strip()
        system_content = self.system_text(system, conversation.get("tools"), opts, present=present)
        function_slot, fmt = self.function_setup(opts)
        eos = self.effective_eos(tokens)
        observation = self.observation if self.observation is not None else self.user
        pieces: list[Piece] = []
        thought = empty_thought(self.thought_words)
        strip = self.strip != "none"

        def emit(slot: Slot, content: str | None, *, kind: str, turn: int, train: bool, index: int | None,
                 idx: str | None = None) -> None:
            for elem in slot:
                if isinstance(elem, str):
                    text = elem
                    if content is not None:
                        text = text.replace(CONTENT, content, 1)
                    if idx is not None:
                        text = text.replace(IDX, idx, 1)
                    if text:
                        pieces.append(Piece(text, train, turn, kind, False, index))
                elif isinstance(elem, Token):
                    pieces.append(Piece(elem.token, train, turn, kind, True, index))
                else:
                    token = tokens.bos_token if elem.name == "bos_token" else eos
                    if token:
                        pieces.append(Piece(token, train, turn, kind, True, index))

        for i, msg in enumerate(msgs):
            turn = 0 if oneturn else i // 2
            train = i in response_at
            if msg.virtual:
                break  # its prompt-side empty thought was written after the previous message
            if cot_at.get(i) == "response":
                pieces.append(Piece(thought, True, turn, "thought", False, msg.index))
            fused = ""
            if i == 0:
                emit(self.prefix, None, kind="prefix", turn=turn, train=False, index=None)
                if system_content is not None:
                    if self.fuse_system:
                        fused = str(self.system[0]).replace(CONTENT, system_content, 1)
                    else:
                        emit(self.system, system_content, kind="system", turn=turn, train=False, index=system_index)
            text = msg.text.strip() if strip else msg.text
            if msg.role == "user":
                if self.fuse_system:
                    emit(self.user, fused + text, kind="user", turn=turn, train=train, index=msg.index)
                else:
                    emit(self.user, text, kind="user", turn=turn, train=train, index=msg.index, idx=str(i // 2))
            elif msg.role == "observation":
                emit(observation, text, kind="observation", turn=turn, train=train, index=msg.index)
            elif msg.role == "assistant":
                emit(self.assistant, text, kind="assistant", turn=turn, train=train, index=msg.index)
            else:  # function
                calls = get_tool_format(fmt).function_text(msg.calls)
                content = text + self.tool_call_separator + calls if text else calls
                emit(function_slot, content, kind="function", turn=turn, train=train, index=msg.index)
            if cot_at.get(i + 1) == "prompt":
                pieces.append(Piece(thought, False, turn, "thought", False, None))
            if i == len(msgs) - 1 and self.suffix:
                emit(self.suffix, None, kind="suffix", turn=turn, train=train, index=None)
        return pieces


@lru_cache(maxsize=256)
def _tool_prompt(fmt: str, tools: str, date: str | None) -> str:
    """The tool prompt of a row's tools (cached: tool datasets repeat the same tool list on many rows)."""
    parsed = parse_tools(tools)
    return get_tool_format(fmt).tool_prompt(parsed, date) if parsed else ""


def _where(row: Any, path: str) -> str:
    return f"row {row}: {path}: " if row is not None else f"{path}: "


def _lf_messages(
    messages: list[dict[str, Any]], thought_words: tuple[str, str], row: Any
) -> tuple[str, int | None, list[_Msg]]:
    """Canonical messages -> (system text, system message index, LLaMA-Factory messages).

    Reasoning is composed into the content inside the thought words; an assistant message with tool_calls
    becomes a ``function`` message; consecutive tool results are merged into one observation.
    """
    system = ""
    system_index: int | None = None
    out: list[_Msg] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content") or ""
        if role == "system":
            if i != 0:
                raise TemplateError(_where(row, f"messages[{i}].role") + "a system message is only allowed first")
            system, system_index = content, 0
            continue
        if role == "user":
            out.append(_Msg("user", content, i))
        elif role == "assistant":
            text = compose(message.get("reasoning"), content, thought_words)
            calls = message.get("tool_calls") or []
            if calls:
                normalized = [
                    normalize_call(c.get("name") or "", c.get("arguments"), _where(row, f"messages[{i}].tool_calls[{k}]"))
                    for k, c in enumerate(calls)
                ]
                out.append(_Msg("function", text, i, normalized))
            else:
                out.append(_Msg("assistant", text, i))
        elif role == "tool":
            if out and out[-1].role == "observation":
                out[-1].text += TOOL_RESPONSE_JOINER + content
            else:
                out.append(_Msg("observation", content, i))
        else:
            raise TemplateError(_where(row, f"messages[{i}].role") + f"unknown role {role!r}")
    for pos, msg in enumerate(out):
        expected = ("user", "observation") if pos % 2 == 0 else ("assistant", "function")
        if msg.role not in expected:
            what = "a user or tool" if pos % 2 == 0 else "an assistant"
            raise TemplateError(
                _where(row, f"messages[{msg.index}].role")
                + f"expected {what} message here (turns must alternate prompt / response), got {_canonical_role(msg.role)}"
            )
    return system, system_index, out


def _canonical_role(role: str) -> str:
    return {"function": "assistant (tool call)", "observation": "tool"}.get(role, role)


def _response_positions(msgs: list[_Msg], oneturn: bool) -> set[int]:
    """Positions of the messages whose pieces are trainable."""
    if oneturn:
        last = len(msgs) - 1
        return {last} if msgs[last].role in ("assistant", "function") else set()
    return {i for i in range(1, len(msgs), 2)}


def slot_template(name: str, **fields: Any) -> SlotTemplate:
    """Build a ``SlotTemplate``; a slot may be given as a single string or element (LLaMA-Factory's
    ``register_template`` keywords minus the ``format_`` prefix)."""
    for key in ("user", "assistant", "system", "function", "observation", "prefix", "suffix"):
        value = fields.get(key)
        if value is not None and not isinstance(value, tuple):
            fields[key] = (value,) if isinstance(value, (str, Special, Token)) else tuple(value)
    if "assistant" not in fields and fields.get("efficient_eos"):
        fields["assistant"] = (CONTENT,)
    if "stop_words" in fields:
        fields["stop_words"] = tuple(fields["stop_words"])
    if "thought_words" in fields:
        fields["thought_words"] = tuple(fields["thought_words"])
    return SlotTemplate(name, **fields)
