"""The format adapter contract: raw records of one on-disk layout <-> canonical rows.

An adapter is a small class with a ``name``, a ``description`` and the row ``kinds`` it can produce
(``sft``, ``preference``, ``kto``, ``text``). It is configured with an ``options`` dict (column names and
role tags, named as in LLaMA-Factory's ``dataset_info.json``) and does three things:

- ``detect(sample)``: score how well the first rows of a file fit its layout (auto-detection);
- ``convert(record)``: turn one raw record into one canonical row, raising ``RowProblem`` with the
  *raw* field path (``conversations[3].from``) when it cannot;
- ``write(row)``: turn one canonical row back into its layout (for the layouts that have a writer),
  raising ``RowProblem`` when the layout cannot represent the row instead of silently losing data.

Adapters never validate the canonical model themselves: ``adapt_record`` runs the Pydantic models of
``templates_hub.schemas`` on every converted row and translates the canonical field paths of their
complaints (``messages[2].content``) back into the raw record's paths with the adapter's ``Origin`` map,
so a user is pointed at the place in *their* file. Adapters are plain picklable objects: the loader
runs them inside ``datasets.map(batched=True, num_proc=...)``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import UsageError
from ..schemas import validate_row

KINDS: tuple[str, ...] = ("sft", "preference", "kto", "text")

#: LLaMA-Factory's default thought words: how a chain of thought is embedded in message text.
THOUGHT_WORDS: tuple[str, str] = ("<think>\n", "\n</think>\n\n")


class RowProblem(Exception):
    """One record cannot be converted (or written): ``field`` is a path inside that record."""

    def __init__(self, field: str, reason: str, kind: str = "invalid"):
        self.field = field
        self.reason = reason
        self.kind = kind
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass
class Detection:
    """How well a sample of rows fits an adapter's layout.

    ``score`` is in [0, 1] (the share of sampled rows that look like the layout, weighted by how
    specific the evidence is); ``kind`` the row kind the sample holds; ``options`` the settings detection
    discovered (for example which column holds the messages); ``evidence`` a short human explanation.
    """

    score: float
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    evidence: str = ""


@dataclass
class Converted:
    """A converted record: the canonical row plus where each canonical path came from."""

    row: dict[str, Any]
    origin: dict[str, str] = field(default_factory=dict)


class FormatAdapter:
    """Base class of every input/output layout. Subclasses set the class attributes and override
    ``detect``, ``convert`` and (for layouts that can be written) ``write``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: the row kinds this layout can hold
    kinds: ClassVar[tuple[str, ...]] = ("sft",)
    #: option name -> default (None = column disabled); unknown options are a usage error
    defaults: ClassVar[dict[str, Any]] = {}
    #: whether ``write`` is implemented (``write_records`` accepts this name as a layout)
    writable: ClassVar[bool] = False
    #: the options that name a top-level column of a record (as opposed to role tags or switches); a
    #: column set explicitly must exist in the data (``check_columns``)
    column_options: ClassVar[tuple[str, ...]] = ()
    #: column options read only for some row kinds (``chosen`` is not read from sft rows, ...)
    kind_columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "chosen": ("preference",), "rejected": ("preference",), "kto_tag": ("kto",),
    }

    def __init__(self, options: Mapping[str, Any] | None = None, *, kind: str | None = None):
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "(none)"
            raise UsageError(f"format {self.name!r} has no option {', '.join(map(repr, unknown))}; known options: {known}")
        self.options: dict[str, Any] = {**self.defaults, **options}
        #: the options the user (or dataset_info.json) set explicitly, as opposed to defaults
        self.explicit: frozenset[str] = frozenset(options)
        if kind is not None and kind not in self.kinds:
            raise UsageError(
                f"format {self.name!r} cannot hold {kind!r} rows; it holds: {', '.join(self.kinds)}"
            )
        self.kind: str | None = kind

    # -- detection -----------------------------------------------------------------------------------
    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        """Score a sample of raw records (None = certainly not this layout)."""
        return None

    def prepare(self, sample: Sequence[Mapping[str, Any]]) -> None:
        """Settle everything the first rows decide before conversion (the kind, by default).

        Called by the loader with the first rows of the file; an adapter given an explicit kind keeps it,
        and explicitly mapped kind-specific columns (``chosen=better``) decide it before the data do.
        """
        if self.kind is None:
            self.kind = self.implied_kind(self.explicit)
        if self.kind is None:
            found = self.detect(sample)
            self.kind = found.kind if found is not None and found.kind in self.kinds else self.kinds[0]

    @classmethod
    def implied_kind(cls, explicit: Iterable[str]) -> str | None:
        """The one row kind that explicitly set options imply (``chosen`` -> preference), else None.

        Detection looks for the default column names, so data whose answers sit in custom columns
        (``-o chosen=better -o rejected=worse``) would otherwise be taken for sft rows.
        """
        implied: set[str] = set()
        for option in explicit:
            kinds = cls.kind_columns.get(option, ()) if option in cls.column_options else ()
            if len(kinds) == 1:
                implied.add(kinds[0])
        if len(implied) == 1 and (kind := implied.pop()) in cls.kinds:
            return kind
        return None

    # -- column mapping ------------------------------------------------------------------------------
    def read_columns(self) -> dict[str, str]:
        """``{option: column}`` for every column this configuration reads (call after ``prepare``).

        Every ``column_options`` entry set to a name, less those ``kind_columns`` reserves for other
        row kinds (an sft adapter does not read ``chosen``).
        """
        kind = self.kind or self.kinds[0]
        return {k: self.options[k] for k in self.column_options
                if isinstance(self.options.get(k), str) and self.options[k] and kind in self.kind_columns.get(k, (kind,))}

    def check_columns(self, sample: Sequence[Mapping[str, Any]], source: str | None = None, *,
                      columns: Sequence[str] | None = None, occurs: Callable[[str], bool] | None = None,
                      origins: Mapping[str, str] | None = None) -> None:
        """Refuse an explicitly mapped column that the data do not have.

        A misspelt mapping (``prompt=instructon``) otherwise reads as "absent" in every row: the rows
        are rejected for an empty prompt, or, worse, accepted without that text (alpaca joins
        instruction and input, so an input alone still makes a user turn), and LLaMA-Factory would stop
        with a KeyError. Only options in ``self.explicit`` are checked: a default column (``system``,
        ``history``, ``tools``, ...) may legitimately be absent. A mapped column only needs to occur
        somewhere: an optional column such as ``history`` may be missing from most rows.

        - ``columns``: every column of the data, when the reader knows them (a CSV header, a parquet or
          Arrow schema, a JSON array read by ``datasets``); the check is against them alone.
        - ``occurs(column)``: otherwise (JSON Lines, whose columns are only known row by row), asked for a
          column that no sampled record has; it answers whether the column occurs anywhere in the data.
          Without it the sample stands for all the data.
        - ``origins``: ``{option: where its mapping was set}`` (a dataset_info.json entry), for the message;
          default ``option NAME``.
        """
        if columns is None and not sample and occurs is None:
            return
        if columns is not None:
            seen = [str(c) for c in columns if not str(c).startswith("__")]
        else:
            seen = []
            for record in sample:
                seen += [str(k) for k in record if not str(k).startswith("__") and str(k) not in seen]
        for option, column in self.read_columns().items():
            if option not in self.explicit:
                continue
            if columns is not None:
                if column in columns:
                    continue
            elif any(column in record for record in sample) or (occurs is not None and occurs(column)):
                continue
            where = f" of {source}" if source else ""
            first = "the first row" if len(sample) == 1 else f"the first {len(sample)} rows"
            scope = "any row" if columns is not None or occurs is not None else f"any of {first}"
            listed = "columns" if columns is not None or occurs is None else f"columns of {first}"
            shown = ", ".join(seen[:30]) + (f", ... ({len(seen)} in all)" if len(seen) > 30 else "")
            close = difflib.get_close_matches(column, seen, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            origin = (origins or {}).get(option) or f"option {option}"
            raise UsageError(f"column {column!r} ({origin}) is not in {scope}{where}; {listed}: {shown or '(none)'}{hint}")

    # -- conversion ----------------------------------------------------------------------------------
    def convert(self, record: Mapping[str, Any]) -> Converted:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        raise UsageError(f"format {self.name!r} has no writer; layouts that can be written: alpaca, sharegpt, openai")

    def describe(self) -> str:
        """One line for reports: name, kind and the options that differ from the defaults."""
        changed = {k: v for k, v in self.options.items() if self.defaults.get(k) != v}
        extra = f" ({', '.join(f'{k}={v!r}' for k, v in changed.items())})" if changed else ""
        return f"{self.name}{extra}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, options={self.options!r})"

    # Pickled into datasets.map workers and hashed for its cache fingerprint: the state must be
    # deterministic (no set ordering) and leave out private caches (attributes starting with "_").
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        state["explicit"] = sorted(self.explicit)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.explicit = frozenset(state.get("explicit", ()))


# ---------------------------------------------------------------------------------------------------
# helpers shared by the adapters


def present(record: Mapping[str, Any], column: str | None) -> bool:
    """True when ``column`` is configured and the record holds a non-null value in it."""
    return bool(column) and record.get(column) is not None  # type: ignore[arg-type]


def type_name(value: Any) -> str:
    return {
        dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
        float: "a number", type(None): "null",
    }.get(type(value), type(value).__name__)


def need_str(value: Any, where: str, *, allow_none: bool = False) -> str | None:
    """``value`` must be a string (or None when allowed); report the raw path otherwise."""
    if value is None:
        if allow_none:
            return None
        raise RowProblem(where, "required field is missing", "missing_field")
    if not isinstance(value, str):
        raise RowProblem(where, f"must be a string, got {type_name(value)}", "wrong_type")
    return value


def json_cell(value: Any, where: str) -> Any:
    """A list/object column that arrived as text (CSV cells, stringified exports): decode it.

    ``""`` means absent; text that does not start like JSON is returned unchanged so the caller reports
    the wrong type.
    """
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if not stripped:
        return None
    if stripped[0] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise RowProblem(where, f"not valid JSON ({exc.msg} at character {exc.pos})", "bad_json") from None
    return value


def need_list(value: Any, where: str) -> list[Any]:
    if value is None:
        raise RowProblem(where, "required field is missing", "missing_field")
    if not isinstance(value, list):
        raise RowProblem(where, f"must be a list, got {type_name(value)}", "wrong_type")
    return value


def need_dict(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        raise RowProblem(where, "required field is missing", "missing_field")
    if not isinstance(value, Mapping):
        raise RowProblem(where, f"must be an object, got {type_name(value)}", "wrong_type")
    return value


def tools_text(value: Any, where: str) -> str | None:
    """A ``tools`` cell: JSON text of a list of function schemas (a list is serialised); "" = none."""
    if value is None or value == "" or value == []:
        return None if value is None or value == "" else "[]"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, dict):
        raise RowProblem(where, "must be a list of function schemas, got a single object", "bad_tools")
    if not isinstance(value, str):
        raise RowProblem(where, f"must be a JSON string of a list of function schemas, got {type_name(value)}", "wrong_type")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise RowProblem(where, f"not valid JSON ({exc.msg} at character {exc.pos})", "bad_tools") from None
    if not isinstance(parsed, list):
        raise RowProblem(where, f"must be a JSON list of function schemas, got {type_name(parsed)}", "bad_tools")
    return value


def parse_label(value: Any, where: str) -> bool:
    """A KTO label: a boolean (CSV cells "true"/"false"/"1"/"0" are accepted)."""
    if isinstance(value, bool):
        return value
    if value is None:
        raise RowProblem(where, "required field is missing", "missing_field")
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise RowProblem(where, f"must be true or false, got {value!r}", "bad_label")


def message(role: str, content: str, *, tool_calls: list[dict[str, str]] | None = None,
            reasoning: str | None = None, train: bool | None = None) -> dict[str, Any]:
    """A canonical message dict with every key present (the Arrow schema has all five)."""
    return {"role": role, "content": content, "tool_calls": tool_calls or None, "reasoning": reasoning, "train": train}


def split_thought(text: str, words: Sequence[str] = THOUGHT_WORDS) -> tuple[str | None, str]:
    """Split ``<think>\\nR\\n</think>\\n\\nC`` into ``(R, C)``; other text -> ``(None, text)``.

    Only the exact form ``join_thought`` writes is split, so splitting and joining are inverse.
    """
    start, end = words
    if text.startswith(start):
        stop = text.find(end, len(start))
        if stop >= 0:
            return text[len(start):stop], text[stop + len(end):]
    return None, text


def join_thought(reasoning: str | None, content: str, words: Sequence[str] = THOUGHT_WORDS) -> str:
    """Embed a chain of thought in message text the way LLaMA-Factory expects it."""
    if reasoning is None:
        return content
    return f"{words[0]}{reasoning}{words[1]}{content}"


_LOOSE_THOUGHT = re.compile(r"<think>(.*)</think>", re.DOTALL)


def parse_tool_calls(text: Any, where: str, words: Sequence[str] = THOUGHT_WORDS) -> tuple[list[dict[str, str]], str | None]:
    """A function-call message's text: JSON ``{"name","arguments"}`` or a list of them.

    Mirrors LLaMA-Factory's FunctionFormatter: a leading chain of thought (``<think>...</think>``) is
    allowed and returned separately; ``arguments`` must be an object (or JSON text of one) and is
    returned as JSON text, serialised like LLaMA-Factory does (``json.dumps(..., ensure_ascii=False)``).
    """
    if not isinstance(text, str):
        if isinstance(text, (dict, list)):
            calls_obj: Any = text
            reasoning = None
        else:
            raise RowProblem(where, f"function call must be JSON text, got {type_name(text)}", "wrong_type")
    else:
        reasoning, rest = split_thought(text, words)
        if reasoning is None:
            loose = _LOOSE_THOUGHT.search(text)
            if loose:
                reasoning, rest = loose.group(1).strip(), text.replace(loose.group(0), "")
        try:
            calls_obj = json.loads(rest)
        except json.JSONDecodeError as exc:
            raise RowProblem(where, f"function call is not valid JSON ({exc.msg} at character {exc.pos})", "bad_tool_call") from None
    items = calls_obj if isinstance(calls_obj, list) else [calls_obj]
    if not items:
        raise RowProblem(where, "function call list is empty", "bad_tool_call")
    calls: list[dict[str, str]] = []
    for i, item in enumerate(items):
        sub = f"{where}[{i}]" if isinstance(calls_obj, list) else where
        if not isinstance(item, Mapping):
            raise RowProblem(sub, f"function call must be an object with name and arguments, got {type_name(item)}", "bad_tool_call")
        if "function" in item and isinstance(item["function"], Mapping) and "name" not in item:
            item = item["function"]  # OpenAI {"type": "function", "function": {...}}
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RowProblem(sub, "function call has no name", "bad_tool_call")
        calls.append({"name": name, "arguments": arguments_text(item.get("arguments"), sub)})
    return calls, reasoning


def arguments_text(value: Any, where: str) -> str:
    """Tool-call arguments as canonical JSON text (an object, or JSON text of one)."""
    if value is None:
        return "{}"
    if isinstance(value, Mapping):
        return json.dumps(dict(value), ensure_ascii=False)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowProblem(f"{where}.arguments", f"not valid JSON ({exc.msg} at character {exc.pos})", "bad_tool_call") from None
        if not isinstance(parsed, dict):
            raise RowProblem(f"{where}.arguments", f"must be a JSON object, got {type_name(parsed)}", "bad_tool_call")
        return value
    raise RowProblem(f"{where}.arguments", f"must be an object, got {type_name(value)}", "bad_tool_call")


def calls_text(calls: Sequence[Mapping[str, Any]]) -> str:
    """Canonical tool calls -> LLaMA-Factory function-call text (inverse of ``parse_tool_calls``)."""
    objs = [{"name": c["name"], "arguments": json.loads(c.get("arguments") or "{}")} for c in calls]
    return json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------
# validation with located messages

_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("required field is missing", "missing_field"),
    ("Field required", "missing_field"),
    ("Input should be 'system', 'user', 'assistant' or 'tool'", "unknown_role"),
    ("valid string", "wrong_type"),
    ("valid list", "wrong_type"),
    ("valid dictionary", "wrong_type"),
    ("valid boolean", "wrong_type"),
    ("must be true or false", "bad_label"),
    ("is empty", "empty_content"),
    ("at least 1 item", "empty_content"),
    ("at least 1 character", "empty_content"),
    ("tools", "bad_tools"),
    ("arguments", "bad_tool_call"),
    ("tool call", "bad_tool_call"),
    ("alternate", "turn_order"),
    ("must answer", "turn_order"),
    ("must follow", "turn_order"),
    ("only allowed as the first", "turn_order"),
    ("the last message must be", "turn_order"),
    ("must end with", "turn_order"),
    ("no user or assistant", "turn_order"),
    ("must be assistant", "turn_order"),
    ("unknown field", "unknown_field"),
)


