"""Raw readers: a file, a folder of shards, a ``save_to_disk`` folder or a hub id -> ``Part``s.

Each ``Part`` is a raw ``datasets`` dataset plus how to interpret its rows (``reader``): ``json`` (a
line of JSON text, parsed in the conversion map), ``text`` (a line of a .txt file) or ``records``
(structured rows). Why JSON Lines are read as text, and the other choices, are explained in
``templates_hub.io``. Everything that makes a source unreadable as a whole raises ``DataError`` /
``UsageError`` naming the file (and line, where there is one); row-level problems are left to the
conversion map so that they become ``RowIssue``s.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, TemplatesHubError, UsageError

#: file extension -> how it is read (LLaMA-Factory's FILEEXT2TYPE plus .ndjson / .tsv / .text)
FILE_TYPES: dict[str, str] = {
    ".json": "json", ".jsonl": "json", ".ndjson": "json", ".csv": "csv", ".tsv": "csv",
    ".parquet": "parquet", ".arrow": "arrow", ".txt": "text", ".text": "text",
}
COMPRESSIONS: tuple[str, ...] = (".gz", ".bz2", ".xz")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def _open_binary(path: Path):
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        import bz2

        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        import lzma

        return lzma.open(path, "rb")
    return path.open("rb")


def file_type(path: Path) -> str:
    """The reader for ``path`` from its extension (compression suffixes are looked through)."""
    name = path.name.lower()
    for comp in COMPRESSIONS:
        if name.endswith(comp):
            name = name[: -len(comp)]
    ext = os.path.splitext(name)[1]
    if ext not in FILE_TYPES:
        raise UsageError(
            f"{path}: unsupported file type {ext or '(no extension)'!r}; allowed: "
            f"{', '.join(sorted(FILE_TYPES))} (optionally compressed {', '.join(COMPRESSIONS)})"
        )
    return FILE_TYPES[ext]


def _head(path: Path, size: int = 1 << 16) -> bytes:
    try:
        with _open_binary(path) as fh:
            return fh.read(size)
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from None


def _iter_lines(path: str, stamp: Any = None) -> Iterator[dict[str, Any]]:
    """Every line of a file (universal newlines, like the ``text`` builder), undecodable ones flagged."""
    with _open_binary(Path(path)) as raw:
        # latin-1 never fails and keeps bytes 1:1, so the line splitting matches text mode exactly;
        # each line is then decoded as UTF-8 on its own
        for line in io.TextIOWrapper(raw, encoding="latin-1", newline=None):
            data = line.rstrip("\n").encode("latin-1")
            try:
                yield {"text": data.decode("utf-8"), "__encoding__": None}
            except UnicodeDecodeError as exc:
                yield {"text": None, "__encoding__": f"invalid UTF-8 (byte 0x{data[exc.start]:02x} at column {exc.start + 1})"}


def _count_lines(path: Path) -> int:
    with _open_binary(path) as raw:
        return sum(1 for _ in io.TextIOWrapper(raw, encoding="latin-1", newline=None))


def _unicode_error(exc: BaseException) -> UnicodeDecodeError | None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UnicodeDecodeError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def _first_bad_line(path: Path) -> tuple[int, str]:
    for number, row in enumerate(_iter_lines(str(path)), start=1):
        if row["__encoding__"]:
            return number, row["__encoding__"]
    return 0, "invalid UTF-8"


def _describe_error(exc: BaseException) -> str:
    """The most useful message in a ``datasets`` exception chain (its own is generic)."""
    messages: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip().splitlines()[0] if str(current).strip() else type(current).__name__
        if text and "An error occurred while generating the dataset" not in text:
            messages.append(text)
        current = current.__cause__ or current.__context__
    return messages[0] if messages else type(exc).__name__


@dataclass
class Part:
    """One raw file (or hub split) ready for conversion."""

    dataset: Any
    reader: str  # json | text | records
    source: str
    unit: str
    span: int | None = None
    notes: list[str] = field(default_factory=list)


def _load(builder: str, path: Path, streaming: bool, **kwargs: Any):
    import datasets

    return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=streaming, **kwargs)


def _read_lines_file(path: Path, reader: str, streaming: bool) -> Part:
    import datasets

    stamp = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
    if streaming:
        ds = datasets.IterableDataset.from_generator(_iter_lines, gen_kwargs={"path": str(path), "stamp": stamp})
        return Part(ds, reader, str(path), "line")
    try:
        ds = _load("text", path, False)
    except Exception as exc:
        if _unicode_error(exc) is None:
            raise DataError(f"cannot read file: {_describe_error(exc)}", source=str(path)) from None
        # some lines are not UTF-8: read line by line so that only those lines are rejected
        features = datasets.Features({"text": datasets.Value("string"), "__encoding__": datasets.Value("string")})
        ds = datasets.Dataset.from_generator(_iter_lines, features=features, gen_kwargs={"path": str(path), "stamp": stamp})
    return Part(ds, reader, str(path), "line", span=len(ds))


def _read_json_array(path: Path, streaming: bool) -> Part:
    """A JSON array: datasets' reader first (LLaMA-Factory's path), our own parser when it cannot."""
    import datasets

    if not streaming:
        try:
            ds = _load("json", path, False)
            return Part(ds, "records", str(path), "row", span=len(ds))
        except Exception:  # noqa: BLE001 - fall back to a precise reader that locates the problem
            pass
    try:
        with _open_binary(path) as fh:
            text = fh.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        line, reason = _first_bad_line(path)
        raise DataError(f"line {line}: {reason}; a JSON array cannot be read past it", source=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"line {exc.lineno}, column {exc.colno}: malformed JSON: {exc.msg}", source=str(path)) from None
    if not isinstance(data, list):
        raise DataError("the file holds one JSON object; expected an array of objects or one object per line", source=str(path))
    lines = [json.dumps(element, ensure_ascii=False) for element in data]
    del data, text
    if streaming:
        ds = datasets.Dataset.from_dict({"text": lines}).to_iterable_dataset()
    else:
        ds = datasets.Dataset.from_dict({"text": lines})
    return Part(ds, "json", str(path), "row", span=len(lines))


def _csv_part(path: Path, streaming: bool) -> Part:
    import csv

    import datasets

    sep = "\t" if ".tsv" in path.name.lower() else ","
    try:
        with _open_binary(path) as raw:
            header = next(csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), delimiter=sep), None)
    except UnicodeDecodeError:
        line, reason = _first_bad_line(path)
        raise DataError(f"line {line}: {reason}", source=str(path)) from None
    if not header:
        raise DataError("the file is empty (no CSV header)", source=str(path))
    features = datasets.Features({name: datasets.Value("string") for name in header})
    try:
        ds = _load("csv", path, streaming, features=features, sep=sep, keep_default_na=False, na_filter=False,
                   encoding="utf-8-sig")
        span = None if streaming else len(ds)
    except Exception as exc:
        if _unicode_error(exc) is not None:
            line, reason = _first_bad_line(path)
            raise DataError(f"line {line}: {reason}", source=str(path)) from None
        raise DataError(f"cannot read CSV: {_describe_error(exc)}", source=str(path)) from None
    return Part(ds, "records", str(path), "row", span=span)


def _refuse_single_object(path: Path, head: bytes) -> None:
    """A pretty-printed single JSON object is not JSON Lines: say so instead of rejecting every line."""
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        json.loads(first)
        return  # the first line is a complete value: JSON Lines
    except ValueError:
        pass
    if path.stat().st_size > 256 << 20:
        return
    try:
        with _open_binary(path) as fh:
            whole = json.loads(fh.read().decode("utf-8-sig"))
    except ValueError:
        return  # JSON Lines with a malformed first line: reported per line
    if isinstance(whole, dict):
        raise DataError("the file holds one JSON object; expected an array of objects or one object per line",
                        source=str(path))


def read_file(path: Path, streaming: bool) -> Part:
    kind = file_type(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror}", source=str(path)) from None
    if size == 0:
        raise DataError("the file is empty", source=str(path))
    notes: list[str] = []
    if kind in ("json", "text", "csv"):
        head = _head(path)
        if head.startswith(codecs.BOM_UTF8):
            notes.append(f"{path}: starts with a UTF-8 byte-order mark (ignored)")
            head = head[len(codecs.BOM_UTF8):]
        if not head.strip():
            raise DataError("the file is empty (only whitespace)", source=str(path))
    if kind == "json":
        if head.lstrip()[:1] == b"[":
            part = _read_json_array(path, streaming)
        else:
            _refuse_single_object(path, head)
            part = _read_lines_file(path, "json", streaming)
    elif kind == "text":
        part = _read_lines_file(path, "text", streaming)
    elif kind == "csv":
        part = _csv_part(path, streaming)
    else:
        try:
            ds = _load(kind, path, streaming)
        except Exception as exc:
            raise DataError(f"cannot read {kind} file: {_describe_error(exc)}", source=str(path)) from None
        part = Part(ds, "records", str(path), "row", span=None if streaming else len(ds))
    part.notes = notes + part.notes
    return part


def _folder_files(folder: Path) -> list[Path]:
    """The data files of a folder of shards (one level, sorted; hidden files ignored).

    Like LLaMA-Factory, every file must be of one type.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    data = []
    for p in files:
        try:
            file_type(p)
        except UsageError:
            continue
        data.append(p)
    if not data:
        raise DataError(f"no data files ({', '.join(sorted(FILE_TYPES))}) in folder", source=str(folder))
    types = {file_type(p) for p in data}
    if len(types) > 1:
        raise UsageError(f"{folder}: file types should be identical, found {', '.join(sorted(types))}")
    return data


