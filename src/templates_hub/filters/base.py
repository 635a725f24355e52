"""The filter contract: a named, parameterised, picklable batch function.

A filter is a Pydantic model whose fields are its parameters (validated when the recipe is loaded, so an
unknown or out-of-range parameter is reported before any data is read) and whose ``__call__`` takes one
batch of canonical rows (``dict`` of column -> list, as ``datasets.map(batched=True)`` passes it) and
returns one entry per row: ``None`` to keep it, or a short reason string to drop it.

Being a model makes a filter picklable (``datasets.map(num_proc=N)`` ships it to worker processes) and
gives every filter a JSON Schema for free. Filters that need state across the whole dataset
(deduplication) set ``stateful = True`` and implement ``fit``: ``apply_filters`` calls it once on the
rows that survived the earlier filters, in the main process, before the batch calls, so the decision
never depends on how the rows were sharded across processes.

Plugins register filter classes through the ``register_filters`` hook::

    @hookimpl
    def register_filters(register):
        register(MyFilter)                     # name taken from MyFilter.name
        register(my_batch_function, name="x")  # a plain batch function without parameters
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..errors import ConfigError, PluginError

#: Column ``apply_filters`` adds to every batch: the row's 0-based position in the dataset given to
#: ``apply_filters``. Stateful filters key their decisions on it.
POSITION_COLUMN = "_filter_pos"

#: Every row kind a filter may declare support for.
ALL_KINDS: frozenset[str] = frozenset({"sft", "preference", "kto", "text"})
CONVERSATION_KINDS: frozenset[str] = frozenset({"sft", "preference", "kto"})

Batch = Mapping[str, list[Any]]


class Filter(BaseModel):
    """Base class of every filter. Subclasses declare parameters as Pydantic fields.

    Class attributes:

    - ``name``: the registered name used in recipes (``- name: response_length``).
    - ``kinds``: the row kinds it understands (``sft``, ``preference``, ``kto``, ``text``).
    - ``stateful``: True when ``fit`` must see the whole dataset first (dedup).
    - ``path_params``: parameters holding file paths; a recipe resolves them against its own directory.

    Subclasses implement ``check(row)`` (one row at a time) or override ``__call__(batch)`` (a whole batch,
    e.g. to tokenize all rows in one call).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: ClassVar[str] = ""
    kinds: ClassVar[frozenset[str]] = CONVERSATION_KINDS
    stateful: ClassVar[bool] = False
    path_params: ClassVar[tuple[str, ...]] = ()

    _tokenizer: Any = PrivateAttr(default=None)

    # ----------------------------------------------------------------- set-up
    def bind(self, *, tokenizer: Any = None) -> Filter:
        """Attach run-time objects that are not parameters (the tokenizer); returns self."""
        self._tokenizer = tokenizer
        return self

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def needs_tokenizer(self) -> bool:
        """True when these parameters need a tokenizer (e.g. ``unit: tokens``)."""
        return False

    def fit(self, dataset: Any, *, num_proc: int | None = None, batch_size: int = 1000) -> None:
        """Stateful filters: look at every row of ``dataset`` before the batch calls (main process).

        ``dataset`` carries the ``POSITION_COLUMN``; the batch calls that follow see the same positions.
        """

    # ----------------------------------------------------------------- the batch function
    def __call__(self, batch: Batch) -> list[str | None]:
        """One entry per row of ``batch``: None keeps the row, a string drops it and says why."""
        return [self.check(row) for row in batch_rows(batch)]

    def check(self, row: dict[str, Any]) -> str | None:
        """Decide one row (``row`` is a canonical row dict). Override this or ``__call__``."""
        raise NotImplementedError(f"filter {self.name!r} implements neither check() nor __call__()")

    # ----------------------------------------------------------------- description
    @classmethod
    def describe(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @classmethod
    def parameters(cls) -> list[str]:
        return list(cls.model_fields)


def batch_rows(batch: Batch) -> list[dict[str, Any]]:
    """Turn a column batch (dict of lists) into a list of row dicts."""
    columns = list(batch)
    if not columns:
        return []
    values = [batch[c] for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def batch_size_of(batch: Batch) -> int:
    for values in batch.values():
        return len(values)
    return 0


# --------------------------------------------------------------------------- plain functions as filters
class FunctionFilter(Filter):
    """A plain batch function registered as a filter (no parameters).

    Pickled by reference to the function (``__reduce__``), so the function must be importable
    (defined at module level), as ``datasets.map(num_proc=N)`` requires of any function anyway.
    """

    kinds: ClassVar[frozenset[str]] = ALL_KINDS
    func: ClassVar[Callable[[Batch], list[str | None]]]

    def __call__(self, batch: Batch) -> list[str | None]:
        return list(type(self).func(batch))

    def __reduce__(self):  # the class is created at run time: rebuild it from the function
        return (_rebuild_function_filter, (type(self).func, type(self).name))


def function_filter_class(func: Callable[[Batch], list[str | None]], name: str) -> type[FunctionFilter]:
    """A ``FunctionFilter`` subclass named ``name`` that calls ``func``."""
    doc = inspect.getdoc(func) or f"Filter function {getattr(func, '__qualname__', func)!r}."
    return type(
        f"FunctionFilter_{name}",
        (FunctionFilter,),
        {"__doc__": doc, "__module__": __name__, "name": name, "func": staticmethod(func)},
    )


def _rebuild_function_filter(func: Callable[[Batch], list[str | None]], name: str) -> FunctionFilter:
    return function_filter_class(func, name)()


def coerce_filter(obj: Any, name: str | None) -> tuple[str, type[Filter]]:
    """Registry coercer: accept a ``Filter`` subclass or a plain batch function."""
    if isinstance(obj, type) and issubclass(obj, Filter):
        resolved = name or obj.name
        if not resolved:
            raise PluginError(f"filter class {obj.__qualname__} has no name: set name = '...' or pass name=")
        if not obj.name:
            obj.name = resolved  # the class must know its name: counts and rejects use it
        elif resolved != obj.name:
            # a renamed subclass created here would not be importable, hence not picklable for num_proc
            raise PluginError(
                f"filter class {obj.__qualname__} is named {obj.name!r} but was registered as {resolved!r}: "
                "register it under its own name, or subclass it with name = '...'"
            )
        return resolved, obj
    if isinstance(obj, Filter):
        raise PluginError(f"register the filter class {type(obj).__qualname__}, not an instance of it")
    if callable(obj):
        resolved = name or getattr(obj, "__name__", None)
        if not resolved or resolved == "<lambda>":
            raise PluginError(f"cannot tell the name of filter function {obj!r}: pass name=... to register()")
        return resolved, function_filter_class(obj, resolved)
    raise PluginError(f"cannot register {obj!r} as a filter: expected a Filter subclass or a batch function")


# --------------------------------------------------------------------------- specs
def _filter_spec_schema(schema: dict[str, Any]) -> None:
    """JSON Schema of a filter entry: one variant per built-in filter (editors complete names and
    parameters), a bare name, or any other name with any parameters (a plugin's filter)."""
    from .builtin import builtin_filters

    variants: list[dict[str, Any]] = [{"type": "string", "description": "A filter name, with default parameters."}]
    names = []
    for cls in builtin_filters():
        own = cls.model_json_schema()
        names.append(cls.name)
        variants.append({
            "title": cls.name,
            "description": cls.describe(),
            "type": "object",
            "properties": {"name": {"const": cls.name}, **own.get("properties", {})},
            "required": ["name", *own.get("required", [])],
            "additionalProperties": False,
        })
    variants.append({
        "title": "plugin filter",
        "description": "A filter registered by a plugin: its name and its parameters.",
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1, "not": {"enum": names}}},
        "required": ["name"],
    })
    description = ("A filter: `name` plus that filter's parameters (docs/filters.md, `templates-hub list "
                   "filters`), or a bare name for the defaults.")
    schema.clear()
    schema.update({"title": "FilterSpec", "description": description, "anyOf": variants})


