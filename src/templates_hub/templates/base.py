"""What every chat template produces: an ordered list of pieces.

A *piece* is one run of text (or one special token) with a trainable flag and the index of the turn it
belongs to. Everything downstream (label masking, truncation, packing, colour previews, exporting)
works on pieces and never on template-specific code, so a slot template, a Jinja file and a
tokenizer's own ``chat_template`` are interchangeable.

Pieces follow LLaMA-Factory's *elements*: in ``segments`` tokenization mode each piece is encoded on its
own (so BPE never merges across a piece boundary, exactly as LLaMA-Factory encodes each slot element
separately); in ``whole`` mode the concatenated text is encoded once and labels come from the
character spans of the trainable pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Mode = Literal["multiturn", "oneturn"]


@dataclass(frozen=True, slots=True)
class Piece:
    """One element of a rendered conversation.

    - ``text``: the text; for a special piece, the token's string (``"<s>"``, ``"<|im_end|>"``).
    - ``trainable``: whether its tokens get labels (False -> -100) by the template's default masking;
      preprocessors apply ``train_on_prompt`` / ``mask_history`` / per-message ``train`` on top.
    - ``turn``: 0-based index of the (prompt, response) turn. Turn k's prompt pieces come before its
      response pieces; system and prefix pieces belong to turn 0.
    - ``slot``: what produced it: ``prefix``, ``system``, ``user``, ``assistant``, ``function`` (assistant
      tool call), ``observation`` (tool result), ``thought`` (empty chain-of-thought), ``generation``
      (the generation prompt), ``suffix`` (text after the last message, e.g. a final eos; it belongs to the
      last turn), or ``text`` for templates that do not know (Jinja templates).
    - ``special``: True for a single special token written as an element (``{"bos_token"}``,
      ``{"token": "<x>"}``): it is converted with ``convert_tokens_to_ids``, never split by BPE.
    - ``message``: index into the conversation's ``messages`` of the message this piece renders, or None
      for template text that belongs to no message (prefix, generation prompt).
    """

    text: str
    trainable: bool = False
    turn: int = 0
    slot: str = "text"
    special: bool = False
    message: int | None = None


@dataclass(frozen=True)
class SpecialTokens:
    """The special-token strings a template may write; read from a tokenizer by ``from_tokenizer``."""

    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    extra: tuple[str, ...] = ()

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> SpecialTokens:
        if tokenizer is None:
            return cls()
        extra = getattr(tokenizer, "extra_special_tokens", None) or []
        if isinstance(extra, dict):
            extra = list(extra.values())
        return cls(
            bos_token=getattr(tokenizer, "bos_token", None),
            eos_token=getattr(tokenizer, "eos_token", None),
            pad_token=getattr(tokenizer, "pad_token", None),
            extra=tuple(str(t) for t in extra),
        )


@dataclass(frozen=True)
class RenderOptions:
    """Options that change what a template renders (LLaMA-Factory's data arguments of the same names).

    ``mode`` is ``multiturn`` for supervised rows (every turn is a prompt/response pair) and ``oneturn``
    for pairwise, KTO and unsupervised rows (all turns but the last form the prompt); reasoning
    templates strip history chain-of-thought differently in each.
    """

    mode: Mode = "multiturn"
    add_generation_prompt: bool = False
    enable_thinking: bool | None = True
    preserve_thinking: bool = False
    mask_history: bool = False
    default_system: str | None = None
    tool_format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChatTemplate(Protocol):
    """The interface of every template kind (slot, Jinja, tokenizer).

    ``render`` turns a canonical conversation (a dict with ``messages`` and optional ``tools``, the shape
    of ``templates_hub.schemas.Conversation.to_row()``) into pieces.
    """

    name: str
    #: LLaMA-Factory's efficient_eos: the assistant slot has no eos; one eos closes the sequence and the
    #: first token of each later prompt is labelled with the eos id. Preprocessors implement the labels.
    efficient_eos: bool

    def render(
        self,
        conversation: dict[str, Any],
        tokens: SpecialTokens | None = None,
        options: RenderOptions | None = None,
    ) -> list[Piece]: ...

    def effective_eos(self, tokens: SpecialTokens) -> str | None:
        """The eos token training uses (a ``replace_eos`` template's first stop word, else the tokenizer's)."""
        ...

    def to_jinja(self) -> str:
        """An equivalent Hugging Face chat template (for the tokenizer saved with a trained model)."""
        ...


def render_text(pieces: list[Piece]) -> str:
    """The rendered string of a list of pieces."""
    return "".join(p.text for p in pieces)
