"""LLaMA-Factory ``dataset_info.json`` entries: build them complete, check every key, merge them in.

Two LLaMA-Factory behaviours make hand-written entries fragile (``lf_schema`` has the details): unknown
keys are silently ignored, and a ``columns`` / ``tags`` block resets every key it omits to None (so a
block naming only ``system`` loses the prompt column). Entries built here therefore always carry the
*full* ``columns`` and ``tags`` blocks, and every key is checked against what LLaMA-Factory reads.

Merging keeps every other entry of an existing ``dataset_info.json`` untouched and in order; the old file
is kept as ``dataset_info.json.bak`` by the exporter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, UsageError
from . import lf_schema
from .keycheck import describe_unknown, unknown_keys

DATASET_INFO = "dataset_info.json"
BACKUP = "dataset_info.json.bak"


def build_entry(file_name: str, *, formatting: str, kind: str, options: Mapping[str, Any],
                written_keys: Iterable[str]) -> dict[str, Any]:
    """A complete entry for a file written by a format adapter with ``options``.

    ``options`` are the adapter's column / tag names (named like LLaMA-Factory's ``columns`` / ``tags``
    keys); a column is named in the entry only when the file holds it (``written_keys``), because
    LLaMA-Factory raises KeyError on a configured column that no record has.
    """
    present = set(written_keys)
    columns: dict[str, str | None] = {}
    for key in lf_schema.COLUMN_DEFAULTS:
        column = options.get(key)
        columns[key] = column if isinstance(column, str) and column in present else None
    tags = {key: (options[key] if isinstance(options.get(key), str) else default)
            for key, default in lf_schema.TAG_DEFAULTS.items()}
    entry: dict[str, Any] = {
        "file_name": file_name,
        "formatting": formatting,
        "ranking": kind == "preference",
        "split": "train",
        "columns": columns,
        "tags": tags,
    }
    check_entry("(new entry)", entry)
    return entry


def entry_problems(name: str, entry: Any) -> list[tuple[str, str]]:
    """Every problem LLaMA-Factory would silently misread in one entry, as ``(path, message)`` pairs."""
    where = f"{DATASET_INFO}[{name!r}]"
    if not isinstance(entry, Mapping):
        return [(where, f"must be an object, not {type(entry).__name__}")]
    problems = [(f"{where}.{key}", describe_unknown(key, close))
                for key, close in unknown_keys(entry.keys(), lf_schema.ENTRY_KEYS)]
    sources = [k for k in lf_schema.SOURCE_KEYS if k in entry]
    if not sources:
        problems.append((where, f"needs one of {', '.join(lf_schema.SOURCE_KEYS)}"))
    formatting = entry.get("formatting", "alpaca")
    if formatting not in lf_schema.FORMATTINGS:
        problems.append((f"{where}.formatting", f"must be one of {', '.join(lf_schema.FORMATTINGS)}, not {formatting!r}"))
    for block, allowed in (("columns", lf_schema.COLUMN_KEYS), ("tags", lf_schema.TAG_KEYS)):
        value = entry.get(block)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            problems.append((f"{where}.{block}", "must be an object"))
            continue
        problems += [(f"{where}.{block}.{key}", describe_unknown(key, close))
                     for key, close in unknown_keys(value.keys(), allowed)]
    file_name = entry.get("file_name")
    if "file_name" in sources and isinstance(file_name, str):
        suffix = file_name.rsplit(".", 1)[-1] if "." in Path(file_name).name else ""
        if suffix and suffix not in lf_schema.FILE_EXTENSIONS:
            problems.append((f"{where}.file_name", f"LLaMA-Factory loads only {', '.join(lf_schema.FILE_EXTENSIONS)} "
                                                   f"files, not .{suffix}"))
    return problems


def check_entry(name: str, entry: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` when an entry we write is not complete and exact.

    Beyond ``entry_problems`` this demands the full ``columns`` and ``tags`` blocks.
    """
    problems = entry_problems(name, entry)
    for block, keys in (("columns", lf_schema.COLUMN_KEYS), ("tags", lf_schema.TAG_KEYS)):
        missing = sorted(keys - set(entry.get(block) or {}))
        if missing:
            problems.append((f"{DATASET_INFO}[{name!r}].{block}",
                             f"incomplete block (missing {', '.join(missing)}): LLaMA-Factory resets them to None"))
    if problems:
        listed = "; ".join(f"{path}: {message}" for path, message in problems)
        raise ConfigError(f"{DATASET_INFO} entry {name!r} is not valid for LLaMA-Factory "
                          f"{lf_schema.LLAMAFACTORY_VERSION}: {listed}", problems)


def read_info(path: Path) -> dict[str, Any] | None:
    """The parsed ``dataset_info.json`` (None when absent); DataError with the line when it is not valid."""
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg}, column {exc.colno}); fix or remove it before exporting",
                        source=str(path), row=exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError(f"must hold a JSON object of dataset entries, not {type(data).__name__}", source=str(path))
    return data


def owned_by(entry: Any, export_name: str) -> bool:
    """Whether an existing entry points into the export directory ``export_name`` (i.e. is ours)."""
    return isinstance(entry, Mapping) and str(entry.get("file_name", "")).startswith(f"{export_name}/")


def merge(existing: dict[str, Any] | None, entries: Mapping[str, dict[str, Any]], *, export_name: str,
          force: bool, path: Path) -> tuple[dict[str, Any], list[str]]:
    """``existing`` with ``entries`` set and stale entries of this export removed; returns ``(merged, notes)``.

    Other entries keep their content and order. An entry of the same name that is not ours is only
    replaced with ``force``. Problems in other entries are reported as notes, never changed.
    """
    current = dict(existing or {})
    notes: list[str] = []
    for name in entries:
        if name in current and not owned_by(current[name], export_name) and not force:
            raise UsageError(
                f"{path}: entry {name!r} already exists and points elsewhere "
                f"(file_name {current[name].get('file_name') if isinstance(current[name], Mapping) else current[name]!r}); "
                "choose another export name (export.dataset_name) or pass --force to replace it"
            )
    merged: dict[str, Any] = {}
    for name, entry in current.items():
        if name in entries:
            merged[name] = entries[name]
        elif owned_by(entry, export_name) and name.startswith(export_name):
            notes.append(f"removed the stale entry {name!r} of an earlier export")
        else:
            merged[name] = entry
            for where, message in entry_problems(name, entry):
                notes.append(f"{where}: {message} (LLaMA-Factory ignores it; left unchanged)")
    for name, entry in entries.items():
        merged.setdefault(name, entry)
    return merged, notes


def dumps(info: Mapping[str, Any]) -> str:
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"
