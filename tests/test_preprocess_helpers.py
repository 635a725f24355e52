"""Helpers shared by the preprocessing tests (no tests here): canonical rows, a Jinja-like template."""

from __future__ import annotations

from typing import Any

from templates_hub.templates.base import Piece, RenderOptions, SpecialTokens


def msg(role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": None, "reasoning": None, "train": None, **extra}


def sft_row(*turns: tuple[str, str], system: str | None = None, row: int = 1, tools: str | None = None,
            train: dict[int, bool] | None = None) -> dict[str, Any]:
    """A canonical sft row from (user, assistant) pairs; ``train`` = {message index: flag}."""
    messages = [msg("system", system)] if system is not None else []
    for user, assistant in turns:
        messages += [msg("user", user), msg("assistant", assistant)]
    for i, flag in (train or {}).items():
        messages[i]["train"] = flag
    return {"messages": messages, "tools": tools, "_row": row}


def columnar(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def sft_dataset(rows: list[dict[str, Any]]):
    import datasets

    from templates_hub.schemas import features

    return datasets.Dataset.from_list(rows, features=features("sft"))


def trained_ids(labels: list[int]) -> list[int]:
    return [t for t in labels if t != -100]


class GenerationTemplate:
    """A Jinja-style ChatML template whose trainable span stops *before* ``<|im_end|>`` (like a
    ``{% generation %}`` block around the content only). Renders exactly CHATML_JINJA."""

    name = "chatml-generation"
    efficient_eos = False
    kind = "jinja"
    stop_words = ("<|im_end|>",)

    def effective_eos(self, tokens: SpecialTokens | None) -> str:
        return "<|im_end|>"

    def to_jinja(self) -> str:
        return CHATML_JINJA

    def render(self, conversation: dict[str, Any], tokens: SpecialTokens | None = None,
               options: RenderOptions | None = None) -> list[Piece]:
        pieces: list[Piece] = []
        turn = 0
        for i, m in enumerate(conversation["messages"]):
            if m["role"] == "assistant":
                pieces.append(Piece(m["content"], True, turn, "assistant", False, i))
                pieces.append(Piece("<|im_end|>\n", False, turn, "text", False, None))
                turn += 1
            else:
                header = f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
                if m["role"] == "user":
                    header += "<|im_start|>assistant\n"
                pieces.append(Piece(header, False, turn, m["role"], False, i))
        return pieces


CHATML_JINJA = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ m['content'] }}<|im_end|>\n"
    "{% else %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% if m['role'] == 'user' %}<|im_start|>assistant\n{% endif %}{% endif %}{% endfor %}"
)
