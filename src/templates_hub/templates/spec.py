"""Template declarations: the data form of a template, validated by Pydantic.

Built-in slot templates and users' YAML files use the same declaration, so a built-in can be copied into
a YAML file (``templates-hub template show NAME``) and edited. A slot is either one string or a list of
elements; an element is a string (``{{content}}`` is replaced by the message), ``{token: "<x>"}`` (one
token by its string) or ``{special: bos_token | eos_token}`` (the tokenizer's bos / eos; ``bos`` / ``eos``
are accepted too).

A YAML file may also declare a Jinja template: ``kind: jinja`` with ``chat_template: "..."`` or
``path: file.jinja`` (relative to the YAML file).

Unknown keys are rejected and every problem is reported with its YAML path and line number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, field_validator

from ..errors import ConfigError, TemplateError
from .slot import BOS, CONTENT, EOS, Element, SlotTemplate, Token
from .thinking import DEFAULT_THOUGHT_WORDS

SLOT_FIELDS: tuple[str, ...] = ("prefix", "system", "user", "assistant", "function", "observation", "suffix")
_NO_PLACEHOLDER: tuple[str, ...] = ("prefix", "suffix")


class TokenElement(BaseModel):
    """``{token: "<x>"}``: one token by its string (``convert_tokens_to_ids``)."""

    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Field(min_length=1)


class SpecialElement(BaseModel):
    """``{special: bos_token}`` / ``{special: eos_token}``: the tokenizer's bos / eos (skipped when absent)."""

    model_config = ConfigDict(extra="forbid")
    special: Literal["bos_token", "eos_token", "bos", "eos"]


ElementSpec = StrictStr | TokenElement | SpecialElement
#: One string, or a list of elements (validated by ``_check_slot`` with one clear message per element).
SlotSpec = StrictStr | list[Any]
_ELEMENT_HELP = "an element must be a string, {token: \"<x>\"} or {special: bos_token | eos_token}"


def _check_element(index: int, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"token"} and isinstance(value["token"], str) and value["token"]:
        return TokenElement(token=value["token"])
    if isinstance(value, dict) and set(value) == {"special"} and value["special"] in ("bos_token", "eos_token", "bos", "eos"):
        return SpecialElement(special=value["special"])
    raise ValueError(f"[{index}] {_ELEMENT_HELP}; got {value!r}")


class SlotTemplateSpec(BaseModel):
    """A slot template declaration (LLaMA-Factory's ``register_template`` arguments, without ``format_``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["slot"] = "slot"
    name: StrictStr | None = Field(default=None, description="Registered name (default: the file name).")
    description: StrictStr = Field(default="", description="One line shown by `templates-hub list templates`.")
    based_on: StrictStr | None = Field(default=None, description="Start from this registered slot template.")
    lf_name: StrictStr | None = Field(default=None, description="LLaMA-Factory's name for the same template.")
    prefix: SlotSpec | None = Field(default=None, description="Written once, before everything (e.g. bos).")
    system: SlotSpec | None = Field(default=None, description="The system message (and tool prompt).")
    user: SlotSpec | None = Field(default=None, description="A user message; usually ends with the assistant header.")
    assistant: SlotSpec | None = Field(default=None, description="An assistant answer (trained).")
    function: SlotSpec | None = Field(default=None, description="An assistant turn making tool calls (default: assistant).")
    observation: SlotSpec | None = Field(default=None, description="Tool results (default: user).")
    tool_format: StrictStr | None = Field(default=None, description="default | qwen | llama3 | glm4 | mistral.")
    default_system: StrictStr | None = Field(default=None, description="Used when a row has no system message.")
    stop_words: list[StrictStr] | None = Field(default=None, description="Extra end tokens (added to the tokenizer).")
    thought_words: tuple[StrictStr, StrictStr] | None = Field(default=None, description="Chain-of-thought markers.")
    efficient_eos: StrictBool | None = Field(default=None, description="One eos at the very end instead of per turn.")
    replace_eos: StrictBool | None = Field(default=None, description="The first stop word becomes the eos token.")
    replace_jinja_template: StrictBool | None = Field(
        default=None, description="Replace a tokenizer's own chat_template when saving it."
    )
    reasoning: StrictBool | None = Field(default=None, description="A reasoning template (empty CoT rules).")
    fuse_system: StrictBool | None = Field(default=None, description="Llama-2 style: system inside the first user turn.")
    suffix: SlotSpec | None = Field(default=None, description="Written once after the last message (not in LF).")
    keep_empty_system: StrictBool | None = Field(
        default=None, description="Render an empty system message instead of default_system (not in LF)."
    )
    strip: Literal["none", "messages", "all"] | None = Field(
        default=None, description="Strip message content: none | messages | all (system too) (not in LF)."
    )
    tool_call_separator: StrictStr | None = Field(
        default=None, description="Between an assistant's text and its tool calls (not in LF)."
    )

    @field_validator(*SLOT_FIELDS, mode="before")
    @classmethod
    def _check_slot(cls, value: Any, info: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise ValueError(f"a slot is a string or a list of elements ({_ELEMENT_HELP}); got {value!r}")
        return [_check_element(i, v) for i, v in enumerate(value)]

    @field_validator(*SLOT_FIELDS)
    @classmethod
    def _placeholder(cls, value: Any, info: Any) -> Any:
        if value is None:
            return value
        elements = [value] if isinstance(value, str) else value
        texts = [e for e in elements if isinstance(e, str)]
        if info.field_name in _NO_PLACEHOLDER:
            if any("{{" in t and "}}" in t for t in texts):
                raise ValueError(f"the {info.field_name} cannot contain a placeholder such as {{{{content}}}}")
        elif not any(CONTENT in t for t in texts):
            raise ValueError(f"the {info.field_name} slot needs a {CONTENT} placeholder")
        return value


class JinjaTemplateSpec(BaseModel):
    """A Jinja (Hugging Face chat_template) declaration: inline ``chat_template`` or a ``path``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["jinja"]
    name: StrictStr | None = None
    description: StrictStr = ""
    chat_template: StrictStr | None = Field(default=None, description="The template text.")
    path: StrictStr | None = Field(default=None, description="A .jinja file, relative to this YAML file.")


