"""Loading raw data into canonical rows: files, folders of shards and Hugging Face hub ids.

``load_canonical`` is the one entry point. It reads through Hugging Face ``datasets`` (Arrow on disk,
memory-mapped, cached), picks or auto-detects a format adapter, and converts every row in one batched
``Dataset.map`` (``num_proc`` workers) into canonical rows with the exact features of
``schemas.features(kind)``. Rows that cannot be read, adapted or validated are never dropped silently:
each becomes a ``RowIssue`` (1-based line or row, field path in the raw record, reason, the raw row
verbatim) in ``LoadResult.rejects``, and ``rows_in == len(dataset) + len(rejects)``.

How each layout is read, and why:

- JSON Lines (``.jsonl``, and ``.json`` files that are not an array) are read as *text* lines with
  ``load_dataset("text")`` and parsed inside the conversion map. A malformed line then rejects only that
  line, reported as ``file:line`` (``datasets``' own JSON reader fails the whole file, names no file and
  counts rows per 10 MiB chunk), mixed types across rows cannot break schema inference, blank lines are
  not rows, and the raw line is kept verbatim for the rejects file. Invalid UTF-8 falls back to a
  line-by-line reader that rejects just the undecodable lines.
- JSON arrays go through ``load_dataset("json")`` like LLaMA-Factory; if ``datasets`` cannot read the
  array (elements that are not objects, conflicting types), the array is parsed with ``json`` and each
  element is converted on its own; a syntax error is reported with its line and column.
- CSV cells are read as strings (a ``"42"`` answer stays text; JSON in cells is decoded for list
  columns), ``.txt`` files are one document per non-blank line, parquet / arrow / ``save_to_disk``
  folders are read as they are.
- A leading UTF-8 byte-order mark is ignored (and mentioned in ``notes``).
- ``streaming=True`` returns an ``IterableDataset`` read lazily in constant memory; its rejects are
  collected while it is iterated and ``rows_in`` is None.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, RowIssue, TemplatesHubError, UsageError
from .formats.base import FormatAdapter, adapt_record
from .formats.readers import PROBLEM, VERBATIM, Part, open_source, span
from .formats.registry import detect_format, make_adapter
from .schemas import ROW_COLUMN

if TYPE_CHECKING:  # pragma: no cover
    import datasets

SAMPLE_ROWS = 50

_STATUS, _ISSUE, _RAW = "__status__", "__issue__", "__raw__"
_OK, _REJECT, _SKIP = 0, 1, 2


@dataclass
class Shard:
    """One file of a source: canonical ``_row`` values ``start + 1 .. start + span`` came from it."""

    path: str
    start: int
    span: int | None
    unit: str  # "line" (JSON Lines, txt) or "row" (arrays, csv, parquet, arrow, hub)


@dataclass
class LoadResult:
    """What ``load_canonical`` returns (see the module docstring for the accounting rule)."""

    dataset: datasets.Dataset | datasets.IterableDataset
    kind: str
    format: str
    detected: bool
    source: str
    rows_in: int | None
    rejects: list[RowIssue]
    #: the adapter's resolved options (column names, tags) and how detection decided
    options: dict[str, Any] = field(default_factory=dict)
    evidence: str = ""
    #: things the user should know that are not row problems (a BOM, unmapped columns, ...)
    notes: list[str] = field(default_factory=list)
    shards: list[Shard] = field(default_factory=list)

    @property
    def unit(self) -> str:
        """"line" when every shard is line-based, else "row"."""
        return "line" if self.shards and all(s.unit == "line" for s in self.shards) else "row"

    def locate(self, row: int) -> tuple[str, int]:
        """Map a canonical ``_row`` back to ``(file, line or row in that file)``.

        With one file ``_row`` already is the line/row; a folder of shards numbers its files one after
        another (file k starts after the rows of files 0..k-1).
        """
        if len(self.shards) <= 1:
            return (self.shards[0].path if self.shards else self.source), row
        starts = [s.start for s in self.shards]
        k = max(bisect.bisect_right(starts, row - 1) - 1, 0)
        return self.shards[k].path, row - self.shards[k].start

    def describe(self) -> str:
        how = f"detected: {self.evidence}" if self.detected else "given"
        return f"format {self.format} ({how}), kind {self.kind}"


# ---------------------------------------------------------------------------------------------------
# conversion inside datasets.map


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


class _Converter:
    """The batched map function: raw batch -> canonical columns + status / issue / raw columns.

    ``reader`` says what a raw row is: ``json`` (a line of JSON text), ``text`` (a line of a .txt file)
    or ``records`` (an already structured row). Picklable, so ``num_proc`` workers can run it.
    """

    def __init__(self, adapter: FormatAdapter, reader: str, columns: Sequence[str], offset: int = 0,
                 index_map: np.ndarray | None = None):
        self.adapter = adapter
        self.reader = reader
        self.columns = list(columns)
        self.offset = offset
        self.index_map = index_map

    def _records(self, batch: Mapping[str, list[Any]], n: int) -> list[tuple[int, Any, Any]]:
        """(status, record-or-None, issue-or-raw) per row, before adaptation."""
        out: list[tuple[int, Any, Any]] = []
        problems = batch.get(PROBLEM) or [None] * n  # rows the reader itself could not read
        if self.reader == "records":
            keys = [k for k in batch if not k.startswith("__")]
            verbatim = batch.get(VERBATIM) or [None] * n
            for i in range(n):
                if problems[i] is not None:
                    raw = json.loads(verbatim[i]) if verbatim[i] is not None else None
                    out.append((_REJECT, None, (tuple(json.loads(problems[i])), raw)))
                else:
                    out.append((_OK, {k: batch[k][i] for k in keys}, None))
            return out
        lines = batch["text"]
        for i in range(n):
            line = lines[i]
            if problems[i] is not None:
                out.append((_REJECT, None, (tuple(json.loads(problems[i])), line)))
                continue
            if line is None or not line.strip():
                out.append((_SKIP, None, None))
                continue
            if line.startswith("\ufeff"):
                line = line[1:]
            if self.reader == "text":
                out.append((_OK, {"text": line.rstrip("\r")}, None))
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = f"malformed JSON: {exc.msg} (column {exc.colno})"
                out.append((_REJECT, None, (("(line)", reason, "bad_json"), line)))
                continue
            if not isinstance(record, dict):
                reason = f"a row must be a JSON object, got {type(record).__name__ if not isinstance(record, list) else 'a list'}"
                out.append((_REJECT, None, (("(row)", reason, "not_object"), record)))
                continue
            if _MAYBE_LONE_SURROGATE.search(line) is not None:  # only then can a string hold a lone surrogate
                where = _lone_surrogate(record)
                if where is not None:
                    reason = "holds a lone UTF-16 surrogate escape (not valid Unicode, cannot be stored)"
                    out.append((_REJECT, None, ((where, reason, "bad_encoding"), line)))
                    continue
            out.append((_OK, record, None))
        return out

    def __call__(self, batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        n = len(indices)
        out: dict[str, list[Any]] = {c: [] for c in (*self.columns, ROW_COLUMN, _STATUS, _ISSUE, _RAW)}
        for i, (status, record, pending) in enumerate(self._records(batch, n)):
            index = int(self.index_map[indices[i]]) if self.index_map is not None else indices[i]
            out[ROW_COLUMN].append(self.offset + index + 1)
            row = None
            if status == _OK:
                row, problems = adapt_record(self.adapter, record)
                if problems:
                    status = _REJECT
                    pending = (problems, record)
            out[_STATUS].append(status)
            for c in self.columns:
                out[c].append(row.get(c) if row is not None else None)
            if status == _REJECT:
                problems, raw = pending
                if isinstance(problems[0], str):  # a single (field, reason, kind)
                    problems = [problems]
                out[_ISSUE].append(json.dumps(problems, ensure_ascii=False))
                out[_RAW].append(json.dumps(raw, ensure_ascii=False, default=_json_default))
            else:
                out[_ISSUE].append(None)
                out[_RAW].append(None)
        return out


#: JSON escapes that can decode to a lone UTF-16 surrogate: a high one (\uD800-\uDBFF) not followed by a low
#: one, a low one (\uDC00-\uDFFF) not preceded by a high one, or a surrogate escape right after an escaped
#: backslash (in ``\\uD83D`` the escape is text, so what follows may be unpaired). Emoji written as escaped
#: pairs and other escapes (Hangul \uD55C, CJK) do not match, so ASCII-escaped JSON Lines are not walked.
_MAYBE_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\\\u[dD][89a-fA-F]"
)


def _lone_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (value or key) in a parsed JSON value holding a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(row)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            found = _lone_surrogate(key, sub) or _lone_surrogate(item, sub)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _issue_from(row: int, issue_json: str, raw_json: str | None, source: str) -> RowIssue:
    problems = json.loads(issue_json)
    field_path, reason, kind = problems[0]
    if len(problems) > 1:
        reason += "; " + "; ".join(f"{f}: {r}" for f, r, _ in problems[1:])
    return RowIssue(row=row, field=field_path, reason=reason, source=source, kind=kind,
                    raw=json.loads(raw_json) if raw_json is not None else None)


class _RejectCollector:
    """In streaming mode: records each rejected row while the dataset is iterated (once per row)."""

    def __init__(self, rejects: list[RowIssue], source: str, offset: int = 0):
        self.rejects = rejects
        self.source = source
        self.offset = offset
        self.seen: set[int] = set()

    def __copy__(self) -> _RejectCollector:
        return self  # datasets copies pipeline steps; the side effect must reach the caller's list

    def __deepcopy__(self, memo: dict[int, Any]) -> _RejectCollector:
        return self

    def __call__(self, status: int, row: int, issue: str | None, raw: str | None) -> bool:
        if status == _REJECT and row not in self.seen:
            self.seen.add(row)
            self.rejects.append(_issue_from(row - self.offset, issue or "[]", raw, self.source))
        return status == _OK


# ---------------------------------------------------------------------------------------------------
# the entry point


def _sample(part: Part, count: int = SAMPLE_ROWS) -> list[dict[str, Any]]:
    """The first ``count`` readable records of a part (for detection); rows the reader flagged are skipped."""
    ds = part.dataset
    take = count if part.reader == "records" else count * 4
    try:
        rows = list(ds.take(take)) if not hasattr(ds, "__len__") else ds.select(range(min(take, len(ds)))).to_list()
    except TemplatesHubError:
        raise
    except Exception as exc:  # noqa: BLE001 - a streamed file fails here, on first read
        raise DataError(f"cannot read: {type(exc).__name__}: {exc}", source=part.source) from None
    rows = [r for r in rows if r.get(PROBLEM) is None]
    if part.reader == "records":
        return [{k: v for k, v in r.items() if not k.startswith("__")} for r in rows]
    sample: list[dict[str, Any]] = []
    for r in rows:
        line = r.get("text")
        if not line or not line.strip():
            continue
        if part.reader == "text":
            sample.append({"text": line})
        else:
            try:
                rec = json.loads(line.lstrip("\ufeff"))
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                sample.append(rec)
        if len(sample) >= count:
            break
    return sample


def _choose_adapter(parts: list[Part], format: str | None, kind: str | None, options: Mapping[str, Any],
                    source: str, explicit: frozenset[str] | None = None, *, origins: Mapping[str, str] | None = None,
                    unopened: Sequence[Path] = ()) -> tuple[FormatAdapter, bool, str]:
    """The configured adapter for ``parts``, whether it was detected, and the detection's evidence.

    ``explicit``: the options the user (or a dataset_info ``columns`` block) set, as opposed to defaults
    (default: every key of ``options``); the columns they name must occur in the data (``_check_mapped``).
    ``origins``: where explicit options were set (for the error); ``unopened``: files of the source that
    ``parts`` leaves out (``peek`` opens only the first file of a folder).
    """
    readers = {p.reader for p in parts}
    sample = _sample(parts[0])
    if "text" in readers:
        if format not in (None, "text"):
            raise UsageError(f"{source}: a .txt file holds one document per line; it can only be read as format 'text', not {format!r}")
        adapter, detected, evidence = make_adapter("text", options, kind), format is None, "a .txt file: one document per line"
    elif format is not None:
        adapter, detected, evidence = make_adapter(format, options, kind), False, ""
    else:
        if not sample:
            raise DataError("no readable rows at the start to detect the format from; pass --format", source=source)
        cls, found = detect_format(sample, kind=kind, source=source)
        explicit = frozenset(options) if explicit is None else explicit
        chosen_kind = kind or cls.implied_kind(explicit) or found.kind
        adapter, detected, evidence = cls({**found.options, **options}, kind=chosen_kind), True, found.evidence
    adapter.explicit = frozenset(options) if explicit is None else explicit
    adapter.prepare(sample)
    _check_mapped(adapter, sample, parts, unopened, source, origins)
    return adapter, detected, evidence


def _check_mapped(adapter: FormatAdapter, sample: list[dict[str, Any]], parts: list[Part], unopened: Sequence[Path],
                  source: str, origins: Mapping[str, str] | None) -> None:
    """``adapter.check_columns`` against the whole source, not only the sampled first rows.

    Structured parts (CSV, parquet, Arrow, JSON arrays read by ``datasets``, hub splits) know all their
    columns; JSON Lines only know a row's keys, so a mapped column that no sampled row has is looked for in
    every line before it is refused (``_occurs``): LLaMA-Factory accepts an optional column that only
    later rows hold, and so must we.
    """
    where = parts[0].source if len(parts) == 1 and not unopened else source
    columns: list[str] | None = []
    for part in parts:
        names = part.dataset.column_names if part.reader == "records" else None
        if names is None or columns is None:
            columns = None
            continue
        columns += [c for c in names if not c.startswith("__") and c not in columns]
    if columns is not None and not unopened:
        adapter.check_columns(sample, where, columns=columns, origins=origins)
    else:
        adapter.check_columns(sample, where, occurs=lambda column: _occurs(column, parts, unopened), origins=origins)


def _occurs(column: str, parts: list[Part], unopened: Sequence[Path]) -> bool:
    """Whether ``column`` may be a key of some raw record of the source (True when it cannot be ruled out).

    JSON text is searched for the JSON-encoded key (``"history"``, as escaped ASCII and as UTF-8): a line
    read into a ``Dataset`` with one vectorised pyarrow ``match_substring`` per chunk, a streamed file by a
    chunked scan of its bytes. A match in a value rather than a key only makes the check lenient; a key
    spelt with needless escapes (``"hist\\u006fry"``) is the one way to be refused wrongly.
    """
    import pyarrow.compute as pc

    from .formats.readers import data_files, file_contains, file_type

    needles = list(dict.fromkeys((json.dumps(column), json.dumps(column, ensure_ascii=False))))
    for part in parts:
        if part.reader == "records":
            names = part.dataset.column_names
            if names is None or column in names:  # a streamed hub split may not know its columns
                return True
        elif part.reader == "text":
            if column == "text":
                return True
        elif hasattr(part.dataset, "__len__"):
            text = part.dataset.with_format("arrow")["text"]
            chunks = text.chunks if hasattr(text, "chunks") else [text]
            for chunk in chunks:
                if any(pc.any(pc.match_substring(chunk, needle)).as_py() for needle in needles):
                    return True
        elif any(file_contains(path, [n.encode("utf-8") for n in needles]) for path in data_files(part.source)):
            return True
    for path in unopened:
        if file_type(path) != "json" or file_contains(path, [n.encode("utf-8") for n in needles]):
            return True  # a structured file left unopened: load_canonical checks its columns
    return False


#: columns that carry meaning in LLaMA-Factory layouts; present but unmapped, they are silently ignored
_MEANINGFUL = ("system", "history", "tools", "chosen", "rejected", "label", "kto_tag", "input", "output",
               "instruction", "conversations", "messages")


def _unmapped_columns(sample: Sequence[Mapping[str, Any]], adapter: FormatAdapter, dataset: str) -> list[str]:
    """Warn about data columns a dataset_info entry leaves unmapped (LLaMA-Factory ignores them silently)."""
    mapped = {v for v in adapter.options.values() if isinstance(v, str)}
    present = [c for c in _MEANINGFUL if any(rec.get(c) not in (None, "", []) for rec in sample)]
    return [
        f"column {c!r} is in the data but the dataset_info.json entry {dataset!r} does not map it, so it is "
        f"ignored (as LLaMA-Factory does); add it to the entry's columns block to use it"
        for c in present if c not in mapped
    ]


def _sample_indices(n: int, num_samples: int, seed: int) -> np.ndarray:
    """LLaMA-Factory's ``num_samples``: a permutation prefix, topped up with replacement when larger."""
    rng = np.random.RandomState(seed)
    indexes = rng.permutation(n)[:num_samples]
    missing = num_samples - len(indexes)
    if missing > 0:
        indexes = np.concatenate((indexes, rng.choice(n, missing)), axis=0)
    return indexes


