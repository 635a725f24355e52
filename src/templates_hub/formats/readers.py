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
import difflib
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DataError, TemplatesHubError, UsageError

E = TypeVar("E", bound=BaseException)

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


#: Optional columns of a raw part for rows the reader itself could not read (bad bytes, ragged CSV rows):
#: ``PROBLEM`` is JSON ``[field, reason, category]``, ``VERBATIM`` JSON of the row as read (lines keep their
#: text in ``text``). The conversion map turns such rows into rejects; adapters never see these columns.
PROBLEM, VERBATIM = "__problem__", "__verbatim__"


def _bad_utf8(data: bytes, exc: UnicodeDecodeError, where: str = "column") -> str:
    return f"invalid UTF-8 (byte 0x{data[exc.start]:02x} at {where} {exc.start + 1})"


def _iter_lines(path: str, stamp: Any = None) -> Iterator[dict[str, Any]]:
    """Every line of a file (universal newlines, like the ``text`` builder), undecodable ones flagged.

    A flagged line keeps its text with the bad bytes replaced (U+FFFD), so the rejects file can show it.
    """
    with _open_binary(Path(path)) as raw:
        # latin-1 never fails and keeps bytes 1:1, so the line splitting matches text mode exactly;
        # each line is then decoded as UTF-8 on its own
        for line in io.TextIOWrapper(raw, encoding="latin-1", newline=None):
            data = line.rstrip("\n").encode("latin-1")
            try:
                yield {"text": data.decode("utf-8"), PROBLEM: None}
            except UnicodeDecodeError as exc:
                problem = json.dumps(["(line)", _bad_utf8(data, exc), "bad_encoding"])
                yield {"text": data.decode("utf-8", "replace"), PROBLEM: problem}


def _count_lines(path: Path) -> int:
    with _open_binary(path) as raw:
        return sum(1 for _ in io.TextIOWrapper(raw, encoding="latin-1", newline=None))


def _in_chain(exc: BaseException | None, kind: type[E]) -> E | None:
    """The first exception of type ``kind`` in ``exc``'s cause / context chain (``datasets`` wraps errors)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _unicode_error(exc: BaseException) -> UnicodeDecodeError | None:
    return _in_chain(exc, UnicodeDecodeError)


def _first_bad_line(path: Path) -> tuple[int, str]:
    for number, row in enumerate(_iter_lines(str(path)), start=1):
        if row[PROBLEM]:
            return number, json.loads(row[PROBLEM])[1]
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
        features = datasets.Features({"text": datasets.Value("string"), PROBLEM: datasets.Value("string")})
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
    lines = [json.dumps(element) for element in data]  # ASCII escapes: a lone surrogate stays checkable
    del data, text
    if streaming:
        ds = datasets.Dataset.from_dict({"text": lines}).to_iterable_dataset()
    else:
        ds = datasets.Dataset.from_dict({"text": lines})
    return Part(ds, "json", str(path), "row", span=len(lines))


def _csv_header(path: Path, sep: str) -> list[str]:
    """The column names, named like pandas names them (an empty name is ``Unnamed: i``); duplicates refused."""
    import csv

    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        header = next(csv.reader(text, delimiter=sep), None)
    if not header:
        raise DataError("the file is empty (no CSV header)", source=str(path))
    names: list[str] = []
    for i, cell in enumerate(header):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            data = cell.encode("utf-8", "surrogateescape")
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"line 1 (the header): {_bad_utf8(data, exc, f'header cell {i + 1}, byte')}",
                                source=str(path)) from None
        name = cell or f"Unnamed: {i}"
        if name in names:
            raise DataError(f"line 1 (the header): column {name!r} appears twice; rename one", source=str(path))
        names.append(name)
    return names


def _csv_reader(fh: Any, names: Sequence[str], sep: str, on_invalid: Any, columns: Sequence[str] | None = None) -> Any:
    """pyarrow's streaming CSV reader over the data rows: cells as bytes, quoted newlines allowed."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pcsv.open_csv(
        fh,
        read_options=pcsv.ReadOptions(use_threads=False, skip_rows=1, column_names=list(names)),
        parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types={n: pa.binary() for n in names},
                                            include_columns=list(columns) if columns is not None else None),
    )


def _csv_is_rectangular(path: Path, names: list[str], sep: str) -> bool:
    """True when every data row has as many fields as the header (a fast pass in C++, stops at the first
    ragged row). pandas pads short rows with "" silently, so they must be found before it reads the file."""
    import pyarrow as pa

    rows = 0
    try:
        with _open_binary(path) as fh:
            for batch in _csv_reader(fh, names, sep, lambda row: "error", columns=names[:1]):
                rows += batch.num_rows
    except pa.ArrowInvalid:
        return False
    if not rows:
        raise DataError("no rows (the file holds only a CSV header)", source=str(path))
    return True


