"""Conformance checks for format adapters (``register_formats``).

``check_format`` checks what the loader relies on:

- ``instantiable``: the adapter is a ``FormatAdapter`` subclass that builds with its default options
  (and with ``options``) for every row kind it declares;
- ``picklable``: an instance survives ``pickle`` (the loader runs adapters inside
  ``datasets.map(num_proc=N)``) and converts the same afterwards;
- ``detect``: ``detect`` never raises on an empty sample or on other layouts' records, returns None or
  a ``Detection`` with a score in [0, 1] and a kind the adapter holds, and recognises ``samples``;
- ``convert``: every record of ``samples`` converts into a valid canonical row;
- ``write_round_trip`` (writable adapters): the battery's rows the layout can hold are written and
  read back unchanged; rows it cannot hold raise ``RowProblem`` (never lose data silently).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import TemplatesHubError
from .report import ConformanceReport, describe_exception
from .rows import sample_rows

FORMAT_CHECKS: tuple[str, ...] = ("instantiable", "picklable", "detect", "convert", "write_round_trip")

#: records of other layouts that a detector must survive (it may score them, it must not crash)
FOREIGN_RECORDS: tuple[dict[str, Any], ...] = (
    {"instruction": "q", "input": "", "output": "a"},
    {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
    {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    {"text": "plain text"},
    {"unexpected": None, "numbers": [1, 2, 3]},
)


def _resolve(obj: Any) -> tuple[Any, str | None, str]:
    if isinstance(obj, str):
        from ..plugins import get_registry

        entry = get_registry("formats").entry(obj)
        return entry.obj, entry.plugin, entry.name
    return obj, None, getattr(obj, "name", None) or getattr(obj, "__name__", str(obj))


def check_format(adapter: Any, *, plugin: str | None = None, options: Mapping[str, Any] | None = None,
                 samples: Sequence[Mapping[str, Any]] = (), kind: str | None = None,
                 checks: Iterable[str] | None = None) -> ConformanceReport:
    """Check a format adapter: a registered name or a ``FormatAdapter`` subclass.

    - ``options``: adapter options (column names) used for ``samples`` and the round trip;
    - ``samples``: raw records in the layout (as read from a file): detection must recognise them and
      every one must convert into a valid row of ``kind`` (default: what detection says);
    - ``checks``: only these checks (``FORMAT_CHECKS``).
    """
    from ..formats.base import FormatAdapter

    wanted = set(FORMAT_CHECKS if checks is None else checks)
    if wanted - set(FORMAT_CHECKS):
        raise ValueError(f"unknown format check(s) {', '.join(sorted(wanted - set(FORMAT_CHECKS)))}; "
                         f"known: {', '.join(FORMAT_CHECKS)}")
    try:
        cls, registered_by, name = _resolve(adapter)
    except TemplatesHubError as exc:
        report = ConformanceReport("format", str(adapter), plugin)
        report.fail("instantiable", str(exc))
        return report
    report = ConformanceReport("format", str(name), plugin or registered_by)
    report.ran("instantiable")
    if not (isinstance(cls, type) and issubclass(cls, FormatAdapter)):
        report.fail("instantiable", f"{cls!r} is not a templates_hub.formats.FormatAdapter subclass")
        return report
    instances: dict[str, Any] = {}
    for row_kind in cls.kinds:
        try:
            instances[row_kind] = cls(dict(options or {}), kind=row_kind)
        except Exception as exc:
            report.fail("instantiable", f"cannot be built for {row_kind} rows with options {dict(options or {})!r}: "
                                        f"{describe_exception(exc)}")
    if not instances:
        return report
    if "detect" in wanted:
        _check_detect(report, cls, samples)
    detected_kind = kind
    if detected_kind is None and samples:
        try:
            found = cls.detect(list(samples))
        except Exception:
            found = None
        detected_kind = found.kind if found is not None else cls.kinds[0]
    if "convert" in wanted and samples:
        _check_convert(report, cls, options, samples, detected_kind or cls.kinds[0])
    if "picklable" in wanted:
        _check_pickle(report, instances, options, samples, detected_kind)
    if "write_round_trip" in wanted:
        if cls.writable:
            _check_round_trip(report, cls, options)
        else:
            report.note("write_round_trip: the format has no writer (writable = False), not checked")
    return report


def _check_detect(report: ConformanceReport, cls: Any, samples: Sequence[Mapping[str, Any]]) -> None:
    from ..formats.base import Detection

    report.ran("detect")
    probes: list[tuple[str, list[Mapping[str, Any]]]] = [("empty sample", [])]
    probes += [(f"foreign record {i}", [rec]) for i, rec in enumerate(FOREIGN_RECORDS)]
    if samples:
        probes.append(("samples", list(samples)))
    for label, sample in probes:
        try:
            found = cls.detect(sample)
        except Exception as exc:
            report.fail("detect", f"detect() raised {describe_exception(exc)}", label)
            continue
        if found is None:
            if label == "samples":
                report.fail("detect", "detect() does not recognise the given samples (returned None)", label)
            continue
        if not isinstance(found, Detection):
            report.fail("detect", f"detect() must return None or a Detection, got {type(found).__name__}", label)
        elif not 0.0 <= found.score <= 1.0:
            report.fail("detect", f"score {found.score} is outside [0, 1]", label)
        elif found.kind not in cls.kinds:
            report.fail("detect", f"detected kind {found.kind!r} is not one of the format's kinds {cls.kinds}", label)
        elif label == "samples" and found.score < 0.5:
            report.fail("detect", f"scores its own samples only {found.score:.2f}; auto-detection needs >= 0.5", label)


def _check_convert(report: ConformanceReport, cls: Any, options: Mapping[str, Any] | None,
                   samples: Sequence[Mapping[str, Any]], kind: str) -> None:
    from ..formats.base import adapt_record

    report.ran("convert")
    adapter = cls(dict(options or {}), kind=kind)
    adapter.prepare(list(samples))
    for i, record in enumerate(samples):
        try:
            row, problems = adapt_record(adapter, record)
        except Exception as exc:
            report.fail("convert", f"convert() raised {describe_exception(exc)}; report bad records with "
                                   "RowProblem(field, reason)", f"samples[{i}]")
            continue
        if row is None:
            listed = "; ".join(f"{f}: {r}" for f, r, _ in problems)
            report.fail("convert", f"does not convert into a valid {kind} row: {listed}", f"samples[{i}]")


def _check_pickle(report: ConformanceReport, instances: dict[str, Any], options: Mapping[str, Any] | None,
                  samples: Sequence[Mapping[str, Any]], kind: str | None) -> None:
    from ..formats.base import adapt_record

    report.ran("picklable")
    for row_kind, adapter in instances.items():
        try:
            copy = pickle.loads(pickle.dumps(adapter))
        except Exception as exc:
            report.fail("picklable", f"a {row_kind} adapter cannot be pickled ({describe_exception(exc)}); the "
                                     "loader pickles adapters into datasets.map(num_proc=N) workers")
            continue
        if copy.options != adapter.options or copy.kind != adapter.kind:
            report.fail("picklable", f"the unpickled {row_kind} adapter lost its options or kind")
        if samples and row_kind == kind:
            adapter.prepare(list(samples))
            copy.prepare(list(samples))
            for i, record in enumerate(samples):
                try:
                    same = adapt_record(adapter, record) == adapt_record(copy, record)
                except Exception:
                    continue  # reported by the convert check
                if not same:
                    report.fail("picklable", "the unpickled adapter converts the record differently", f"samples[{i}]")


def _message(message: Any) -> Any:
    """A message in the form LLaMA-Factory's layouts hold it: reasoning written inline in the content."""
    from ..formats.base import join_thought

    if not isinstance(message, Mapping):
        return message
    out = dict(message)
    out["content"] = join_thought(out.get("reasoning"), out.get("content") or "")
    out["reasoning"] = None
    return out