def _convert_part(part: Part, adapter: FormatAdapter, *, kind: str, offset: int, num_proc: int | None,
                  max_rows: int | None, num_samples: int | None, seed: int,
                  rejects: list[RowIssue]) -> tuple[Any, int | None]:
    """Run the conversion map over one part; returns (canonical dataset, rows read)."""
    import datasets

    from . import __version__
    from .schemas import features as canonical_features

    target = canonical_features(kind)
    columns = [c for c in target if c != ROW_COLUMN]
    out_features = datasets.Features({**target, _STATUS: datasets.Value("int8"), _ISSUE: datasets.Value("string"),
                                      _RAW: datasets.Value("string")})
    ds = part.dataset
    streaming = not hasattr(ds, "__len__")
    if not streaming and len(ds) == 0:
        return datasets.Dataset.from_dict({c: [] for c in target}, features=target), 0
    index_map = None
    if streaming:
        if max_rows is not None:
            ds = ds.take(max_rows)
    else:
        if num_samples is not None and len(ds):
            index_map = _sample_indices(len(ds), num_samples, seed)
            ds = ds.select(index_map)
        if max_rows is not None:
            ds = ds.select(range(_prefix_for(ds, part, max_rows)))
    converter = _Converter(adapter, part.reader, columns, offset, index_map)
    if streaming:
        mapped = ds.map(converter, batched=True, with_indices=True, features=out_features,
                        remove_columns=list(ds.column_names) if ds.column_names else None)
        collector = _RejectCollector(rejects, part.source, offset)
        kept = mapped.filter(collector, input_columns=[_STATUS, ROW_COLUMN, _ISSUE, _RAW])
        return kept.remove_columns([_STATUS, _ISSUE, _RAW]), None
    from datasets.fingerprint import Hasher

    fingerprint = Hasher.hash((ds._fingerprint, __version__, type(adapter).__module__, type(adapter).__name__,
                               adapter.__getstate__(), part.reader, offset,
                               None if index_map is None else index_map.tolist()))
    mapped = ds.map(
        converter, batched=True, with_indices=True, features=out_features,
        remove_columns=list(ds.column_names), num_proc=num_proc if num_proc and num_proc > 1 and len(ds) > 1 else None,
        desc=f"Converting {Path(part.source).name} ({adapter.name} -> {kind})", new_fingerprint=fingerprint,
    )
    status = np.asarray(mapped.data.column(_STATUS).to_numpy(zero_copy_only=False))
    reject_idx = np.flatnonzero(status == _REJECT)
    valid_idx = np.flatnonzero(status == _OK)
    if len(reject_idx):
        bad = mapped.select(reject_idx).select_columns([ROW_COLUMN, _ISSUE, _RAW]).to_list()
        rejects.extend(_issue_from(r[ROW_COLUMN] - offset, r[_ISSUE], r[_RAW], part.source) for r in bad)
    kept = mapped if len(valid_idx) == len(mapped) else mapped.select(valid_idx)
    return kept.remove_columns([_STATUS, _ISSUE, _RAW]), int(len(valid_idx) + len(reject_idx))


