"""LLaMA-Factory's ``dataset_info.json``: read an entry with LLaMA-Factory's own rules, and write one.

The rules (LLaMA-Factory v0.9.5, ``data/parser.py``):

- the source is the first of ``hf_hub_url`` / ``ms_hub_url`` / ``om_hub_url`` (ModelScope / OpenMind only
  when ``USE_MODELSCOPE_HUB`` / ``USE_OPENMIND_HUB`` is set or there is no hf url), ``script_url``,
  ``cloud_file_name``, ``file_name`` (a file or a folder relative to the dataset dir);
- ``formatting`` is ``alpaca`` (default), ``sharegpt`` or ``openai``; ``ranking: true`` marks preference
  data; ``subset`` / ``split`` (default ``train``) / ``folder`` / ``num_samples`` as in ``load_dataset``;
- a ``columns`` block re-sets EVERY column from the block, so a column it omits becomes unset (the
  defaults ``instruction`` / ``input`` / ``output`` / ``conversations`` apply only without a block); a
  ``tags`` block does the same for the role tags.

LLaMA-Factory silently ignores keys it does not know (``"format"`` for ``"formatting"``, ``"promt"`` in
``columns``) and then trains on the wrong columns; here an unknown key is an error naming the key and
the closest known one (``strict=False`` turns it into a warning).

``DatasetAttr`` is reusable both ways: ``DatasetAttr.from_entry`` reads an entry, ``to_entry`` writes
the minimal entry that LLaMA-Factory reads back into the same attributes (the exporter uses it).
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError

FILE_NAME = "dataset_info.json"

#: LLaMA-Factory's columns and their defaults (used only when an entry has no ``columns`` block)
COLUMN_DEFAULTS: dict[str, str | None] = {
    "prompt": "instruction", "query": "input", "response": "output", "history": None,
    "messages": "conversations", "system": None, "tools": None, "images": None, "videos": None,
    "audios": None, "chosen": None, "rejected": None, "kto_tag": None,
}
#: LLaMA-Factory's role tags and their defaults (used only when an entry has no ``tags`` block)
TAG_DEFAULTS: dict[str, str | None] = {
    "role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
    "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
}
SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")
ENTRY_KEYS = (*SOURCE_KEYS, "formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags")
FORMATTINGS = ("alpaca", "sharegpt", "openai")
MEDIA_COLUMNS = ("images", "videos", "audios")


def _suggest(key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("true", "1", "yes", "y")


@dataclass
class DatasetAttr:
    """One dataset_info.json entry, resolved with LLaMA-Factory's rules."""

    name: str
    load_from: str  # file | hf_hub | ms_hub | om_hub | script | cloud_file
    dataset_name: str  # the file name (relative to dataset_dir), hub id, script dir or cloud URL
    dataset_dir: str | None = None
    formatting: str = "alpaca"
    ranking: bool = False
    subset: str | None = None
    split: str = "train"
    folder: str | None = None
    num_samples: int | None = None
    columns: dict[str, str | None] = field(default_factory=lambda: dict(COLUMN_DEFAULTS))
    tags: dict[str, str | None] = field(default_factory=lambda: dict(TAG_DEFAULTS))
    #: whether the entry had a columns / tags block (then omitted keys are None)
    has_columns: bool = False
    has_tags: bool = False
    #: keys LLaMA-Factory would silently ignore, as dotted paths with a suggestion
    unknown: list[str] = field(default_factory=list)

    # -- reading -------------------------------------------------------------------------------------
    @classmethod
    def from_entry(cls, name: str, entry: Any, dataset_dir: str | os.PathLike[str] | None = None, *,
                   strict: bool = True, where: str = FILE_NAME) -> DatasetAttr:
        """Resolve one entry; ``ConfigError`` (with ``problems``) when it is malformed."""
        problems: list[tuple[str, str]] = []
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: entry {name!r} must be an object", [(name, "must be an object")], source=where)
        unknown = [f"{k}{_suggest(k, ENTRY_KEYS)}" for k in entry if k not in ENTRY_KEYS]
        has_hf, has_ms, has_om = ("hf_hub_url" in entry), ("ms_hub_url" in entry), ("om_hub_url" in entry)
        if has_hf or has_ms or has_om:
            if has_ms and (_env_flag("USE_MODELSCOPE_HUB") or not has_hf):
                load_from, key = "ms_hub", "ms_hub_url"
            elif has_om and (_env_flag("USE_OPENMIND_HUB") or not has_hf):
                load_from, key = "om_hub", "om_hub_url"
            else:
                load_from, key = "hf_hub", "hf_hub_url"
        elif "script_url" in entry:
            load_from, key = "script", "script_url"
        elif "cloud_file_name" in entry:
            load_from, key = "cloud_file", "cloud_file_name"
        elif "file_name" in entry:
            load_from, key = "file", "file_name"
        else:
            raise ConfigError(
                f"{where}: entry {name!r} names no data source (one of {', '.join(SOURCE_KEYS)})",
                [(name, "no source key")], source=where,
            )
        if not isinstance(entry[key], str) or not entry[key]:
            problems.append((f"{name}.{key}", "must be a non-empty string"))
        attr = cls(name=name, load_from=load_from, dataset_name=str(entry[key]),
                   dataset_dir=str(dataset_dir) if dataset_dir is not None else None)

        attr.formatting = entry.get("formatting", "alpaca")
        if attr.formatting not in FORMATTINGS:
            problems.append((f"{name}.formatting", f"must be one of {', '.join(FORMATTINGS)}, got {attr.formatting!r}"))
        attr.ranking = entry.get("ranking", False)
        if not isinstance(attr.ranking, bool):
            problems.append((f"{name}.ranking", f"must be true or false, got {attr.ranking!r}"))
        attr.subset = entry.get("subset")
        attr.split = entry.get("split", "train")
        attr.folder = entry.get("folder")
        attr.num_samples = entry.get("num_samples")
        for key_name in ("subset", "split", "folder"):
            value = getattr(attr, key_name)
            if value is not None and not isinstance(value, str):
                problems.append((f"{name}.{key_name}", f"must be a string, got {value!r}"))
        if attr.num_samples is not None and (isinstance(attr.num_samples, bool) or not isinstance(attr.num_samples, int) or attr.num_samples < 1):
            problems.append((f"{name}.num_samples", f"must be a positive integer, got {attr.num_samples!r}"))

        for block, defaults, target in (("columns", COLUMN_DEFAULTS, "columns"), ("tags", TAG_DEFAULTS, "tags")):
            if block not in entry:
                continue
            value = entry[block]
            if not isinstance(value, dict):
                problems.append((f"{name}.{block}", "must be an object"))
                continue
            setattr(attr, f"has_{block}", True)
            unknown += [f"{block}.{k}{_suggest(k, tuple(defaults))}" for k in value if k not in defaults]
            resolved: dict[str, str | None] = {}
            for k in defaults:  # the block replaces ALL defaults (LLaMA-Factory's set_attr(key, block))
                v = value.get(k)
                if v is not None and not isinstance(v, str):
                    problems.append((f"{name}.{block}.{k}", f"must be a string, got {v!r}"))
                resolved[k] = v
            setattr(attr, target, resolved)
        attr.unknown = unknown
        if problems:
            raise ConfigError(f"{where}: entry {name!r} is invalid", problems, source=where)
        if unknown and strict:
            raise ConfigError(
                f"{where}: entry {name!r} has keys LLaMA-Factory does not know and would silently ignore: "
                f"{', '.join(unknown)}",
                [(f"{name}.{u.split(' ')[0]}", "unknown key" + (" " + u.split(" ", 1)[1] if " " in u else "")) for u in unknown],
                source=where,
            )
        return attr

    def warnings(self) -> list[str]:
        """Things that load but are probably not what the author meant."""
        out = [f"{FILE_NAME}: entry {self.name!r}: unknown key {u} is ignored (as LLaMA-Factory does)" for u in self.unknown]
        if self.has_columns and self.formatting == "alpaca" and self.kind() == "sft" and not self.columns["prompt"] and not self.columns["query"]:
            out.append(f"{FILE_NAME}: entry {self.name!r}: its columns block sets neither prompt nor query; a columns "
                       "block replaces ALL default columns, so instruction/input/output are not read")
        return out

    def kind(self) -> str:
        """The canonical row kind this entry holds."""
        if self.ranking:
            return "preference"
        if self.columns.get("kto_tag"):
            return "kto"
        if (self.formatting == "alpaca" and self.has_columns and self.columns.get("prompt")
                and not self.columns.get("response") and not self.columns.get("query")):
            return "text"  # LLaMA-Factory's pretraining entries: {"columns": {"prompt": "text"}}
        return "sft"

    def adapter(self) -> tuple[str, dict[str, Any]]:
        """``(format name, adapter options)`` that read this entry's rows exactly as LLaMA-Factory does."""
        media = [c for c in MEDIA_COLUMNS if self.columns.get(c)]
        if media:
            raise UsageError(
                f"dataset {self.name!r} is multimodal ({', '.join(media)} column); templates-hub handles text-only data"
            )
        c = self.columns
        common = {"system": c["system"], "tools": c["tools"], "chosen": c["chosen"], "rejected": c["rejected"],
                  "kto_tag": c["kto_tag"]}
        if self.formatting == "alpaca":
            if self.kind() == "text":
                return "text", {"column": c["prompt"]}
            if self.kind() in ("sft", "kto") and not c["response"]:
                raise UsageError(
                    f"dataset {self.name!r}: its columns block sets no response column, so no answers would be read "
                    "(a columns block replaces ALL default columns; add \"response\": \"output\")"
                )
            return "alpaca", {"prompt": c["prompt"], "query": c["query"], "response": c["response"],
                              "history": c["history"], **common}
        if not c["messages"]:
            raise UsageError(
                f"dataset {self.name!r}: its columns block sets no messages column (a columns block replaces ALL "
                "default columns; add \"messages\": \"conversations\")"
            )
        return self.formatting, {"messages": c["messages"], **common, **self.tags}

    def explicit_options(self) -> frozenset[str]:
        """The adapter options this entry's ``columns`` block sets (empty without a block).

        LLaMA-Factory reads those columns with ``example[column]``, so a column missing from the data is
        a KeyError there; without a block the columns are LLaMA-Factory's defaults, which may be absent.
        """
        if not self.has_columns:
            return frozenset()
        _, options = self.adapter()
        return frozenset(k for k, v in options.items() if v is not None and k not in TAG_DEFAULTS)

    def option_origins(self) -> dict[str, str]:
        """``{adapter option: where this entry sets it}`` for the options of ``explicit_options``, e.g.
        ``{"history": "dataset_info.json entry 'sparse': columns.history"}`` (errors about a mapped column
        name the entry's key, not the adapter option it became: a pretraining entry's ``columns.prompt`` is
        the text adapter's ``column``)."""
        return {option: f"{FILE_NAME} entry {self.name!r}: columns.{'prompt' if option == 'column' else option}"
                for option in self.explicit_options()}

    def source(self) -> str:
        """The path (file or folder) or hub id to load; ``UsageError`` for sources we cannot read."""
        if self.load_from == "file":
            base = Path(self.dataset_dir) if self.dataset_dir else Path(".")
            return str(base / self.dataset_name)
        if self.load_from == "hf_hub":
            return self.dataset_name
        hints = {
            "ms_hub": "a ModelScope dataset (install modelscope and download it, then point file_name at it)",
            "om_hub": "an OpenMind dataset (download it, then point file_name at it)",
            "script": "a loading script (datasets no longer runs scripts)",
            "cloud_file": "a cloud file (download it, then point file_name at it)",
        }
        raise UsageError(f"dataset {self.name!r} is {hints[self.load_from]}")

    # -- writing -------------------------------------------------------------------------------------
    def to_entry(self) -> dict[str, Any]:
        """The minimal entry LLaMA-Factory reads back into these attributes.

        A ``columns`` / ``tags`` block is written only when the attributes differ from LLaMA-Factory's
        defaults, and then with every set key (a block replaces all defaults).
        """
        key = {"file": "file_name", "hf_hub": "hf_hub_url", "ms_hub": "ms_hub_url", "om_hub": "om_hub_url",
               "script": "script_url", "cloud_file": "cloud_file_name"}[self.load_from]
        entry: dict[str, Any] = {key: self.dataset_name}
        if self.formatting != "alpaca":
            entry["formatting"] = self.formatting
        if self.ranking:
            entry["ranking"] = True
        for name, default in (("subset", None), ("split", "train"), ("folder", None), ("num_samples", None)):
            if getattr(self, name) != default:
                entry[name] = getattr(self, name)
        if self.columns != COLUMN_DEFAULTS:
            entry["columns"] = {k: v for k, v in self.columns.items() if v is not None}
        if self.tags != TAG_DEFAULTS:
            entry["tags"] = {k: v for k, v in self.tags.items() if v is not None}
        return entry


