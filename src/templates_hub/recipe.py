"""One YAML recipe for the whole pipeline: data, filters, split, template, tokenizer, preprocess, export, train.

``load_recipe(path, overrides)`` reads the file, applies ``--set KEY=VALUE`` overrides, resolves relative
paths against the recipe's own directory and validates everything at once. Every problem is reported
with the file, the line and the YAML path, e.g. ``recipe.yaml:14: filters[2].min: must be >= 0``,
in one ``ConfigError`` (``problems`` holds the ``(yaml path, message)`` pairs).

The YAML is read with YAML 1.2 scalar rules instead of PyYAML's 1.1 defaults: only ``true``/``false``
are booleans (``no``, ``on``, ``y`` stay strings, so ``language: no`` means Norwegian), ``010`` is ten,
``1e-4`` is a float and dates stay strings. A key written twice in one mapping is an error.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError, TemplatesHubError, UsageError
from .export.config import ExportConfig
from .filters.base import FilterSpec
from .preprocess.config import PreprocessConfig
from .split import SplitConfig
from .train.config import TrainConfig

# =========================================================================== YAML (1.2 scalars, lines)


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with YAML 1.2 core-schema scalars (see the module docstring)."""


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = loader.construct_scalar(node)
    if value.startswith("0o"):
        return int(value[2:], 8)
    if value.startswith("0x"):
        return int(value[2:], 16)
    return int(value, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    value = loader.construct_scalar(node).lower()
    if value.endswith(".inf"):
        return float("-inf") if value.startswith("-") else float("inf")
    if value == ".nan":
        return float("nan")
    return float(value)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


RecipeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
RecipeLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
RecipeLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def parse_yaml(text: str, source: str = "<recipe>") -> tuple[Any, yaml.Node | None]:
    """Parse ``text``; return ``(data, node tree)``. Syntax errors and duplicate keys -> ``ConfigError``."""
    loader = RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        duplicates = _duplicate_keys(node)
        if duplicates:
            problems = [(path, f"key written twice (lines {first} and {second}); the second would win")
                        for path, first, second in duplicates]
            lines = [f"{source}:{second}: {path}: {msg}" for (path, _, second), (_, msg) in zip(duplicates, problems, strict=True)]
            raise ConfigError("\n".join(lines), problems=problems, source=source)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        what = " ".join(str(p) for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {what}", problems=[("(yaml)", what)], source=source) from None
    finally:
        loader.dispose()
    return data, node


def _duplicate_keys(node: yaml.Node, path: str = "") -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            if name in seen and name != "<<":
                found.append((child, seen[name], key.start_mark.line + 1))
            seen.setdefault(name, key.start_mark.line + 1)
            found += _duplicate_keys(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, f"{path}[{i}]")
    return found


def line_of(node: yaml.Node | None, parts: Sequence[str | int]) -> int | None:
    """1-based line of the YAML path ``parts`` (the deepest existing node when part of it is missing)."""
    if node is None:
        return None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                break
            node = match[1] if not isinstance(match[1], yaml.ScalarNode) or match[1].value != "" else match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1


def _in_file(node: yaml.Node | None, parts: Sequence[str | int]) -> bool:
    """True when the exact YAML path ``parts`` is written in the file."""
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return False
    return node is not None


# =========================================================================== YAML paths
_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def parse_path(path: str) -> list[str | int]:
    """``filters[2].min`` -> ``["filters", 2, "min"]``; ``ValueError`` when malformed."""
    parts: list[str | int] = []
    pos = 0
    text = path.strip()
    while pos < len(text):
        if text[pos] == "." and parts:
            pos += 1
        match = _PATH_TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse key path {path!r} (use keys like split.seed or filters[0].min)")
        parts.append(int(match.group(1)) if match.group(1) is not None else match.group(2).strip())
        pos = match.end()
    if not parts:
        raise ValueError("empty key path")
    return parts


def format_path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# =========================================================================== pydantic errors -> problems
_LOCATED = re.compile(r"^([A-Za-z_][\w]*(?:\[\d+\])*(?:\.[A-Za-z_][\w]*(?:\[\d+\])*)*|\[\d+\][\w\[\]\.]*): (.+)$")


def _display_loc(loc: Sequence[Any], data: Any) -> list[str | int]:
    """Drop the parts of a pydantic loc that are not in the data (union tags, class names)."""
    if data is None:
        return list(loc)
    shown: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, dict):
            if part in current:
                shown.append(part)
                current = current[part]
            elif last:
                shown.append(part)
                current = None
            # else: a union tag or class name that pydantic puts in the loc: not a key of the file
        elif isinstance(current, list) and isinstance(part, int):
            shown.append(part)
            current = current[part] if part < len(current) else None
        elif current is None:
            shown.append(part)
        # else: below a scalar value, parts are union member names ("int", "float"): not keys
    return shown


def _merge_union_messages(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One problem per path: a value that fits no member of ``int | float`` gets one message
    ("must be an integer or a number (got 'x')"), not one per member."""
    merged: dict[str, list[str]] = {}
    for path, msg in problems:
        merged.setdefault(path, [])
        if msg not in merged[path]:
            merged[path].append(msg)
    out = []
    for path, msgs in merged.items():
        got = re.compile(r" \(got .*\)$")
        if len(msgs) > 1 and all(m.startswith("must be ") for m in msgs):
            tail = got.search(msgs[0])
            wants = [got.sub("", m).removeprefix("must be ") for m in msgs]
            out.append((path, "must be " + " or ".join(wants) + (tail.group(0) if tail else "")))
        else:
            out.extend((path, m) for m in msgs)
    return out


def _unwrap_models(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel class inside an annotation (Optional, Union, list, Annotated ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    args = typing.get_args(annotation)
    if origin is Annotated:
        args = args[:1]
    out: list[type[BaseModel]] = []
    for arg in args:
        out += _unwrap_models(arg)
    return out


def _fields_at(model: type[BaseModel] | None, loc: Sequence[Any]) -> list[str]:
    """The field names of the model reached by following ``loc`` from ``model`` (for suggestions)."""
    if model is None:
        return []
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if not isinstance(part, str):
            continue
        nxt: list[type[BaseModel]] = []
        for cls in candidates:
            if part in cls.model_fields:
                nxt += _unwrap_models(cls.model_fields[part].annotation)
        if nxt:
            candidates = nxt
    names: list[str] = []
    for cls in candidates:
        names += [n for n in cls.model_fields if n not in names]
    return names


_EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
}


def _friendly(err: dict[str, Any], unknown_label: str) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return f"required {unknown_label} is missing"
    if kind == "extra_forbidden":
        return f"unknown {unknown_label}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"must be {bounds[kind]} {limit} (got {err.get('input')!r})"
    expected = _EXPECTED.get(kind.removesuffix("_parsing").removesuffix("_type"))
    if expected and kind.endswith(("_type", "_parsing")):
        msg = f"must be {expected}"
    msg = msg.replace("Input should be", "must be")
    if kind.endswith(("_type", "_parsing", "literal_error", "enum")) and "input" in err:
        got = err["input"]
        msg += f" (got {got!r})" if not isinstance(got, (dict, list)) else f" (got a {'mapping' if isinstance(got, dict) else 'list'})"
    return msg


def validation_problems(
    exc: ValidationError,
    *,
    prefix: str = "",
    model: type[BaseModel] | None = None,
    data: Any = None,
    unknown_label: str = "key",
) -> list[tuple[str, str]]:
    """Turn a pydantic ``ValidationError`` into ``(yaml path, message)`` pairs.

    ``prefix`` is the YAML path of the validated object (``filters[2]``); ``data`` the input, used to
    drop union tags from locs; ``model`` the validated class, used to suggest close key names.
    """
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = _display_loc(tuple(err["loc"]), data)
        base = format_path(loc)
        msg = _friendly(err, unknown_label)
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            known = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg += f" (did you mean {close[0]!r}?)" if close else (f"; expected one of: {', '.join(known)}" if known else "")
        if err["type"] in ("value_error", "assertion_error"):
            chunks = msg.split("\n")
            if all(_LOCATED.match(c) for c in chunks):
                for chunk in chunks:
                    field, reason = _LOCATED.match(chunk).groups()  # type: ignore[union-attr]
                    joined = field if not base else (f"{base}{field}" if field.startswith("[") else f"{base}.{field}")
                    problems.append((_join(prefix, joined), reason))
                continue
        problems.append((_join(prefix, base) or "(top level)", msg))
    return _merge_union_messages(problems)


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


# =========================================================================== sections
class DataConfig(BaseModel):
    """Where the rows come from (the recipe's ``data:`` section)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        description="A data file (json, jsonl, csv, parquet, arrow, txt), a directory, a glob or a Hugging Face hub "
        "dataset id. Relative paths are relative to the recipe file.",
    )
    format: str | None = Field(
        default=None, description="Format adapter (alpaca, sharegpt, openai, ...); default: detected from the rows."
    )
    kind: Literal["sft", "preference", "kto", "text"] | None = Field(
        default=None, description="Row kind; default: what the format / rows say."
    )
    dataset_info: str | None = Field(
        default=None, description="A LLaMA-Factory data directory holding dataset_info.json (use with `dataset`)."
    )
    dataset: str | None = Field(
        default=None,
        description="The entry of dataset_info.json to load (its file, format and column mapping; with `path`, "
        "that file is read with the entry's mapping).",
    )
    split: str = Field(default="train", description="Split of a hub dataset or of a data directory.")
    streaming: bool = Field(default=False, description="Read rows lazily (data larger than memory).")
    num_proc: int | None = Field(default=None, ge=1, description="Worker processes for loading, filtering and splitting.")
    max_rows: int | None = Field(default=None, ge=1, description="Read only the first N rows (quick trials).")
    options: dict[str, Any] = Field(default_factory=dict, description="Extra options for the format adapter.")

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.dataset is not None and self.dataset_info is None:
            raise ValueError("dataset_info: required with `dataset` (the directory holding dataset_info.json)")
        if self.dataset_info is not None and self.dataset is None:
            raise ValueError("dataset: required with `dataset_info` (which entry of dataset_info.json to load)")
        if self.path is None and self.dataset is None:
            raise ValueError("path: required (a file, directory or hub id), or `dataset_info` + `dataset`")
        return self

    @property
    def source(self) -> str | None:
        """What ``load_canonical`` reads: the path / hub id (None: the dataset_info entry's file)."""
        return self.path

    @property
    def label(self) -> str:
        """The data source in words, for reports."""
        if self.dataset is not None:
            entry = f"{self.dataset_info}/dataset_info.json[{self.dataset}]"
            return f"{self.path} (read as {entry})" if self.path else entry
        return str(self.path)

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``templates_hub.formats.load_canonical`` (besides the source)."""
        return {
            "format": self.format,
            "kind": self.kind,
            "dataset_info": self.dataset_info,
            "dataset": self.dataset,
            "split": self.split,
            "streaming": self.streaming,
            "num_proc": self.num_proc,
            "options": dict(self.options) or None,
            "max_rows": self.max_rows,
        }


def _or_bare_name(schema: dict[str, Any]) -> None:
    """JSON Schema: the section may also be written as a bare string (its ``name``)."""
    mapping = dict(schema)
    schema.clear()
    schema.update({"title": mapping.get("title"), "description": mapping.get("description"),
                   "anyOf": [{"type": "string", "description": "Shorthand for {name: ...}."}, mapping]})


class TemplateConfig(BaseModel):
    """The chat template (the recipe's ``template:`` section; a bare string is ``name``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_or_bare_name)

    name: str = Field(
        description="A registered template (qwen, llama3, ...), a .yaml slot template or .jinja file (relative to "
        "the recipe), or `tokenizer` for the tokenizer's own chat_template."
    )
    default_system: str | None = Field(default=None, description="System prompt used when a row has none.")
    tool_format: str | None = Field(default=None, description="Tool-call format override (e.g. qwen, glm4, default).")
    options: dict[str, Any] = Field(default_factory=dict, description="Template-specific render options.")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def render_options(self, preprocess: PreprocessConfig | None = None, *, mode: str = "multiturn") -> Any:
        """The ``RenderOptions`` for this template and the preprocess settings."""
        from .templates.base import RenderOptions

        pre = preprocess or PreprocessConfig()
        return RenderOptions(
            mode=mode,  # type: ignore[arg-type]
            enable_thinking=pre.enable_thinking,
            preserve_thinking=pre.preserve_thinking,
            mask_history=pre.mask_history,
            default_system=self.default_system,
            tool_format=self.tool_format,
            extra=dict(self.options),
        )


def _export_tag(value: Any) -> str:
    return "many" if isinstance(value, list) else "one"


ExportSection = Annotated[
    Annotated[ExportConfig, Tag("one")] | Annotated[list[ExportConfig], Tag("many")],
    Discriminator(_export_tag),
]


class Recipe(BaseModel):
    """A templates-hub recipe: every step from raw rows to training, in one YAML file."""

    model_config = ConfigDict(extra="forbid", title="Recipe")

    name: str | None = Field(default=None, min_length=1, description="Run name (default: the recipe file's name).")
    data: DataConfig
    filters: list[FilterSpec] = Field(default_factory=list, description="Filters, applied in order.")
    split: SplitConfig | None = Field(
        default=None, description="Train/validation split; absent or null: everything is train; {} for the defaults."
    )
    template: TemplateConfig | None = Field(default=None, description="Chat template (name, path or `tokenizer`).")
    tokenizer: str | None = Field(
        default=None, description="Tokenizer: a local directory, a hub id, or `tiny` (offline test tokenizer)."
    )
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig, description="Tokenization settings.")
    export: ExportSection | None = Field(default=None, description="One export or a list of exports.")
    train: TrainConfig | None = Field(default=None, description="Training settings (HF Trainer).")

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("filters", mode="before")
    @classmethod
    def _filters_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("preprocess", mode="before")
    @classmethod
    def _preprocess_default(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _check_filters(self) -> Recipe:
        """Validate each filter's parameters against the registered filter (plugins included)."""
        problems = filter_problems(self.filters, has_tokenizer=self.tokenizer is not None)
        explicit = "preprocessor" in self.preprocess.model_fields_set
        problems += preprocessor_problems(self.preprocess.preprocessor if explicit else None, self.data.kind)
        if self.split is not None and self.split.needs_tokenizer() and self.tokenizer is None:
            problems.append(("split.length_unit", "counting tokens needs a tokenizer: set `tokenizer:` in the recipe"))
        if problems:
            raise ValueError("\n".join(f"{path}: {msg}" for path, msg in problems))
        return self

    # ------------------------------------------------------------------ helpers for the steps
    @property
    def source(self) -> Path | None:
        """The recipe file this recipe was loaded from (None when built in Python)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Directory relative paths were resolved against."""
        return self._source.parent if self._source is not None else Path.cwd()

    @property
    def run_name(self) -> str:
        return self.name or (self._source.stem if self._source is not None else "recipe")

    def exports(self) -> list[ExportConfig]:
        """The export section as a list (empty when absent)."""
        if self.export is None:
            return []
        return list(self.export) if isinstance(self.export, list) else [self.export]

    def build_filters(self, tokenizer: Any = None) -> list[Any]:
        """Instantiate the filters (``templates_hub.filters.base.Filter`` objects) bound to ``tokenizer``."""
        from .filters.base import build_filter

        return [build_filter(spec, where=f"filters[{i}]", tokenizer=tokenizer) for i, spec in enumerate(self.filters)]

    def needs_tokenizer(self) -> bool:
        """True when a filter or the split counts tokens (prepare then loads ``tokenizer``)."""
        split = self.split is not None and self.split.needs_tokenizer()
        return split or any(f.needs_tokenizer() for f in self.build_filters())


def filter_problems(specs: Sequence[Any], *, has_tokenizer: bool = True) -> list[tuple[str, str]]:
    """``(yaml path, message)`` for every invalid filter spec (unknown name or parameter, bad value)."""
    from .filters.base import build_filter

    problems: list[tuple[str, str]] = []
    for i, spec in enumerate(specs):
        try:
            flt = build_filter(spec, where=f"filters[{i}]")
        except ConfigError as exc:
            problems += exc.problems or [(f"filters[{i}]", str(exc))]
            continue
        if flt.needs_tokenizer() and not has_tokenizer:
            problems.append((f"filters[{i}].unit", "counting tokens needs a tokenizer: set `tokenizer:` in the recipe"))
    return problems


def preprocessor_problems(name: Any, kind: str | None = None, why: str = "data.kind") -> list[tuple[str, str]]:
    """``(yaml path, message)`` for a ``preprocess.preprocessor`` that is unknown (with a did-you-mean and
    the registered names, plugins included) or that cannot read the recipe's declared ``data.kind``.

    Checked when the recipe is read, like the filters, so a typo fails before any data are loaded.
    ``name`` None (not set in the recipe) means "chosen by the data's kind" and always works; ``why`` says
    where ``kind`` comes from.
    """
    if not isinstance(name, str):
        return []
    from .preprocess.api import find_preprocessor

    try:
        find_preprocessor(name, kind, why)
    except UsageError as exc:
        return [("preprocess.preprocessor", str(exc))]
    return []


# =========================================================================== overrides
def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``"filters[0].min=3"`` -> ``(["filters", 0, "min"], 3)``; the value is read as a YAML scalar / flow value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. split.seed=7 or filters[0].min=3",
                          problems=[("--set", f"malformed override {text!r}")])
    try:
        parts = parse_path(key)
    except ValueError as exc:
        raise ConfigError(f"--set {text!r}: {exc}", problems=[("--set", str(exc))]) from None
    try:
        value = yaml.load(raw, Loader=RecipeLoader) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # not valid YAML (e.g. "a: b: c"): take it as a plain string
    if value is None and raw.strip() and not _NULL.match(raw.strip()):
        value = raw.strip()  # YAML read a comment ("#1 rule") as nothing: the user meant the text
    return parts, value


#: what a YAML 1.2 null looks like, optionally followed by a comment
_NULL = re.compile(r"^(?:null|Null|NULL|~)(?:\s+#.*)?$")


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``KEY=VALUE`` override applied (``split.seed=7``, ``filters[0].min=3``).

    Missing mappings are created; a list index may address an existing item or append one (index ==
    length). Values are parsed as YAML (``7`` -> int, ``true`` -> bool, ``null`` -> None, ``[a, b]`` -> list).
    """
    result = copy.deepcopy(data) if data is not None else {}
    if not isinstance(result, dict):
        raise ConfigError("the recipe must be a mapping at the top level", problems=[("(top level)", "not a mapping")])
    for text in overrides:
        parts, value = parse_override(text)
        _set_path(result, parts, value, text)
    return result


#: sections that may be written as a bare name, i.e. ``{name: ...}`` (``template: qwen``, ``- exact_dedup``)
_NAME_SHORTHANDS = (("template",), ("filters", int))


def _expand_shorthand(container: Any, key: str | int, at: list[str | int]) -> None:
    """``--set filters[0].roles=...`` on ``- empty_turns``: first turn the bare name into ``{name: ...}``."""
    if not isinstance(container[key], str):
        return
    for shape in _NAME_SHORTHANDS:
        if len(shape) == len(at) and all(s is int and isinstance(p, int) or s == p for s, p in zip(shape, at, strict=True)):
            container[key] = {"name": container[key]}
            return


def _set_path(root: dict[str, Any], parts: list[str | int], value: Any, text: str) -> None:
    current: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = format_path(parts[: i + 1])
        nxt_default: Any = [] if not last and isinstance(parts[i + 1], int) else {}
        if isinstance(part, int):
            if not isinstance(current, list):
                raise ConfigError(f"--set {text}: {format_path(parts[:i]) or 'the recipe'} is not a list",
                                  problems=[(where, "not a list")])
            if part > len(current):
                raise ConfigError(
                    f"--set {text}: {format_path(parts[:i])} has {len(current)} entries; index {part} is out of range "
                    f"(use [{len(current)}] to append one)",
                    problems=[(where, "index out of range")],
                )
            if part == len(current):
                current.append(value if last else nxt_default)
            elif last:
                current[part] = value
            if last:
                return
            if current[part] is None:
                current[part] = nxt_default
            _expand_shorthand(current, part, parts[: i + 1])
            current = current[part]
        else:
            if not isinstance(current, dict):
                raise ConfigError(f"--set {text}: {format_path(parts[:i]) or 'the recipe'} is not a mapping",
                                  problems=[(where, "parent is not a mapping")])
            if last:
                current[part] = value
                return
            if current.get(part) is None:
                current[part] = nxt_default
            _expand_shorthand(current, part, parts[: i + 1])
            current = current[part]


# =========================================================================== relative paths
_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".arrow", ".txt", ".yaml", ".yml", ".jinja", ".j2", ".gz")


def _looks_like_path(value: str) -> bool:
    return (
        value.startswith(("./", "../", "~", ".\\", "..\\"))
        or value.lower().endswith(_FILE_SUFFIXES)
        or any(ch in value for ch in "*?")
    )


def resolve_input(value: str, base: Path) -> str:
    """An input that may be a local path or a name / hub id: resolved when it exists relative to ``base``
    or clearly names a file; left alone otherwise (``tiny``, ``qwen``, ``tatsu-lab/alpaca``)."""
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    candidate = base / expanded
    if candidate.exists() or _looks_like_path(value):
        return str(candidate.resolve()) if candidate.exists() else os.path.normpath(str(candidate))
    return value


def resolve_data_source(value: str, base: Path) -> str:
    """``data.path``: a local file or folder (resolved against ``base``) or a hub id (left alone).

    Uses the loader's own rule (``looks_local``), so a misspelt local file (``demo/alpaca.jsonll``) stays
    a path, and loading it fails at once with "no such file" and a did-you-mean instead of being sent to
    the Hugging Face Hub; a hub id stays a hub id even when a folder next to the recipe shares its owner's
    name.
    """
    from .formats.readers import looks_local

    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    candidate = base / expanded
    if candidate.exists():
        return str(candidate.resolve())
    if _looks_like_path(value) or looks_local(value):
        return os.path.normpath(str(candidate))
    return value


def resolve_output(value: str, base: Path) -> str:
    expanded = os.path.expanduser(value)
    return expanded if os.path.isabs(expanded) else os.path.normpath(str(base / expanded))


#: (path of the key, input or output); "*" is every item of a list (or the single mapping)
_PATH_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("data", "path"), "data"),
    (("data", "dataset_info"), "input"),
    (("template", "name"), "input"),
    (("tokenizer",), "input"),
    (("preprocess", "output_dir"), "output"),
    (("export", "*", "out_dir"), "output"),
    (("export", "*", "model_name_or_path"), "input"),
    (("train", "model"), "input"),
    (("train", "output_dir"), "output"),
    (("train", "tokenized_path"), "input"),
    (("train", "resume_from_checkpoint"), "input"),
)


def resolve_paths(data: dict[str, Any], base: Path, overridden: Sequence[Sequence[str | int]] = ()) -> dict[str, Any]:
    """Resolve relative paths in ``data`` (in place) against ``base``; overridden keys against the cwd."""
    cwd = Path.cwd()

    def base_for(parts: Sequence[str | int]) -> Path:
        return cwd if any(tuple(parts[: len(o)]) == tuple(o) for o in overridden) else base

    def visit(node: Any, keys: tuple[str, ...], parts: tuple[str | int, ...], mode: str) -> None:
        if not keys or not isinstance(node, dict):
            return
        key, rest = keys[0], keys[1:]
        if key == "*":
            items = list(enumerate(node)) if isinstance(node, list) else [(None, node)]
            for idx, item in items:
                visit(item, rest, parts + ((idx,) if idx is not None else ()), mode)
            return
        if key not in node:
            return
        if rest:
            child = node[key]
            if rest[0] == "*" and isinstance(child, list):
                for idx, item in enumerate(child):
                    visit(item, rest[1:], parts + (key, idx), mode)
            else:
                visit(child, rest[1:] if rest[0] == "*" else rest, parts + (key,), mode)
            return
        value = node[key]
        if isinstance(value, str) and value:
            where = base_for(parts + (key,))
            resolve = {"output": resolve_output, "data": resolve_data_source}.get(mode, resolve_input)
            node[key] = resolve(value, where)

    for keys, mode in _PATH_KEYS:
        if keys[0] == "tokenizer":
            value = data.get("tokenizer")
            if isinstance(value, str) and value:
                data["tokenizer"] = resolve_input(value, base_for(("tokenizer",)))
            continue
        if keys[0] == "template" and isinstance(data.get("template"), str):
            data["template"] = {"name": data["template"]}
        visit(data, keys, (), mode)
    _resolve_filter_paths(data, base_for)
    return data


def _resolve_filter_paths(data: dict[str, Any], base_for: Any) -> None:
    filters = data.get("filters")
    if not isinstance(filters, list):
        return
    from .filters.base import get_filter_class

    for i, spec in enumerate(filters):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            continue
        try:
            cls = get_filter_class(spec["name"])
        except TemplatesHubError:
            continue  # reported by validation
        for param in getattr(cls, "path_params", ()):
            value = spec.get(param)
            if isinstance(value, str) and value:
                spec[param] = resolve_input(value, base_for(("filters", i, param)))
            elif isinstance(value, list):
                spec[param] = [resolve_input(v, base_for(("filters", i, param))) if isinstance(v, str) else v
                               for v in value]


# =========================================================================== loading
def _override_for(parts: Sequence[str | int], root: yaml.Node | None,
                  overrides: dict[tuple[str | int, ...], str]) -> str | None:
    """The ``--set`` text a problem at ``parts`` comes from, if any.

    Either the override set ``parts`` or a key above it (``--set split.seed=x`` for ``split.seed``), or the
    override created a mapping the file does not have and the problem is about that mapping
    (``--set foo.bar=1`` -> ``foo: unknown key``; ``--set template.default_system=x`` on a recipe without
    a template -> ``template.name: required key is missing``).
    """
    for key, text in overrides.items():
        if tuple(parts[: len(key)]) == key:
            return text
    for key, text in overrides.items():
        common = 0
        while common < min(len(key), len(parts)) and key[common] == parts[common]:
            common += 1
        if common and not _in_file(root, key[:common]):
            return text
    return None


def _located_error(source: str, root: yaml.Node | None, problems: list[tuple[str, str]],
                   overrides: dict[tuple[str | int, ...], str]) -> ConfigError:
    located: list[tuple[int, str, tuple[str, str]]] = []
    for path, msg in problems:
        try:
            parts = parse_path(path) if path not in ("(top level)", "(yaml)") else []
        except ValueError:
            parts = []
        override = _override_for(parts, root, overrides)
        line = line_of(root, parts)
        if override is not None and not _in_file(root, parts):
            where = f"--set {override}"
        elif override is not None:
            where = f"{source}:{line} (overridden by --set {override})"
        else:
            where = f"{source}:{line}" if line is not None else source
        located.append((line or 0, f"{where}: {path}: {msg}", (path, msg)))
    located.sort(key=lambda item: item[0])  # stable: problems of one line keep their order
    lines = [text for _, text, _ in located]
    problems = [problem for _, _, problem in located]
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return ConfigError(f"invalid recipe {source} ({count}):\n  " + "\n  ".join(lines), problems=problems, source=source)


def recipe_error(recipe: Recipe, problems: list[tuple[str, str]]) -> ConfigError:
    """A ``ConfigError`` for problems found in a loaded recipe by a later check (a command's own needs),
    located like loading errors: ``file:line: yaml.path: message`` for keys written in the file, and
    ``file: yaml.path: message`` for keys that are missing from it."""
    label = "<recipe>"
    if recipe.source is not None:
        try:
            label = str(recipe.source.relative_to(Path.cwd()))
        except ValueError:
            label = str(recipe.source)
    node = None
    if recipe.source is not None:
        try:
            _, node = parse_yaml(recipe.source.read_text(encoding="utf-8"), label)
        except (OSError, UnicodeDecodeError, TemplatesHubError):
            node = None
    lines = []
    for path, msg in problems:
        try:
            parts = parse_path(path)
        except ValueError:
            parts = []
        line = line_of(node, parts) if parts and _in_file(node, parts) else None
        lines.append(f"{label}:{line}: {path}: {msg}" if line is not None else f"{label}: {path}: {msg}")
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return ConfigError(f"invalid recipe {label} ({count}):\n  " + "\n  ".join(lines), problems=list(problems),
                       source=label)


def recipe_from_data(
    data: Any,
    *,
    source: str | os.PathLike[str] | None = None,
    node: yaml.Node | None = None,
    overrides: Sequence[str] = (),
) -> Recipe:
    """Validate recipe ``data`` (a dict read from YAML), reporting every problem with its line."""
    label = str(source) if source is not None else "<recipe>"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: a recipe is a mapping of sections (data:, filters:, split: ...), "
                          f"got {type(data).__name__}", problems=[("(top level)", "not a mapping")], source=label)
    data = apply_overrides(data, overrides)
    override_keys = {tuple(parse_override(text)[0]): text for text in overrides}
    base = Path(source).resolve().parent if source is not None else Path.cwd()
    resolve_paths(data, base, list(override_keys))
    if source is not None and data.get("name") is None:
        data["name"] = Path(source).stem
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, model=Recipe, data=data)
        filters = data.get("filters")
        if isinstance(filters, list) and not any(p.startswith("filters[") for p, _ in problems):
            # the model's own filter check did not run (it runs after the fields): do it now so that
            # every problem of the file is reported at once
            problems += filter_problems(filters, has_tokenizer=data.get("tokenizer") is not None)
        section = data.get("preprocess")
        if isinstance(section, dict) and not any(p.startswith("preprocess.preprocessor") for p, _ in problems):
            data_section = data.get("data") if isinstance(data.get("data"), dict) else {}
            kind = data_section.get("kind") if isinstance(data_section.get("kind"), str) else None
            problems += preprocessor_problems(section.get("preprocessor"), kind)
        raise _located_error(label, node, problems, override_keys) from None
    if source is not None:
        recipe._source = Path(source).resolve()
    return recipe


def load_recipe(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read, override, resolve and validate a recipe file.

    Raises ``UsageError`` when the file is missing and ``ConfigError`` (every problem with
    ``file:line: yaml.path: message``) when it is invalid.
    """
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"recipe {file}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"recipe {file}: cannot read it ({exc})") from None
    data, node = parse_yaml(text, str(file))
    return recipe_from_data(data, source=file, node=node, overrides=overrides)


__all__ = [
    "DataConfig",
    "Recipe",
    "RecipeLoader",
    "TemplateConfig",
    "apply_overrides",
    "line_of",
    "load_recipe",
    "parse_override",
    "parse_yaml",
    "preprocessor_problems",
    "recipe_error",
    "recipe_from_data",
    "resolve_paths",
    "validation_problems",
]