def _prefix_for(ds: Any, part: Part, max_rows: int) -> int:
    """How many raw rows hold the first ``max_rows`` rows (blank lines are not rows)."""
    if part.reader == "records":
        return min(max_rows, len(ds))
    import pyarrow.compute as pc

    column = ds.with_format("arrow")["text"]
    blank = pc.fill_null(pc.match_substring_regex(column, r"^\s*$"), False)  # null = undecodable line: a row
    nonblank = np.flatnonzero(~np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool))
    if len(nonblank) <= max_rows:
        return len(ds)
    return int(nonblank[max_rows - 1]) + 1


@dataclass
class _Opened:
    """A source opened and its adapter configured from the first rows, before any conversion."""

    source: str
    parts: list[Part]
    adapter: FormatAdapter
    detected: bool
    evidence: str
    notes: list[str]
    num_samples: int | None


def _open(source: str | os.PathLike[str] | None, *, format: str | None, kind: str | None,
          dataset_info: str | os.PathLike[str] | None, dataset: str | None, split: str, streaming: bool,
          options: Mapping[str, Any] | None, first_only: bool = False) -> _Opened:
    """Resolve a dataset_info entry, open the source and configure the adapter (``load_canonical``'s first half).

    ``first_only``: open only the first file of a folder (``peek``).
    """
    from .formats.dataset_info import read_dataset_info
    from .formats.readers import data_files

    opts: dict[str, Any] = {}
    explicit: set[str] = set(options or {})
    origins: dict[str, str] = {}
    notes: list[str] = []
    subset = folder = None
    num_samples = None
    if dataset_info is not None or dataset is not None:
        if dataset_info is None or dataset is None:
            raise UsageError("--dataset-info DIR and --dataset NAME go together")
        attr = read_dataset_info(dataset_info, dataset)
        notes += attr.warnings()
        entry_format, opts = attr.adapter()
        explicit |= attr.explicit_options()
        origins = {k: v for k, v in attr.option_origins().items() if k not in (options or {})}
        if format is not None and format != entry_format:
            raise UsageError(f"dataset {dataset!r} has formatting {attr.formatting!r} (format {entry_format!r}); "
                             f"it cannot be read as format {format!r}")
        format = entry_format
        kind = kind or attr.kind()
        if attr.kind() != kind:
            raise UsageError(f"dataset {dataset!r} holds {attr.kind()!r} rows, not {kind!r}")
        split = attr.split or split
        subset, folder, num_samples = attr.subset, attr.folder, attr.num_samples
        if source is None or str(source) == "":
            source = attr.source()
    if source is None or str(source) == "":
        raise UsageError("no data source given (a path, a hub id, or --dataset-info DIR --dataset NAME)")
    source_str = str(source)
    opts.update(options or {})

    parts = open_source(source_str, split=split, streaming=streaming, subset=subset, folder=folder,
                        first_only=first_only)
    unopened = data_files(source_str)[len(parts):] if first_only else []
    if num_samples is not None and len(parts) > 1:
        raise UsageError(f"dataset {dataset!r}: num_samples over a folder of {len(parts)} files is not supported; "
                         "sample one file, or merge the shards")
    for part in parts:
        notes += part.notes
    adapter, detected, evidence = _choose_adapter(parts, format, kind, opts, source_str, frozenset(explicit),
                                                  origins=origins, unopened=unopened)
    if dataset is not None:
        notes += _unmapped_columns(_sample(parts[0]), adapter, dataset)
    return _Opened(source_str, parts, adapter, detected, evidence, notes, num_samples)