TemplateSpec = Annotated[SlotTemplateSpec | JinjaTemplateSpec, Field(discriminator="kind")]


class _Wrapper(BaseModel):
    spec: TemplateSpec


def _element(value: Any) -> Element:
    if isinstance(value, str):
        return value
    if isinstance(value, TokenElement):
        return Token(value.token)
    return BOS if value.special in ("bos", "bos_token") else EOS


def _slot(value: Any) -> tuple[Element, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(_element(v) for v in value)


def _base_fields(based_on: str | None) -> dict[str, Any]:
    if based_on is None:
        return {}
    from . import get_template

    base = get_template(based_on)
    if not isinstance(base, SlotTemplate):
        raise TemplateError(f"based_on: {based_on!r} is not a slot template")
    skip = {"name", "description", "kind", "lf_name"}
    return {f: getattr(base, f) for f in SlotTemplate.__dataclass_fields__ if f not in skip}


def template_from_spec(spec: SlotTemplateSpec | dict[str, Any], name: str | None = None) -> SlotTemplate:
    """Build a ``SlotTemplate`` from a validated declaration (or a plain dict, validated here)."""
    if isinstance(spec, dict):
        try:
            spec = SlotTemplateSpec.model_validate(spec)
        except ValidationError as exc:
            problems = _problems(exc, None, prefix=())
            raise ConfigError(_summary(name or spec.get("name") or "template", problems), problems) from None
    resolved = name or spec.name
    if not resolved:
        raise ConfigError("template declaration has no name", [("name", "required field is missing")])
    fields = _base_fields(spec.based_on)
    set_fields = spec.model_fields_set
    for slot_name in SLOT_FIELDS:
        if slot_name in set_fields and getattr(spec, slot_name) is not None:
            fields[slot_name] = _slot(getattr(spec, slot_name))
    if "efficient_eos" in set_fields and spec.efficient_eos is not None:
        fields["efficient_eos"] = spec.efficient_eos
    if "assistant" not in fields and fields.get("efficient_eos"):
        fields["assistant"] = (CONTENT,)
    for key in ("tool_format", "default_system", "replace_eos", "replace_jinja_template", "reasoning", "fuse_system",
                "keep_empty_system", "strip", "tool_call_separator"):
        value = getattr(spec, key)
        if value is not None:
            fields[key] = value
    if spec.stop_words is not None:
        fields["stop_words"] = tuple(spec.stop_words)
    if spec.thought_words is not None:
        fields["thought_words"] = tuple(spec.thought_words)
    fields.setdefault("thought_words", DEFAULT_THOUGHT_WORDS)
    try:
        return SlotTemplate(resolved, description=spec.description, lf_name=spec.lf_name, **fields)
    except TemplateError as exc:
        raise ConfigError(f"template {resolved!r}: {exc}") from None


def template_to_spec(template: SlotTemplate) -> dict[str, Any]:
    """A declaration dict (YAML-ready) that rebuilds ``template`` with ``template_from_spec``."""

    def elem(e: Element) -> Any:
        if isinstance(e, str):
            return e
        if isinstance(e, Token):
            return {"token": e.token}
        return {"special": e.name}

    def slot(value: tuple[Element, ...] | None) -> Any:
        if value is None:
            return None
        if len(value) == 1 and isinstance(value[0], str):
            return value[0]
        return [elem(e) for e in value]

    out: dict[str, Any] = {"kind": "slot", "name": template.name}
    if template.description:
        out["description"] = template.description
    if template.lf_name:
        out["lf_name"] = template.lf_name
    for key in SLOT_FIELDS:
        value = slot(getattr(template, key))
        if value is not None and value != () and value != []:
            out[key] = value
    defaults = SlotTemplate("_defaults")
    for key in ("tool_format", "default_system", "efficient_eos", "replace_eos", "replace_jinja_template",
                "reasoning", "fuse_system", "keep_empty_system", "strip", "tool_call_separator"):
        value = getattr(template, key)
        if value != getattr(defaults, key):
            out[key] = value
    if template.stop_words:
        out["stop_words"] = list(template.stop_words)
    if template.thought_words != DEFAULT_THOUGHT_WORDS:
        out["thought_words"] = list(template.thought_words)
    return out


# --- YAML files --------------------------------------------------------------------------------------------


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    import yaml

    if node is None:
        return None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
                return (key.start_mark.line + 1) if key is not None else node.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
    return node.start_mark.line + 1


_TAGS = {"slot", "jinja", "str", "list[union[str,TokenElement,SpecialElement]]", "TokenElement", "SpecialElement",
         "str-enum", "tuple[str, str]"}


def _problems(exc: ValidationError, node: Any, prefix: tuple[Any, ...] = ("spec",)) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])[len(prefix):]
        keys = tuple(p for p in loc if isinstance(p, int) or (p not in _TAGS and not str(p).startswith(("list[", "union["))))
        # the discriminator tag is the first part of the loc for a discriminated union
        if keys and keys[0] in ("slot", "jinja") and prefix:
            keys = keys[1:]
        msg = err["msg"].removeprefix("Value error, ")
        indexed = re.match(r"^\[(\d+)\] ", msg)
        if indexed:
            keys = (*keys, int(indexed.group(1)))
            msg = msg[indexed.end():]
        path = ""
        for part in keys:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "union_tag_invalid":
            msg = "kind must be 'slot' or 'jinja'"
        line = _line_of(node, keys) if node is not None else None
        item = (path or "(top level)", f"line {line}: {msg}" if line else msg)
        if item not in seen:
            seen.add(item)
            problems.append(item)
    return problems