def _iter_csv(path: str, names: Sequence[str], sep: str, stamp: Any = None) -> Iterator[dict[str, Any]]:
    """Every data row of a CSV file in order, with the rows that cannot be read flagged (``PROBLEM``).

    A row whose field count differs from the header's, or whose cells are not UTF-8, becomes a flagged
    row (the row text, or its cells with bad bytes replaced, in ``VERBATIM``) instead of failing or
    padding the file. Blank lines are not rows (as for pandas), so row ``n`` is the n-th non-blank data row.
    """
    ragged: dict[int, tuple[str, int]] = {}

    def on_invalid(row: Any) -> str:
        if row.number is None:  # pragma: no cover - pyarrow numbers rows when use_threads=False
            return "error"
        ragged[row.number - 1] = (row.text, row.actual_columns)  # pyarrow counts the header as row 1
        return "skip"

    def flagged(number: int) -> dict[str, Any]:
        text, count = ragged.pop(number)
        reason = f"the row has {count} field{'s' if count != 1 else ''}, the header has {len(names)}"
        return {**dict.fromkeys(names), PROBLEM: json.dumps(["(row)", reason, "ragged_row"]),
                VERBATIM: json.dumps(text, ensure_ascii=False)}

    number = 0
    with _open_binary(Path(path)) as fh:
        try:
            reader = _csv_reader(fh, names, sep, on_invalid)
            for batch in reader:
                columns = [batch.column(i).to_pylist() for i in range(len(names))]
                for i in range(batch.num_rows):
                    number += 1
                    while number in ragged:  # ragged rows before this one were parsed with or before it
                        yield flagged(number)
                        number += 1
                    cells = [column[i] or b"" for column in columns]
                    try:
                        yield {**{n: c.decode("utf-8") for n, c in zip(names, cells, strict=True)}, PROBLEM: None,
                               VERBATIM: None}
                    except UnicodeDecodeError:
                        yield _bad_csv_cells(names, cells)
        except Exception as exc:  # noqa: BLE001 - pyarrow's parse errors name no file
            raise DataError(f"cannot read CSV: {_describe_error(exc)}", source=str(path)) from None
    for rest in sorted(ragged):
        yield flagged(rest)


def _bad_csv_cells(names: Sequence[str], cells: list[bytes]) -> dict[str, Any]:
    """The flagged row for cells that are not all UTF-8: the first bad cell named, bad bytes replaced."""
    problem = None
    for name, cell in zip(names, cells, strict=True):
        try:
            cell.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = json.dumps([name, _bad_utf8(cell, exc, "byte"), "bad_encoding"])
            break
    verbatim = {n: c.decode("utf-8", "replace") for n, c in zip(names, cells, strict=True)}
    return {**dict.fromkeys(names), PROBLEM: problem, VERBATIM: json.dumps(verbatim, ensure_ascii=False)}


def _csv_part(path: Path, streaming: bool) -> Part:
    """A CSV / TSV file: cells are strings; ragged rows and undecodable rows become rejects, not errors.

    A rectangular UTF-8 file (the usual case) goes through ``load_dataset("csv")`` (fast, cached);
    otherwise, and when streaming, rows come from ``_iter_csv`` so each bad row is reported on its own.
    """
    import datasets

    sep = "\t" if ".tsv" in path.name.lower() else ","
    names = _csv_header(path, sep)
    columns = {name: datasets.Value("string") for name in names}
    flagged = datasets.Features({**columns, PROBLEM: datasets.Value("string"), VERBATIM: datasets.Value("string")})
    stamp = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
    # a tuple: datasets would split a list in gen_kwargs into shards
    kwargs = {"path": str(path), "names": tuple(names), "sep": sep, "stamp": stamp}
    if streaming:
        ds = datasets.IterableDataset.from_generator(_iter_csv, features=flagged, gen_kwargs=kwargs)
        return Part(ds, "records", str(path), "row")
    if _csv_is_rectangular(path, names, sep):
        try:
            ds = _load("csv", path, False, features=datasets.Features(columns), sep=sep, keep_default_na=False,
                       na_filter=False, encoding="utf-8-sig")
            return Part(ds, "records", str(path), "row", span=len(ds))
        except Exception as exc:
            if _unicode_error(exc) is None:
                raise DataError(f"cannot read CSV: {_describe_error(exc)}", source=str(path)) from None
    try:
        ds = datasets.Dataset.from_generator(_iter_csv, features=flagged, gen_kwargs=kwargs)
    except Exception as exc:
        raise _in_chain(exc, DataError) or DataError(f"cannot read CSV: {_describe_error(exc)}", source=str(path)) from None
    return Part(ds, "records", str(path), "row", span=len(ds))


