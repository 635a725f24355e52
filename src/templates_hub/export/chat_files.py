"""Shared pieces of the TRL and axolotl exporters: OpenAI-style message records and template facts.

Both tools read conversations as lists of ``{"role", "content", "tool_calls"?}`` messages and render them
with a Hugging Face Jinja chat template, so both exports write the canonical rows with the ``openai``
format adapter (tools as a list of function schemas, call arguments as objects by default, as HF chat
templates expect) and ship the recipe's template as a Jinja file.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from .base import ExportContext

ARGUMENTS_AS = ("object", "string")
#: a ``{% generation %}`` block opening (any whitespace control), which transformers' assistant masks need
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def message_options(ctx: ExportContext) -> dict[str, Any]:
    """Options of the ``openai`` writer: tools as a list; ``options.arguments_as`` (object | string)."""
    arguments_as = ctx.config.options.get("arguments_as", "object")
    if arguments_as not in ARGUMENTS_AS:
        raise UsageError(f"export.options.arguments_as must be one of {', '.join(ARGUMENTS_AS)}, not {arguments_as!r}")
    return {"tools_as": "list", "arguments_as": arguments_as}


def extra_keys(ctx: ExportContext) -> set[str]:
    """``options.extra_keys``: keys a tool plugin defines that the built-in key lists cannot know."""
    value = ctx.config.options.get("extra_keys", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError("export.options.extra_keys must be a list of key names")
    return set(value)


def message_field_present(ctx: ExportContext, field: str) -> bool:
    """Whether any message (prompt, chosen or rejected) has a non-null ``field`` (train, reasoning)."""
    import pyarrow.compute as pc

    for split in ctx.splits.values():
        if "messages" not in split.column_names:
            return False
        table = split.data
        columns = [pc.list_flatten(table.column("messages"))]
        columns += [table.column(side) for side in ("chosen", "rejected") if side in split.column_names]
        for column in columns:
            values = pc.struct_field(column, field)
            if len(values) - values.null_count:
                return True
    return False


def jinja_with_generation(ctx: ExportContext) -> tuple[str | None, bool]:
    """``(jinja text, has {% generation %} blocks)``: asks the template for generation tags when it can."""
    template = ctx.template
    if template is None:
        return None, False
    to_jinja = template.to_jinja
    try:
        if "generation_tags" in inspect.signature(to_jinja).parameters:
            text = to_jinja(generation_tags=True)
        else:
            text = to_jinja()
    except Exception:
        return None, False
    return text, _GENERATION.search(text) is not None


def effective_eos(ctx: ExportContext) -> str | None:
    """The end-of-turn token training must learn: the template's (a replace_eos template's first stop word)."""
    if ctx.template is None:
        return None
    from ..templates.base import SpecialTokens

    try:
        return ctx.template.effective_eos(SpecialTokens.from_tokenizer(ctx.try_tokenizer()))
    except Exception:
        return None


def lora_settings(ctx: ExportContext) -> dict[str, Any] | None:
    """``{r, alpha, dropout, target_modules}`` when the export trains a LoRA adapter, else None."""
    lora = getattr(ctx.train, "lora", None) if ctx.train is not None else None
    if lora is None and ctx.config.finetuning_type != "lora":
        return None
    if lora is None:
        return {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
    return {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout, "target_modules": lora.target_modules}


def user_values(ctx: ExportContext, *, warmup_ratio: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """Training keys from the recipe: ``train`` (TrainingArguments names) then ``export.hyperparameters``.

    ``warmup_ratio``: write ``train.warmup_steps`` below 1 (how transformers 5 takes a ratio) as
    ``warmup_ratio``, for tools whose ``warmup_steps`` is a whole number of steps (axolotl refuses 0.1).
    """
    values: list[tuple[str, dict[str, Any]]] = []
    if ctx.train is not None and ctx.train.training_arguments():
        from ..train.arguments import check_values

        extra = check_values(ctx.train.training_arguments())  # numbers YAML read as strings ("1e-3") converted
        steps = extra.get("warmup_steps")
        if warmup_ratio and isinstance(steps, float) and 0 < steps < 1 and "warmup_ratio" not in extra:
            extra["warmup_ratio"] = extra.pop("warmup_steps")
        if extra:
            values.append(("train", extra))
    if ctx.config.hyperparameters:
        values.append(("export.hyperparameters", dict(ctx.config.hyperparameters)))
    return values


#: keys that set the same thing: the user's value for one replaces the exporter's default for the other
#: (transformers 5.5, which LLaMA-Factory 0.9.5 pins, lets warmup_ratio override warmup_steps)
_SAME_SETTING = {"warmup_steps": "warmup_ratio", "warmup_ratio": "warmup_steps"}


def merge_user_values(sections: dict[str, dict[str, Any]], user: list[tuple[str, dict[str, Any]]],
                      section_for: Callable[[str], str]) -> None:
    """Set the user's (already checked) keys in ``sections``: where the default sits, else in
    ``section_for(key)``; a default that the user's key replaces (``_SAME_SETTING``) is removed."""
    given = {key for _, values in user for key in values}
    for key in given:
        other = _SAME_SETTING.get(key)
        if other is not None and other not in given:
            for values in sections.values():
                values.pop(other, None)
    for _, values in user:
        for key, value in values.items():
            section = next((s for s, v in sections.items() if key in v), None) or section_for(key)
            sections[section][key] = value


# -- record reshapers (module level: they run inside datasets.map with num_proc) ---------------------------
def to_prompt_completion(record: dict[str, Any]) -> dict[str, Any]:
    """openai sft/kto record -> TRL prompt-completion (the last message is the completion)."""
    messages = record["messages"]
    out: dict[str, Any] = {"prompt": messages[:-1], "completion": messages[-1:]}
    if "label" in record:
        out["label"] = record["label"]
    if "tools" in record:
        out["tools"] = record["tools"]
    return out


def to_preference(record: dict[str, Any]) -> dict[str, Any]:
    """openai preference record -> TRL conversational preference with an explicit prompt."""
    out: dict[str, Any] = {"prompt": record["messages"], "chosen": [record["chosen"]], "rejected": [record["rejected"]]}
    if "tools" in record:
        out["tools"] = record["tools"]
    return out