def _summary(source: str, problems: list[tuple[str, str]]) -> str:
    listed = "; ".join(f"{p}: {m}" for p, m in problems[:5])
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"{source}: invalid template declaration: {listed}{more}"


def load_template_file(path: str | os.PathLike[str], name: str | None = None) -> Any:
    """Load a ``.yaml`` / ``.yml`` declaration or a ``.jinja`` file as a template.

    The name is ``name``, else the declaration's ``name``, else the file name without its extension.
    """
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: template file not found")
    text = file.read_text(encoding="utf-8")
    if file.suffix in (".jinja", ".j2", ".jinja2"):
        from .jinja_template import JinjaTemplate

        return JinjaTemplate(text, name=name or file.stem, description=f"Jinja chat template from {file.name}",
                             source=str(file))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise ConfigError(f"{file}: not valid YAML ({where}: {getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a template declaration must be a mapping of slot fields")
    data.setdefault("kind", "slot")
    try:
        spec = _Wrapper.model_validate({"spec": data}).spec
    except ValidationError as exc:
        problems = _problems(exc, node)
        raise ConfigError(_summary(str(file), problems), problems, source=str(file)) from None
    resolved = name or spec.name or file.stem
    if isinstance(spec, JinjaTemplateSpec):
        from .jinja_template import JinjaTemplate

        if (spec.chat_template is None) == (spec.path is None):
            problem = [("chat_template", "give exactly one of chat_template and path")]
            raise ConfigError(_summary(str(file), problem), problem, source=str(file))
        if spec.path is not None:
            jinja_file = (file.parent / spec.path)
            if not jinja_file.is_file():
                line = _line_of(node, ("path",))
                problem = [("path", f"line {line}: {jinja_file} not found")]
                raise ConfigError(_summary(str(file), problem), problem, source=str(file))
            source_text = jinja_file.read_text(encoding="utf-8")
        else:
            source_text = spec.chat_template or ""
        return JinjaTemplate(source_text, name=resolved, description=spec.description, source=str(file))
    try:
        return template_from_spec(spec, resolved)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}", exc.problems, source=str(file)) from None