def _refuse_single_object(path: Path, head: bytes) -> None:
    """A pretty-printed single JSON object is not JSON Lines: say so instead of rejecting every line."""
    first = head.lstrip().split(b"\n", 1)[0]
    if b"\n" not in head.lstrip():  # the first line is longer than the head: read all of it
        with _open_binary(path) as fh:
            first = next((line for line in fh if line.strip()), b"")
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

    with _open_binary(path) as raw:  # blank lines are not rows (see _iter_csv)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        sep = "\t" if ".tsv" in path.name.lower() else ","
        return max(sum(1 for cells in csv.reader(text, delimiter=sep) if cells) - 1, 0)


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
                folder: str | None = None, first_only: bool = False) -> list[Part]:
    """The raw parts of ``source``: one per file (a folder of shards gives several), or one hub split.

    ``first_only``: only the first file of a folder (enough to look at the first rows).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return [_saved_part(path, split, streaming)]
        files = _folder_files(path)
        return [read_file(p, streaming) for p in (files[:1] if first_only else files)]
    if path.is_file():
        return [read_file(path, streaming)]
    if not looks_local(source):
        try:
            return [_hub_part(source, split=split, streaming=streaming, subset=subset, folder=folder)]
        except DataError as exc:
            local = _did_you_mean(path)
            if local:  # a local name close to it exists: the id was most likely a misspelt path
                hub = str(exc).removeprefix(f"{source}: ")
                raise DataError(f"{hub}; as a local path: no such file or directory{local}", source=source) from None
            raise
    raise DataError(f"no such file or directory{_did_you_mean(path)}", source=source)


def data_files(source: str) -> list[Path]:
    """The local files ``open_source`` reads for ``source``, in order: the file itself, or a folder's data
    files; empty for a ``save_to_disk`` folder or a hub id."""
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir() and not ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
        return _folder_files(path)
    return []


def file_contains(path: Path, needles: Sequence[bytes], chunk: int = 1 << 20) -> bool:
    """Whether any of ``needles`` occurs in the bytes of ``path`` (decompressed), read ``chunk`` bytes at a time.

    Constant memory on files of any size; a needle split across two chunks is found (each chunk is searched
    together with the end of the previous one).
    """
    wanted = [n for n in needles if n]
    if not wanted:
        return False
    keep = max(len(n) for n in wanted) - 1
    tail = b""
    try:
        with _open_binary(path) as fh:
            while block := fh.read(chunk):
                data = tail + block
                if any(n in data for n in wanted):
                    return True
                tail = data[-keep:] if keep else b""
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from None
    return False


#: data-file suffixes without the dot (for near-miss checks such as .jsn, .jsonll, .csvv)
_SUFFIX_WORDS: tuple[str, ...] = tuple(sorted({e.lstrip(".") for e in FILE_TYPES} | {c.lstrip(".") for c in COMPRESSIONS}))


def _near_data_suffix(name: str) -> bool:
    """True when the last suffix of ``name`` is a data-file suffix or a near miss of one (.jsn, .csvv)."""
    stem, dot, suffix = name.rpartition(".")
    suffix = suffix.lower()
    if not dot or not stem or not suffix.isalpha() or not 2 <= len(suffix) <= 8:
        return False
    return suffix in _SUFFIX_WORDS or bool(difflib.get_close_matches(suffix, _SUFFIX_WORDS, n=1, cutoff=0.7))


def looks_local(source: str) -> bool:
    """Whether a source that does not exist was meant as a local path rather than a hub dataset id.

    Local: anything that is not shaped like ``owner/name``; a path starting with ``./``, ``../``, ``/``
    or ``~``; or a name ending in a data-file suffix or a near miss of one (``.jsn``, ``.jsonll``,
    ``.csvv``: hub ids do not end like that). Everything else (``tatsu-lab/alpaca``) is a hub id, even
    when a local folder happens to share the owner's name (``HuggingFaceH4/`` next to the recipe): local
    folders say nothing about what a name on the Hub means. A typo in a local path then fails at once
    with "no such file" instead of retrying the Hub for half a minute and blaming the network; a
    missing local file without a suffix (``data/alpaca``) reaches the Hub, whose error then suggests
    the nearest local name.
    """
    text = source.strip()
    if text.startswith(("./", "../", ".\\", "..\\", "/", "~")) or os.path.isabs(text):
        return True
    if not _HUB_ID.match(text):
        return True
    return _near_data_suffix(text.rstrip("/").rsplit("/", 1)[-1])


def _did_you_mean(path: Path) -> str:
    """`` (did you mean 'data/alpaca.json'?)`` for the nearest existing name at the first missing step."""
    parts = path.parts
    for i in range(len(parts)):
        here = Path(*parts[: i + 1])
        if here.exists():
            continue
        folder = Path(*parts[:i]) if i else Path(".")
        try:
            names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        except OSError:
            return ""
        close = difflib.get_close_matches(parts[i], names, n=1, cutoff=0.6)
        if not close:
            return ""
        fixed = (folder / close[0]).joinpath(*parts[i + 1:]) if i else Path(close[0]).joinpath(*parts[i + 1:])
        return f" (did you mean {str(fixed)!r}?)" if fixed.exists() else ""
    return ""