def _messages(messages: Any) -> Any:
    """Messages with consecutive tool results merged as LLaMA-Factory's observation turn joins them."""
    from ..templates.slot import TOOL_RESPONSE_JOINER

    if not isinstance(messages, list):
        return messages
    out: list[Any] = []
    for message in map(_message, messages):
        if out and isinstance(message, Mapping) and message.get("role") == "tool" and out[-1].get("role") == "tool":
            out[-1] = {**out[-1], "content": out[-1]["content"] + TOOL_RESPONSE_JOINER + message["content"]}
        else:
            out.append(message)
    return out


def _comparable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row without private columns, with the representation differences that change nothing a template
    renders (inline vs separate reasoning, merged vs separate tool results) normalised away."""
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    if "messages" in out:
        out["messages"] = _messages(out["messages"])
    for key in ("chosen", "rejected"):
        if key in out:
            out[key] = _message(out[key])
    return out


def _diff(want: Mapping[str, Any], got: Mapping[str, Any]) -> str:
    """The first difference between two canonical rows, as ``path: expected -> got``."""
    from .report import short

    for key in sorted(set(want) | set(got)):
        a, b = want.get(key), got.get(key)
        if a == b:
            continue
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                roles = lambda ms: [m.get("role") for m in ms if isinstance(m, Mapping)]  # noqa: E731
                return f"{key}: {len(a)} messages {roles(a)} became {len(b)} {roles(b)}"
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                if x != y and isinstance(x, Mapping) and isinstance(y, Mapping):
                    field = next(f for f in sorted(set(x) | set(y)) if x.get(f) != y.get(f))
                    return f"{key}[{i}].{field}: {short(str(x.get(field)))} became {short(str(y.get(field)))}"
        return f"{key}: {short(str(a))} became {short(str(b))}"
    return "(no difference)"


def _check_round_trip(report: ConformanceReport, cls: Any, options: Mapping[str, Any] | None) -> None:
    from ..formats.base import RowProblem, adapt_record

    report.ran("write_round_trip")
    written_any = False
    for row_kind in cls.kinds:
        adapter = cls(dict(options or {}), kind=row_kind)
        for case, row in sample_rows(row_kind):
            try:
                record = adapter.write(row)
            except RowProblem:
                continue  # the layout cannot hold this row and says so: that is the contract
            except Exception as exc:
                report.fail("write_round_trip", f"write() raised {describe_exception(exc)} on a {row_kind} row; "
                                                "raise RowProblem(field, reason) for rows the layout cannot hold",
                            case)
                continue
            written_any = True
            reader = cls(dict(options or {}), kind=row_kind)
            reader.prepare([record])
            try:
                back, problems = adapt_record(reader, record)
            except Exception as exc:
                report.fail("write_round_trip", f"reading the written record back raised {describe_exception(exc)}",
                            case)
                continue
            if back is None:
                listed = "; ".join(f"{f}: {r}" for f, r, _ in problems)
                report.fail("write_round_trip", f"the written record cannot be read back: {listed}", case)
            elif _comparable(back) != _comparable(row):
                report.fail("write_round_trip", f"data lost or changed on the way: {_diff(_comparable(row), _comparable(back))}"
                                                f" (the record written was {record!r}); raise RowProblem for rows the "
                                                "layout cannot hold", case)
    if not written_any:
        report.fail("write_round_trip", "write() refused every battery row; a writable format must hold at least "
                                        "single-turn conversations")