class FilterSpec(BaseModel):
    """One entry of a recipe's ``filters:`` list: the filter's name and its parameters."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_filter_spec_schema)

    name: str = Field(min_length=1, description="Registered filter name.")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        return value

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def get_filter_class(name: str) -> type[Filter]:
    """Look a filter class up in the registry (``PluginError`` with suggestions when unknown)."""
    from ..plugins import get_registry

    return get_registry("filters").get(name)


def _close(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build_filter(spec: Any, *, where: str = "filter", tokenizer: Any = None) -> Filter:
    """Turn a spec (``FilterSpec``, a mapping with ``name``, a bare name, or a ``Filter``) into a filter.

    Parameter errors become a ``ConfigError`` whose problems are located at ``where`` (the YAML path of
    the spec, e.g. ``filters[2]``): ``filters[2].min: must be >= 0``.
    """
    if isinstance(spec, Filter):
        return spec.bind(tokenizer=tokenizer) if tokenizer is not None else spec
    try:
        parsed = spec if isinstance(spec, FilterSpec) else FilterSpec.model_validate(spec)
    except ValidationError:
        raise ConfigError(
            f"{where}: a filter is a name or a mapping with a `name` key, got {spec!r}",
            problems=[(where, "expected a filter name or a mapping with a `name` key")],
        ) from None
    try:
        cls = get_filter_class(parsed.name)
    except PluginError as exc:
        raise ConfigError(f"{where}.name: {exc}", problems=[(f"{where}.name", str(exc))]) from None
    try:
        instance = cls.model_validate(parsed.params())
    except ValidationError as exc:
        from ..recipe import validation_problems

        problems = validation_problems(exc, prefix=where, model=cls, unknown_label="parameter")
        problems = [(path, f"{msg} (filter {parsed.name!r})") for path, msg in problems]
        detail = "; ".join(f"{p}: {m}" for p, m in problems)
        raise ConfigError(f"invalid parameters for filter {parsed.name!r}: {detail}", problems=problems) from None
    return instance.bind(tokenizer=tokenizer)


def filter_label(filters: list[Filter]) -> list[str]:
    """Names used in counts and rejects: the filter name, with ``#2``, ``#3`` for repeated names."""
    seen: dict[str, int] = {}
    totals: dict[str, int] = {}
    for f in filters:
        totals[f.name] = totals.get(f.name, 0) + 1
    labels = []
    for f in filters:
        seen[f.name] = seen.get(f.name, 0) + 1
        labels.append(f.name if totals[f.name] == 1 else f"{f.name}#{seen[f.name]}")
    return labels


__all__ = [
    "ALL_KINDS",
    "CONVERSATION_KINDS",
    "POSITION_COLUMN",
    "Filter",
    "FilterSpec",
    "FunctionFilter",
    "batch_rows",
    "build_filter",
    "coerce_filter",
    "filter_label",
    "get_filter_class",
]