def categorize(reason: str, field: str = "") -> str:
    """A short machine-readable category for a schema complaint (used for the totals by reason)."""
    for needle, category in _CATEGORIES:
        if needle in reason or (needle == "tools" and field.startswith("tools")):
            return category
    return "invalid"


def translate(path: str, origin: Mapping[str, str]) -> str:
    """Map a canonical field path to the raw record's path with the longest matching origin prefix."""
    if not origin:
        return path
    probe = path
    while probe:
        if probe in origin:
            return origin[probe] + path[len(probe):]
        cut = max(probe.rfind("."), probe.rfind("["))
        if cut <= 0:
            break
        probe = probe[:cut]
    return origin.get(path, path)


def adapt_record(adapter: FormatAdapter, record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[tuple[str, str, str]]]:
    """Convert and validate one raw record.

    Returns ``(canonical_row, [])`` or ``(None, [(raw_field_path, reason, category), ...])``.
    """
    assert adapter.kind is not None, "call adapter.prepare(sample) first"
    try:
        converted = adapter.convert(record)
    except RowProblem as problem:
        return None, [(problem.field, problem.reason, problem.kind)]
    clean, problems = validate_row(adapter.kind, converted.row)
    if problems:
        return None, [(translate(f, converted.origin), r, categorize(r, f)) for f, r in problems]
    assert clean is not None
    return clean, []