def dataset_info_path(path: str | os.PathLike[str]) -> Path:
    """``DIR`` -> ``DIR/dataset_info.json``; a path to the JSON file itself is kept."""
    p = Path(path).expanduser()
    return p / FILE_NAME if p.is_dir() or not p.suffix else p


def load_dataset_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw ``dataset_info.json`` object (``ConfigError`` with line/column when it is not valid JSON)."""
    file = dataset_info_path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file (--dataset-info takes the folder holding {FILE_NAME})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}", source=str(file)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: must hold an object of dataset entries", source=str(file))
    return data


def read_dataset_info(path: str | os.PathLike[str], name: str, *, strict: bool = True) -> DatasetAttr:
    """The entry ``name`` of ``path`` (a dataset dir or its dataset_info.json), LLaMA-Factory's rules."""
    file = dataset_info_path(path)
    data = load_dataset_info(file)
    if name not in data:
        close = difflib.get_close_matches(name, list(data), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UsageError(f"{file}: undefined dataset {name!r}.{hint}")
    return DatasetAttr.from_entry(name, data[name], file.parent, strict=strict, where=str(file))


def read_all(path: str | os.PathLike[str], *, strict: bool = False) -> dict[str, DatasetAttr]:
    """Every entry of a dataset_info.json (lenient by default: unknown keys become warnings)."""
    file = dataset_info_path(path)
    return {name: DatasetAttr.from_entry(name, entry, file.parent, strict=strict, where=str(file))
            for name, entry in load_dataset_info(file).items()}
