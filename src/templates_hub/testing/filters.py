"""Conformance checks for filters (``register_filters``).

A filter is a batch function: ``filter(batch) -> [None | reason, ...]``, one entry per row, ``None`` to
keep it and a non-empty reason string to drop it. ``check_filter`` runs it on the battery's rows of every
kind it declares and checks:

- ``instantiable``: the class builds from ``params`` (default: its defaults);
- ``batch_contract``: one verdict per row, each ``None`` or a string;
- ``reasons``: every drop has a non-empty reason (it ends up in the rejects file);
- ``batch_independent`` (stateless filters): a row's verdict does not depend on the other rows of its
  batch, so ``num_proc`` sharding and batch sizes cannot change the result;
- ``picklable``: the filter survives ``pickle`` and decides the same afterwards (``datasets.map(num_proc=N)``);
- ``apply_filters``: it runs through the real pipeline and every row is either kept or rejected with
  its reason;
- ``examples``: the ``keep`` rows are kept and the ``drop`` rows dropped (when given).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ..errors import TemplatesHubError
from ..schemas import validate_row
from .report import ConformanceReport, describe_exception
from .rows import as_batch, as_dataset, sample_rows

FILTER_CHECKS: tuple[str, ...] = (
    "instantiable", "batch_contract", "reasons", "batch_independent", "picklable", "apply_filters", "examples",
)


def _resolve(obj: Any) -> tuple[Any, str | None, str]:
    """(filter class or instance, registering plugin or None, name)."""
    from ..filters.base import Filter, coerce_filter

    if isinstance(obj, str):
        from ..plugins import get_registry

        entry = get_registry("filters").entry(obj)
        return entry.obj, entry.plugin, entry.name
    if isinstance(obj, Filter):
        return obj, None, obj.name
    name, cls = coerce_filter(obj, None)
    return cls, None, name


def _canonical(label: str, rows: Iterable[Mapping[str, Any]], start: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Author-given rows, validated into canonical rows: ``(kind, case label, row)``."""
    from ..filters.text import row_kind

    out = []
    for i, raw in enumerate(rows):
        row = {k: v for k, v in dict(raw).items() if k != "_row"}
        kind = row_kind(list(row))
        clean, problems = validate_row(kind, row)
        if clean is None:
            listed = "; ".join(f"{f}: {r}" for f, r in problems)
            raise ValueError(f"{label}[{i}] is not a valid canonical {kind} row: {listed}")
        clean["_row"] = start + len(out) + 1
        out.append((kind, f"{label}[{i}]", clean))
    return out