def peek(
    source: str | os.PathLike[str] | None,
    *,
    format: str | None = None,
    kind: str | None = None,
    dataset_info: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    split: str = "train",
    options: Mapping[str, Any] | None = None,
    **_ignored: Any,
) -> tuple[str, str]:
    """``(format, kind)`` that ``load_canonical`` would use for these arguments, from the first rows only.

    Nothing is converted, so a command can check what the data need (a chat template for chat rows, a
    preprocessor that reads their kind) before loading, filtering and splitting them all. The source is
    streamed and only the first file of a folder is opened, so a hub dataset is not downloaded and a
    large file is not read into the cache just to learn its row kind. Raises what ``load_canonical``
    raises for an unreadable source, an unknown format or a missing mapped column. Extra keyword
    arguments of ``load_canonical`` (``streaming``, ``num_proc``, ``max_rows``) are accepted and ignored.
    """
    opened = _open(source, format=format, kind=kind, dataset_info=dataset_info, dataset=dataset, split=split,
                   streaming=True, options=options, first_only=True)
    assert opened.adapter.kind is not None
    return opened.adapter.name, opened.adapter.kind


def load_canonical(
    source: str | os.PathLike[str] | None,
    *,
    format: str | None = None,
    kind: str | None = None,
    dataset_info: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    split: str = "train",
    streaming: bool = False,
    num_proc: int | None = None,
    options: Mapping[str, Any] | None = None,
    max_rows: int | None = None,
) -> LoadResult:
    """Load ``source`` (a file, a folder of shards, a ``save_to_disk`` folder or a hub id) as canonical rows.

    - ``format``: an adapter name (``alpaca``, ``sharegpt``, ``openai``, ``preference``, ``kto``, ``text``
      or a plugin's); None auto-detects it from the first rows (``LoadResult.detected``/``evidence``).
    - ``kind``: ``sft`` / ``preference`` / ``kto`` / ``text``; None lets the format / data decide.
    - ``dataset_info`` + ``dataset``: take the file, format, kind and column/tag mapping from a
      LLaMA-Factory ``dataset_info.json`` entry (``source`` may then be None, or a file to read with
      that entry's mapping).
    - ``options``: adapter options (column names, tags), overriding the entry's.
    - ``max_rows``: read only the first N rows (LLaMA-Factory's ``max_samples``).

    Raises ``DataError`` / ``UsageError`` (never a traceback) when the source cannot be read at all;
    every row-level problem becomes a ``RowIssue`` in ``rejects``.
    """
    import datasets

    if max_rows is not None and max_rows < 1:
        raise UsageError("max_rows must be at least 1")
    opened = _open(source, format=format, kind=kind, dataset_info=dataset_info, dataset=dataset, split=split,
                   streaming=streaming, options=options)
    source_str, parts, adapter, notes = opened.source, opened.parts, opened.adapter, opened.notes
    detected, evidence, num_samples = opened.detected, opened.evidence, opened.num_samples
    assert adapter.kind is not None
    result_kind = adapter.kind

    rejects: list[RowIssue] = []
    converted = []
    shards: list[Shard] = []
    rows_in: int | None = 0
    offset = 0
    remaining = max_rows
    for part in parts:
        rows_span = span(part) if len(parts) > 1 else part.span
        ds, count = _convert_part(part, adapter, kind=result_kind, offset=offset, num_proc=num_proc,
                                  max_rows=remaining, num_samples=num_samples, seed=42, rejects=rejects)
        converted.append(ds)
        shards.append(Shard(part.source, offset, rows_span, part.unit))
        if count is None:
            rows_in = None
        elif rows_in is not None:
            rows_in += count
        if remaining is not None and count is not None:
            remaining -= count
            if remaining <= 0:
                break
        offset += rows_span or 0
    dataset_out = converted[0] if len(converted) == 1 else datasets.concatenate_datasets(converted)
    if streaming and max_rows is not None and len(converted) > 1:
        dataset_out = dataset_out.take(max_rows)
    if rows_in is not None and rows_in == 0:
        raise DataError("no rows (the file holds no records)", source=source_str)
    return LoadResult(
        dataset=dataset_out, kind=result_kind, format=adapter.name, detected=detected, source=source_str,
        rows_in=rows_in, rejects=rejects, options=dict(adapter.options), evidence=evidence, notes=notes, shards=shards,
    )