def span(part: Part) -> int:
    """How many raw rows (lines, for line-based files) a part covers; counted when not known."""
    if part.span is not None:
        return part.span
    path = Path(part.source)
    if part.unit == "line":
        return _count_lines(path)
    kind = file_type(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if kind == "arrow":
        import pyarrow as pa

        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).read_all().num_rows
    import csv

    with _open_binary(path) as raw:
        return max(sum(1 for _ in csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))) - 1, 0)


def _hub_part(repo: str, *, split: str, streaming: bool, subset: str | None, folder: str | None) -> Part:
    import datasets

    try:
        ds = datasets.load_dataset(repo, name=subset, split=split, data_dir=folder, streaming=streaming)
    except TemplatesHubError:
        raise
    except Exception as exc:
        raise DataError(
            f"cannot load {repo!r} from the Hugging Face Hub ({type(exc).__name__}: {_describe_error(exc)}). "
            "Check the id, your network (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) and access token, or give a local path",
            source=repo,
        ) from None
    return Part(ds, "records", repo, "row", span=None if streaming else len(ds))


def _saved_part(folder: Path, split: str, streaming: bool) -> Part:
    import datasets

    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as exc:
        raise DataError(f"cannot load saved dataset: {_describe_error(exc)}", source=str(folder)) from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise UsageError(f"{folder}: no split {split!r}; splits: {', '.join(ds)}")
        ds = ds[split]
    span = len(ds)
    if streaming:
        ds = ds.to_iterable_dataset()
    return Part(ds, "records", str(folder), "row", span=span)


def open_source(source: str, *, split: str = "train", streaming: bool = False, subset: str | None = None,
                folder: str | None = None) -> list[Part]:
    """The raw parts of ``source``: one per file (a folder of shards gives several), or one hub split."""
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return [_saved_part(path, split, streaming)]
        return [read_file(p, streaming) for p in _folder_files(path)]
    if path.is_file():
        return [read_file(path, streaming)]
    looks_like_file = any(source.lower().endswith(ext + comp) for ext in FILE_TYPES for comp in ("", *COMPRESSIONS))
    if _HUB_ID.match(source) and not looks_like_file and not source.startswith((".", "/", "~")):
        return [_hub_part(source, split=split, streaming=streaming, subset=subset, folder=folder)]
    raise DataError("no such file or directory", source=source)