def check_filter(flt: Any, *, plugin: str | None = None, params: Mapping[str, Any] | None = None,
                 tokenizer: Any = None, keep: Sequence[Mapping[str, Any]] = (),
                 drop: Sequence[Mapping[str, Any]] = (), kinds: Iterable[str] | None = None,
                 checks: Iterable[str] | None = None) -> ConformanceReport:
    """Check a filter: a registered name, a ``Filter`` subclass or instance, or a plain batch function.

    - ``params``: parameters to build it with (a filter with required parameters needs them);
    - ``tokenizer``: bound when the filter counts tokens (default: the tiny offline tokenizer);
    - ``keep`` / ``drop``: canonical rows (any kind) it must keep / drop, e.g. one with an e-mail
      address for a PII filter: without drops the ``reasons`` check has nothing to look at;
    - ``kinds``: row kinds to test (default: every kind the filter declares);
    - ``checks``: only these checks (``FILTER_CHECKS``).
    """
    from ..filters.base import POSITION_COLUMN, Filter

    wanted = set(FILTER_CHECKS if checks is None else checks)
    if wanted - set(FILTER_CHECKS):
        raise ValueError(f"unknown filter check(s) {', '.join(sorted(wanted - set(FILTER_CHECKS)))}; "
                         f"known: {', '.join(FILTER_CHECKS)}")
    try:
        target, registered_by, name = _resolve(flt)
    except TemplatesHubError as exc:
        report = ConformanceReport("filter", str(flt), plugin)
        report.fail("instantiable", str(exc))
        return report
    report = ConformanceReport("filter", name, plugin or registered_by)

    report.ran("instantiable")
    if isinstance(target, Filter):
        instance = target
    else:
        try:
            instance = target.model_validate(dict(params or {}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: "
                                 f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
            if not params:  # a filter may need parameters (a pattern, a bound): the author's tests pass them
                report.note(f"not checked: it cannot be built without parameters ({problems}); check it with "
                            "check_filter(..., params={...})")
                return report
            report.fail("instantiable", f"cannot be built with parameters {dict(params)!r}: {problems}")
            return report
        except Exception as exc:
            report.fail("instantiable", f"building it raised {describe_exception(exc)}")
            return report
    if instance.needs_tokenizer() and instance.tokenizer is None:
        from ..tokenizer import load_tokenizer
        from .tokenizers import tiny_tokenizer

        instance.bind(tokenizer=load_tokenizer(tokenizer) if tokenizer is not None else tiny_tokenizer())

    declared = set(instance.kinds)
    selected = [k for k in ("sft", "preference", "kto", "text") if k in declared and (kinds is None or k in set(kinds))]
    examples = _canonical("keep", keep, 1000) + _canonical("drop", drop, 2000)
    for kind in selected:
        cases = [(label, row) for label, row in sample_rows(kind)]
        cases += [(label, row) for k, label, row in examples if k == kind]
        _check_kind(report, instance, kind, cases, wanted, POSITION_COLUMN)
    for k, label, _row in examples:
        if k not in declared:
            report.fail("examples", f"the example is a {k} row but the filter handles only "
                                    f"{', '.join(sorted(declared))}", label)
    if "examples" in wanted and examples:
        _check_examples(report, instance, examples, POSITION_COLUMN)
    return report


def _verdicts(report: ConformanceReport, flt: Any, kind: str, cases: list[tuple[str, dict[str, Any]]],
              position_column: str, check: str = "batch_contract") -> list[Any] | None:
    rows = [dict(row, **{position_column: i}) for i, (_, row) in enumerate(cases)]
    batch = as_batch(rows)
    if flt.stateful:
        flt.fit(as_dataset(kind, [row for _, row in cases]).add_column(position_column, list(range(len(cases)))))
    try:
        verdicts = flt(batch)
    except Exception as exc:
        report.fail(check, f"raised {describe_exception(exc)} on a batch of {len(rows)} {kind} rows "
                           f"({', '.join(label for label, _ in cases[:4])}{', ...' if len(cases) > 4 else ''})")
        return None
    try:
        verdicts = list(verdicts)
    except TypeError:
        report.fail(check, f"returned {type(verdicts).__name__}, not a list with one verdict per row")
        return None
    if len(verdicts) != len(rows):
        report.fail(check, f"returned {len(verdicts)} verdicts for a batch of {len(rows)} {kind} rows")
        return None
    return verdicts


def _check_kind(report: ConformanceReport, flt: Any, kind: str, cases: list[tuple[str, dict[str, Any]]],
                wanted: set[str], position_column: str) -> None:
    report.ran("batch_contract")
    verdicts = _verdicts(report, flt, kind, cases, position_column)
    if verdicts is None:
        return
    bad = False
    for (label, _), verdict in zip(cases, verdicts, strict=True):
        if verdict is not None and not isinstance(verdict, str):
            report.fail("batch_contract", f"verdict {verdict!r}: a filter returns None (keep) or a reason string (drop)",
                        label)
            bad = True
        elif verdict == "" and "reasons" in wanted:
            report.fail("reasons", "dropped without a reason (empty string): the rejects file would not say why",
                        label)
    if "reasons" in wanted:
        report.ran("reasons")
    if bad:
        return
    if "batch_independent" in wanted and not flt.stateful:
        report.ran("batch_independent")
        for i, (label, row) in enumerate(cases):
            alone = _verdicts(report, flt, kind, [(label, row)], position_column, "batch_independent")
            if alone is None:
                return
            if alone[0] != verdicts[i]:
                report.fail("batch_independent", f"decides {alone[0]!r} alone but {verdicts[i]!r} in a batch of "
                                                 f"{len(cases)} rows: results would depend on batch size and num_proc",
                            label)
    if "picklable" in wanted:
        report.ran("picklable")
        try:
            copy = pickle.loads(pickle.dumps(flt))
        except Exception as exc:
            report.fail("picklable", f"cannot be pickled ({describe_exception(exc)}); datasets.map(num_proc=N) "
                                     "pickles filters to send them to worker processes")
        else:
            again = _verdicts(report, copy, kind, cases, position_column, "picklable")
            if again is not None and again != verdicts:
                first = next(i for i, (a, b) in enumerate(zip(again, verdicts, strict=True)) if a != b)
                report.fail("picklable", f"the unpickled filter decides {again[first]!r} instead of "
                                         f"{verdicts[first]!r}", cases[first][0])
    if "apply_filters" in wanted:
        _check_pipeline(report, flt, kind, cases, verdicts)


def _check_pipeline(report: ConformanceReport, flt: Any, kind: str, cases: list[tuple[str, dict[str, Any]]],
                    verdicts: list[Any]) -> None:
    from ..filters.apply import apply_filters

    report.ran("apply_filters")
    dataset = as_dataset(kind, [row for _, row in cases])
    try:
        result = apply_filters(dataset, [flt])
    except Exception as exc:
        report.fail("apply_filters", f"apply_filters raised {describe_exception(exc)} on {kind} rows")
        return
    if len(result.kept) + len(result.rejects) != len(cases):
        report.fail("apply_filters", f"{len(cases)} {kind} rows in, but {len(result.kept)} kept + "
                                     f"{len(result.rejects)} rejected")
    by_row = {issue.row: issue for issue in result.rejects}
    for (label, row), verdict in zip(cases, verdicts, strict=True):
        issue = by_row.get(row["_row"])
        if verdict is None and issue is not None:
            report.fail("apply_filters", f"kept by a direct call but rejected by apply_filters ({issue.reason})", label)
        elif verdict is not None and issue is None:
            report.fail("apply_filters", f"dropped by a direct call ({verdict!r}) but kept by apply_filters", label)
        elif issue is not None and not issue.reason:
            report.fail("reasons", "rejected by apply_filters without a reason", label)


def _check_examples(report: ConformanceReport, flt: Any, examples: list[tuple[str, str, dict[str, Any]]],
                    position_column: str) -> None:
    report.ran("examples")
    for kind, label, row in examples:
        if kind not in flt.kinds:
            continue
        verdicts = _verdicts(report, flt, kind, [(label, row)], position_column, "examples")
        if verdicts is None:
            continue
        if label.startswith("keep") and verdicts[0] is not None:
            report.fail("examples", f"must be kept but was dropped: {verdicts[0]!r}", label)
        elif label.startswith("drop") and verdicts[0] is None:
            report.fail("examples", "must be dropped but was kept", label)
