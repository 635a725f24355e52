"""Conformance checks for preprocessors (``register_preprocessors``).

A preprocessor is a factory ``factory(template=, tokenizer=, config=, accounting=) -> batch function``
(a ``templates_hub.preprocess.Preprocessor`` subclass is one). ``check_preprocessor`` builds it with a
template and the tiny tokenizer, feeds it the battery's rows of its ``input_kind`` and checks:

- ``instantiable``: the factory accepts the documented keyword arguments;
- ``batch_contract``: batch in, batch out: a dict of equally long lists; with ``accounting=True`` one
  output row per input row with the accounting columns (``_row``, ``_drop``, ``_tokens``, ``_trained``)
  and a reason for every dropped row; with ``accounting=False`` no private columns;
- ``features``: the output fits ``features()`` (the dtypes the tokenized dataset is saved with);
- ``label_invariants``: every ``*input_ids`` column has an equally long ``*attention_mask`` and (for
  aligned stages) ``*labels``; a label is -100 or the token id at its position (or the eos id for
  ``efficient_eos`` templates); every kept row has trained tokens;
- ``cutoff``: with a small ``cutoff_len`` no sequence is longer, and rows that cannot fit are dropped
  with a reason rather than kept without trained tokens;
- ``picklable``: the batch function survives ``pickle`` and gives the same output
  (``datasets.map(num_proc=N)``, Ray Data);
- ``preprocess_dataset``: a registered preprocessor runs through the real pipeline, and rows in equals
  rows out plus rows dropped.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import TemplatesHubError
from .report import ConformanceReport, describe_exception
from .rows import as_batch, as_dataset, no_progress_bars, sample_rows

PREPROCESSOR_CHECKS: tuple[str, ...] = (
    "instantiable", "batch_contract", "features", "label_invariants", "cutoff", "picklable", "preprocess_dataset",
)
IGNORE_INDEX = -100
#: stages whose labels are aligned with input_ids (unsupervised rows carry the reference answer instead)
ALIGNED_STAGES: frozenset[str] = frozenset({"sft", "pairwise", "kto", "pt"})
SEQUENCE_PREFIXES: tuple[str, ...] = ("", "chosen_", "rejected_", "kl_")


def _resolve(obj: Any) -> tuple[Any, str | None, str | None]:
    """(factory, registering plugin, registered name)."""
    if isinstance(obj, str):
        from ..plugins import get_registry

        entry = get_registry("preprocessors").entry(obj)
        return entry.obj, entry.plugin, entry.name
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None)
    if isinstance(name, str) and name:
        from ..plugins import get_registry

        registry = get_registry("preprocessors")
        if name in registry and registry.get(name) is obj:
            return obj, registry.entry(name).plugin, name
    return obj, None, name


def check_preprocessor(preprocessor: Any, *, plugin: str | None = None, template: Any = "chatml",
                       tokenizer: Any = None, params: Mapping[str, Any] | None = None,
                       config: Mapping[str, Any] | None = None, cutoff_len: int = 16,
                       rows: Sequence[Mapping[str, Any]] = (), checks: Iterable[str] | None = None
                       ) -> ConformanceReport:
    """Check a preprocessor: a registered name or a factory (e.g. a ``Preprocessor`` subclass).

    - ``template``: the chat template to build it with (name, path or object; None for text rows);
    - ``tokenizer``: default the tiny offline tokenizer with the template's special tokens;
    - ``params``: ``preprocess.params`` for a plugin preprocessor; ``config``: other ``PreprocessConfig``
      fields (``train_on_prompt``, ``mask_history``, ...);
    - ``cutoff_len``: the small cutoff the ``cutoff`` check uses;
    - ``rows``: more canonical rows of the preprocessor's input kind (added to the battery's);
    - ``checks``: only these checks (``PREPROCESSOR_CHECKS``).
    """
    from ..preprocess.config import PreprocessConfig
    from ..templates import get_template
    from .tokenizers import tokenizer_for

    wanted = set(PREPROCESSOR_CHECKS if checks is None else checks)
    if wanted - set(PREPROCESSOR_CHECKS):
        raise ValueError(f"unknown preprocessor check(s) {', '.join(sorted(wanted - set(PREPROCESSOR_CHECKS)))}; "
                         f"known: {', '.join(PREPROCESSOR_CHECKS)}")
    try:
        factory, registered_by, name = _resolve(preprocessor)
    except TemplatesHubError as exc:
        report = ConformanceReport("preprocessor", str(preprocessor), plugin)
        report.fail("instantiable", str(exc))
        return report
    report = ConformanceReport("preprocessor", str(name or factory), plugin or registered_by)
    if "preprocess_dataset" in wanted and (not name or registered_by is None):
        report.note("preprocess_dataset: not checked, the preprocessor is not registered under its name")
    kind = getattr(factory, "input_kind", "sft")
    try:
        tmpl = get_template(template) if template is not None and not hasattr(template, "render") else template
        tok = tokenizer_for(tmpl, tokenizer)
    except TemplatesHubError as exc:
        report.fail("instantiable", f"cannot prepare the template / tokenizer to check it with: {exc}")
        return report
    settings = {**dict(config or {}), "params": dict(params or {}), "packing": False, "media_columns": True}
    if name:
        settings["preprocessor"] = name
    cases = sample_rows(kind) + _extra_rows(kind, rows)
    batch = as_batch([row for _, row in cases])

    report.ran("instantiable")
    try:
        base_config = PreprocessConfig(**{**settings, "cutoff_len": max(4096, cutoff_len)})
        proc = factory(template=tmpl, tokenizer=tok, config=base_config, accounting=True)
        plain = factory(template=tmpl, tokenizer=tok, config=base_config, accounting=False)
    except Exception as exc:
        report.fail("instantiable", f"factory(template=, tokenizer=, config=, accounting=) raised "
                                    f"{describe_exception(exc)} (template {getattr(tmpl, 'name', None)!r})")
        return report
    out = _run(report, proc, batch, cases, accounting=True)
    if out is None:
        return report
    if "batch_contract" in wanted:
        _run(report, plain, batch, cases, accounting=False)
    if "features" in wanted:
        _check_features(report, proc, out)
    efficient_eos = bool(getattr(tmpl, "efficient_eos", False))
    eos_id = getattr(tok, "eos_token_id", None)
    stage = getattr(proc, "stage", getattr(factory, "stage", "sft"))
    if "label_invariants" in wanted:
        report.ran("label_invariants")
        _check_labels(report, out, cases, stage, efficient_eos, eos_id, bool(getattr(proc, "reports_trained", True)),
                      "label_invariants")
    if "cutoff" in wanted:
        _check_cutoff(report, factory, tmpl, tok, settings, cutoff_len, batch, cases, stage, efficient_eos, eos_id,
                      bool(getattr(proc, "reports_trained", True)))
    if "picklable" in wanted:
        _check_pickle(report, proc, batch, out)
    if "preprocess_dataset" in wanted and name and registered_by is not None:
        _check_pipeline(report, kind, cases, tmpl, tok, base_config)
    return report


def _extra_rows(kind: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    from ..schemas import validate_row

    out = []
    for i, raw in enumerate(rows):
        clean, problems = validate_row(kind, {k: v for k, v in dict(raw).items() if k != "_row"})
        if clean is None:
            listed = "; ".join(f"{f}: {r}" for f, r in problems)
            raise ValueError(f"rows[{i}] is not a valid canonical {kind} row: {listed}")
        clean["_row"] = 1000 + i
        out.append((f"rows[{i}]", clean))
    return out


def _run(report: ConformanceReport, proc: Any, batch: dict[str, list[Any]], cases: list[tuple[str, Any]], *,
         accounting: bool, check: str = "batch_contract") -> dict[str, list[Any]] | None:
    from ..preprocess.base import ACCOUNTING_COLUMNS

    report.ran(check)
    mode = f"accounting={accounting}"
    try:
        out = proc(batch)
    except Exception as exc:
        report.fail(check, f"the batch function ({mode}) raised {describe_exception(exc)} on a batch of "
                           f"{len(cases)} rows")
        return None
    if not isinstance(out, Mapping) or not all(isinstance(v, list) for v in out.values()):
        report.fail(check, f"the batch function ({mode}) must return a dict of column -> list, got "
                           f"{type(out).__name__}")
        return None
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        report.fail(check, f"the batch function ({mode}) returned columns of different lengths: {lengths}")
        return None
    n = next(iter(lengths.values()), 0)
    if accounting:
        missing = [c for c in ACCOUNTING_COLUMNS if c not in out]
        if missing:
            report.fail(check, f"with accounting=True the output needs the accounting column(s) {', '.join(missing)} "
                               "(preprocess_dataset counts and reports dropped rows from them)")
            return None
        if n != len(cases):
            report.fail(check, f"with accounting=True the output must keep one row per input row: {len(cases)} in, "
                               f"{n} out (mark dropped rows in _drop instead of leaving them out)")
            return None
        for (label, _), reason in zip(cases, out["_drop"], strict=True):
            if reason is not None and (not isinstance(reason, str) or not reason.strip()):
                report.fail(check, f"dropped without a reason (_drop={reason!r})", label)
    else:
        private = [c for c in out if c.startswith("_")]
        if private:
            report.fail(check, f"with accounting=False the output must hold only training columns, not "
                               f"{', '.join(private)}")
        if n > len(cases):
            report.fail(check, f"with accounting=False it returned more rows ({n}) than it was given ({len(cases)})")
    return dict(out)


def _check_features(report: ConformanceReport, proc: Any, out: dict[str, list[Any]]) -> None:
    from datasets import Dataset

    report.ran("features")
    try:
        features = proc.features()
    except Exception as exc:
        report.fail("features", f"features() raised {describe_exception(exc)}")
        return
    columns = [c for c in out if not c.startswith("_")]
    if set(columns) != set(features):
        report.fail("features", f"output columns {sorted(columns)} differ from features() {sorted(features)}")
        return
    try:
        Dataset.from_dict({c: out[c] for c in features}, features=features)
    except Exception as exc:
        report.fail("features", f"the output does not fit features(): {describe_exception(exc)}")


def _sequences(out: Mapping[str, list[Any]]) -> list[str]:
    return [p for p in SEQUENCE_PREFIXES if f"{p}input_ids" in out]


def _check_labels(report: ConformanceReport, out: Mapping[str, list[Any]], cases: list[tuple[str, Any]], stage: str,
                  efficient_eos: bool, eos_id: int | None, reports_trained: bool, check: str,
                  cutoff: int | None = None) -> None:
    prefixes = _sequences(out)
    if not prefixes:
        report.fail(check, "the output has no input_ids column")
        return
    drops = out.get("_drop") or [None] * len(cases)
    for i, (label, _) in enumerate(cases):
        if drops[i] is not None:
            continue
        trained = 0
        for p in prefixes:
            ids = out[f"{p}input_ids"][i]
            mask = out.get(f"{p}attention_mask")
            labels = out.get(f"{p}labels")
            what = f"{p}input_ids"
            if cutoff is not None and len(ids) > cutoff:
                report.fail(check, f"{what} has {len(ids)} tokens, more than cutoff_len={cutoff}", label)
            if mask is not None and len(mask[i]) != len(ids):
                report.fail(check, f"{p}attention_mask has {len(mask[i])} entries for {len(ids)} tokens", label)
            if labels is None:
                continue
            row_labels = labels[i]
            if stage not in ALIGNED_STAGES:
                trained += sum(1 for x in row_labels if x != IGNORE_INDEX)
                continue
            if len(row_labels) != len(ids):
                report.fail(check, f"{p}labels has {len(row_labels)} entries for {len(ids)} tokens", label)
                continue
            for pos, (token, lab) in enumerate(zip(ids, row_labels, strict=True)):
                if lab == IGNORE_INDEX:
                    continue
                if lab != token and not (efficient_eos and lab == eos_id):
                    report.fail(check, f"{p}labels[{pos}] is {lab} but input_ids[{pos}] is {token}: a label must be "
                                       f"-100 or the token at its position", label)
                    break
                trained += 1
        if reports_trained and stage != "pt" and trained == 0 and any(f"{p}labels" in out for p in prefixes):
            report.fail(check, "kept without a single trained token (drop it with a reason in _drop instead)", label)


def _check_cutoff(report: ConformanceReport, factory: Any, template: Any, tokenizer: Any, settings: dict[str, Any],
                  cutoff_len: int, batch: dict[str, list[Any]], cases: list[tuple[str, Any]], stage: str,
                  efficient_eos: bool, eos_id: int | None, reports_trained: bool) -> None:
    from ..preprocess.config import PreprocessConfig

    report.ran("cutoff")
    try:
        proc = factory(template=template, tokenizer=tokenizer, config=PreprocessConfig(**{**settings,
                       "cutoff_len": cutoff_len}), accounting=True)
    except Exception as exc:
        report.fail("cutoff", f"cannot be built with cutoff_len={cutoff_len}: {describe_exception(exc)}")
        return
    out = _run(report, proc, batch, cases, accounting=True, check="cutoff")
    if out is not None:
        _check_labels(report, out, cases, stage, efficient_eos, eos_id, reports_trained, "cutoff", cutoff=cutoff_len)


def _check_pickle(report: ConformanceReport, proc: Any, batch: dict[str, list[Any]], out: dict[str, list[Any]]) -> None:
    report.ran("picklable")
    try:
        copy = pickle.loads(pickle.dumps(proc))
    except Exception as exc:
        report.fail("picklable", f"cannot be pickled ({describe_exception(exc)}); datasets.map(num_proc=N) and Ray "
                                 "Data pickle the batch function to send it to worker processes")
        return
    try:
        again = copy(batch)
    except Exception as exc:
        report.fail("picklable", f"the unpickled batch function raised {describe_exception(exc)}")
        return
    if dict(again) != out:
        changed = sorted(k for k in set(out) | set(again) if out.get(k) != again.get(k))
        report.fail("picklable", f"the unpickled batch function gives different output (columns {', '.join(changed)})")


def _check_pipeline(report: ConformanceReport, kind: str, cases: list[tuple[str, Any]], template: Any,
                    tokenizer: Any, config: Any) -> None:
    from ..preprocess.api import preprocess_dataset

    report.ran("preprocess_dataset")
    dataset = as_dataset(kind, [row for _, row in cases])
    try:
        with no_progress_bars():
            result = preprocess_dataset(dataset, template=template, tokenizer=tokenizer, config=config, kind=kind,
                                        progress=False)
    except Exception as exc:
        report.fail("preprocess_dataset", f"preprocess_dataset raised {describe_exception(exc)}")
        return
    stats = result.stats
    dropped = sum((stats.get("dropped") or {}).values())
    rows_out = stats.get("rows_out")
    if rows_out is not None and stats.get("rows_in") != rows_out + dropped:
        report.fail("preprocess_dataset", f"rows_in {stats.get('rows_in')} != rows_out {rows_out} + dropped {dropped}")
    for issue in result.rejects:
        if not issue.reason:
            report.fail("preprocess_dataset", f"row {issue.row} was dropped without a reason")
