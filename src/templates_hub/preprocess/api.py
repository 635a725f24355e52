"""``preprocess_dataset``: canonical rows -> training rows, with accounting, statistics and packing.

The registered preprocessor runs as a batched ``datasets`` map (``num_proc`` workers for a ``Dataset``,
lazily for an ``IterableDataset``). Every row it refuses is reported as a ``RowIssue`` that points at
the source row (``_row``), and the statistics (rows in / out, dropped by reason, tokens, share of
trained tokens, pack fill rate) are computed from small accounting columns with Arrow, never by
reading the token lists back into Python.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import PluginError, RowIssue, TemplatesHubError, UsageError
from ..templates.base import ChatTemplate, RenderOptions
from .base import ACCOUNTING_COLUMNS, Preprocessor
from .config import PreprocessConfig

#: the preprocessor used for each canonical row kind when the config does not name one
DEFAULT_FOR_KIND: dict[str, str] = {"sft": "supervised", "preference": "pairwise", "kto": "kto", "text": "pretrain"}


@dataclass
class PreprocessResult:
    """What ``preprocess_dataset`` returns.

    ``stats``: ``rows_in``, ``rows_out``, ``dropped`` ({reason kind: n}), ``tokens``, ``trained_tokens``,
    ``trained_share``, and when packing ``packs``, ``pack_fill`` (real tokens / pack positions) and
    ``pack_length``. For a streaming (``IterableDataset``) input the numbers fill in while the result
    is iterated in this process, and ``rejects`` grows with them; they describe the current pass
    (iterating again starts them from zero, so a second epoch does not count rows twice).
    """

    dataset: Any
    stats: dict[str, Any]
    rejects: list[RowIssue] = field(default_factory=list)
    preprocessor: str = ""
    stage: str = "sft"
    #: how the tokenizer was driven (``TokenizerProfile.describe``)
    engine: str = ""

    def summary(self) -> str:
        """A few human-readable lines (the CLI prints them)."""
        s = self.stats
        lines = [f"preprocessor: {self.preprocessor}"]
        rows_in = s.get("rows_in")
        lines.append(f"rows: {rows_in if rows_in is not None else '?'} in, {s.get('rows_out', '?')} out")
        for reason, n in sorted((s.get("dropped") or {}).items()):
            lines.append(f"  dropped ({reason}): {n}")
        tokens = s.get("tokens", 0)
        trained = s.get("trained_tokens", 0)
        share = f" ({100 * trained / tokens:.1f}% trained)" if tokens and "trained_tokens" in s else ""
        lines.append(f"tokens: {tokens:,}{share}")
        if "packs" in s:
            lines.append(f"packs: {s['packs']:,} of {s['pack_length']} tokens, fill {100 * s['pack_fill']:.2f}%")
        return "\n".join(lines)


def find_preprocessor(name: str, kind: str | None = None, why: str = "") -> Any:
    """The preprocessor factory registered as ``name``; ``UsageError`` when the name is unknown (with a
    did-you-mean and the registered names, plugins included) or when it cannot read ``kind`` rows.

    The one place both questions are answered: the recipe asks it when it is read (``kind`` declared) and
    before any data work (``kind`` from the first rows), ``resolve_preprocessor`` when the rows are
    tokenized. ``why`` says where ``kind`` comes from. Messages do not name the option; callers add it.
    """
    from ..plugins import get_registry

    try:
        factory = get_registry("preprocessors").get(name)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    wanted = getattr(factory, "input_kind", None)
    accepted = getattr(factory, "accepts_kinds", None) or ((wanted,) if wanted else ())
    if kind is not None and accepted and kind not in accepted:
        where = f" ({why})" if why else ""
        raise UsageError(f"{name!r} reads {' or '.join(accepted)} rows but the data are {kind} rows{where}; "
                         f"use {DEFAULT_FOR_KIND.get(kind, '?')!r} (or leave preprocessor unset to follow the data)")
    return factory


def resolve_preprocessor(config: PreprocessConfig, kind: str) -> tuple[str, Any]:
    """The registered preprocessor for ``config`` and row ``kind`` (explicit name first, else by kind)."""
    explicit = "preprocessor" in config.model_fields_set
    name = config.preprocessor if explicit else DEFAULT_FOR_KIND.get(kind, config.preprocessor)
    try:
        return name, find_preprocessor(name, kind)
    except UsageError as exc:
        raise UsageError(f"preprocess.preprocessor: {exc}") from None


def preprocess_dataset(dataset: Any, *, template: ChatTemplate | None, tokenizer: Any, config: PreprocessConfig,
                       kind: str = "sft", render_options: RenderOptions | None = None, source: str | None = None,
                       progress: bool = True) -> PreprocessResult:
    """Tokenize canonical rows of ``kind`` for training (LLaMA-Factory's columns and dtypes).

    ``dataset``: a ``datasets.Dataset`` (mapped with ``config.num_proc`` workers) or ``IterableDataset``
    (streamed; no ``num_proc``). ``render_options``: template options such as ``default_system`` /
    ``tool_format`` (the recipe's template section); the preprocess settings in ``config`` override
    the matching fields. ``source`` names the input in the rejects.
    """
    import datasets

    name, factory = resolve_preprocessor(config, kind)
    proc: Preprocessor = factory(template=template, tokenizer=tokenizer, config=config, accounting=True,
                                 render_options=render_options)
    packing = _packing(config, proc)
    if packing and name == "supervised":
        proc.cutoff_len = config.cutoff_len - 1  # LLaMA-Factory: rows + 1 pad position fill cutoff_len exactly
    streaming = isinstance(dataset, datasets.IterableDataset)
    result = PreprocessResult(None, {}, [], name, proc.stage, proc.engine.profile.describe())
    if streaming:  # tokenized lazily, while the caller iterates: the engine stays as it is
        _run_streaming(dataset, proc, config, result, source, packing)
        return result
    try:
        _run_dataset(dataset, proc, config, result, source, packing, progress)
    finally:
        proc.engine.release()  # the tokenizer is the caller's: give its BPE cache back
    return result


def _packing(config: PreprocessConfig, proc: Preprocessor) -> bool:
    if proc.stage == "pt":
        return config.packing is not False
    wants = bool(config.packing) or config.neat_packing
    if wants and proc.stage != "sft":
        raise UsageError(f"preprocess.packing: the {proc.name} preprocessor does not pack rows (only supervised "
                         "and pretrain do); set packing: false")
    return wants


def _map_kwargs(dataset: Any, config: PreprocessConfig, progress: bool) -> dict[str, Any]:
    num_proc = config.num_proc if config.num_proc and config.num_proc > 1 else None
    if num_proc and len(dataset) < 2 * config.batch_size:
        num_proc = None  # worker start-up would cost more than it saves
    return {"batched": True, "batch_size": config.batch_size, "num_proc": num_proc}


#: tokenizer -> (state, datasets hash): hashing a tokenizer means pickling it whole (about half a second for
#: a 150k vocabulary), so each tokenizer object is hashed once per state
_TOKENIZER_HASHES: weakref.WeakKeyDictionary[Any, tuple[Any, str]] = weakref.WeakKeyDictionary()


def _tokenizer_hash(tokenizer: Any) -> str:
    """``datasets``' hash of ``tokenizer``, cached while its vocabulary and special tokens stay the same."""
    from datasets.fingerprint import Hasher

    from .encode import _state_key

    state = _state_key(tokenizer, getattr(tokenizer, "name_or_path", None), tokenizer.bos_token_id,
                       tokenizer.eos_token_id, tokenizer.pad_token_id, getattr(tokenizer, "add_bos_token", None))
    try:
        cached = _TOKENIZER_HASHES.get(tokenizer)
    except TypeError:
        return Hasher.hash(tokenizer)
    if cached is not None and cached[0] == state:
        return cached[1]
    value = Hasher.hash(tokenizer)
    _TOKENIZER_HASHES[tokenizer] = (state, value)
    return value


def _fingerprint(dataset: Any, proc: Preprocessor, *parts: Any) -> str:
    """The fingerprint of ``dataset`` mapped through ``proc`` (what ``datasets`` uses to name and reuse its
    cache files), computed without pickling the tokenizer again for every call. The package version is
    part of it: the preprocessor's code is named, not hashed, so a cache written by another release of
    templates-hub is never reused."""
    from datasets.fingerprint import Hasher

    from .. import __version__

    return Hasher.hash((
        __version__, getattr(dataset, "_fingerprint", None), type(proc).__module__, type(proc).__qualname__, proc.name,
        proc.config.model_dump_json(), proc.cutoff_len if hasattr(proc, "cutoff_len") else None,
        proc.render_options, Hasher.hash(proc.template), _tokenizer_hash(proc.tokenizer), proc.accounting,
        proc.arrow, *parts,
    ))


def map_rows(dataset: Any, function: Any, *, features: Any, **kwargs: Any) -> Any:
    """``dataset.map(function, features=features, ...)``, also for an empty dataset.

    ``datasets`` does not call the function for zero rows and then returns a dataset without any
    column; an empty input (every row rejected earlier, a pretraining set shorter than one block) must
    still give the output columns and dtypes.
    """
    import datasets

    if len(dataset) == 0:
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    return dataset.map(function, features=features, **kwargs)


def _progress(enabled: bool):
    """Context manager that hides datasets' progress bars when ``enabled`` is False."""
    import contextlib

    import datasets

    if enabled or not datasets.utils.logging.is_progress_bar_enabled():
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def hidden():
        datasets.utils.logging.disable_progress_bar()
        try:
            yield
        finally:
            datasets.utils.logging.enable_progress_bar()

    return hidden()


def _run_dataset(dataset: Any, proc: Preprocessor, config: PreprocessConfig, result: PreprocessResult,
                 source: str | None, packing: bool, progress: bool) -> None:
    import numpy as np
    import pyarrow.compute as pc

    _check_columns(dataset.column_names, proc)
    proc.arrow = True
    with _progress(progress):
        mapped = map_rows(dataset, proc, remove_columns=dataset.column_names, features=proc.accounting_features(),
                          desc=f"preprocess ({proc.name})", new_fingerprint=_fingerprint(dataset, proc),
                          **_map_kwargs(dataset, config, progress))
    table = mapped.data
    drops = table.column("_drop")
    stats = result.stats
    stats["rows_in"] = len(dataset)
    stats["rows_out"] = drops.null_count if proc.stage != "pt" else None
    stats["tokens"] = int(pc.sum(table.column("_tokens")).as_py() or 0)
    if proc.reports_trained:
        stats["trained_tokens"] = int(pc.sum(table.column("_trained")).as_py() or 0)
        stats["trained_share"] = stats["trained_tokens"] / stats["tokens"] if stats["tokens"] else 0.0
    dropped: Counter[str] = Counter()
    keep = None
    if drops.null_count < len(mapped):
        valid = pc.is_valid(drops).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(valid)
        reasons = drops.take(bad).to_pylist()
        rows = table.column("_row").take(bad).to_pylist()
        for idx, reason, row in zip(bad.tolist(), reasons, rows, strict=False):
            issue = _issue(reason, row if row is not None else idx + 1, source, proc)
            dropped[issue.kind] += 1
            result.rejects.append(issue)
        keep = np.flatnonzero(~valid)
    stats["dropped"] = dict(dropped)
    train_cols = [c for c in mapped.column_names if c not in ACCOUNTING_COLUMNS]
    if proc.stage == "pt":
        from .pretrain import finish_pretrain

        finish_pretrain(mapped.select_columns(train_cols), proc, config, result, packing, progress)
        return
    if packing:
        _pack_dataset(mapped.select_columns(train_cols), proc, config, result, progress)
        return
    out = mapped.select_columns(train_cols)
    if keep is not None:
        out = out.select(keep)
    result.dataset = out


def _pack_dataset(mapped: Any, proc: Preprocessor, config: PreprocessConfig, result: PreprocessResult,
                  progress: bool) -> None:
    import datasets
    import pyarrow.compute as pc
    from datasets.fingerprint import Hasher

    from .packing import PackMaterializer, packed_features, plan_packs

    lengths = pc.list_value_length(mapped.data.column("input_ids")).to_numpy(zero_copy_only=False)
    plan = plan_packs(lengths, config.cutoff_len - 1)
    pad_id = proc.tokenizer.pad_token_id
    if pad_id is None:
        raise TemplatesHubError("packing pads every pack: the tokenizer needs a pad token (run fix_tokenizer first)")
    neat = config.neat_packing
    packer = PackMaterializer(mapped, plan, length=config.cutoff_len, pad_id=pad_id, neat=neat, media=proc.media)
    index = datasets.Dataset.from_dict({"_pack": list(range(plan.packs))})
    with _progress(progress):
        fingerprint = Hasher.hash((mapped._fingerprint, plan.packs, config.cutoff_len, pad_id, neat, proc.media))
        packed = map_rows(index, packer, remove_columns=["_pack"], features=packed_features(neat, proc.media),
                          new_fingerprint=fingerprint,
                          desc="pack (best-fit decreasing)", **_map_kwargs(index, config, progress))
    result.dataset = packed
    result.stats.update({"packs": plan.packs, "pack_length": config.cutoff_len, "pack_fill": plan.fill(config.cutoff_len),
                         "rows_packed": int(len(plan.order))})


def _check_columns(columns: list[str] | None, proc: Preprocessor) -> None:
    needed = {"sft": ("messages",), "preference": ("messages", "chosen", "rejected"), "kto": ("messages", "label"),
              "text": ("text",)}.get(proc.input_kind, ())
    if columns is None:
        return
    missing = [c for c in needed if c not in columns]
    if missing:
        raise UsageError(
            f"the {proc.name} preprocessor reads {proc.input_kind} rows with column(s) {', '.join(needed)}; "
            f"the dataset has {', '.join(columns)} (load it with templates_hub.formats.load_canonical)"
        )


def _issue(reason: str, row: int, source: str | None, proc: Preprocessor) -> RowIssue:
    kind = "untrained" if "trained" in reason else ("render_error" if reason.startswith("cannot render") else "dropped")
    return RowIssue(row=int(row), field="messages" if proc.input_kind != "text" else "text", reason=reason,
                    source=source, kind=kind)


class _StreamAccountant:
    """Batched filter for streaming: counts, records rejects, keeps rows that were not dropped.

    The statistics describe one pass over the data: each new pass (a second epoch, a second
    ``list(result.dataset)``) starts them, the rejects and the packing counters again from zero.
    A pass is recognised by the stream index restarting at 0.
    """

    def __init__(self, result: PreprocessResult, source: str | None, proc: Preprocessor):
        self.result = result
        self.source = source
        self.proc = proc
        stats = result.stats
        stats.update({"rows_in": 0, "rows_out": 0, "dropped": {}, "tokens": 0})
        if proc.reports_trained:
            stats.update({"trained_tokens": 0, "trained_share": 0.0})
        self._initial: dict[str, Any] | None = None  # the stats before the first row (set on the first call)

    def _new_pass(self) -> None:
        import copy

        stats = self.result.stats
        if self._initial is None:
            self._initial = copy.deepcopy(stats)
            return
        stats.clear()
        stats.update(copy.deepcopy(self._initial))
        self.result.rejects.clear()

    def __call__(self, rows: list[Any], drops: list[Any], tokens: list[int], trained: list[int],
                 indices: list[int]) -> list[bool]:
        if indices and indices[0] == 0:
            self._new_pass()
        stats = self.result.stats
        keep = []
        stats["rows_in"] += len(rows)
        for row, drop, index in zip(rows, drops, indices, strict=False):
            if drop is None:
                keep.append(True)
                continue
            keep.append(False)
            issue = _issue(drop, row if row is not None else index + 1, self.source, self.proc)
            stats["dropped"][issue.kind] = stats["dropped"].get(issue.kind, 0) + 1
            self.result.rejects.append(issue)
        stats["rows_out"] += sum(keep)
        stats["tokens"] += sum(tokens)
        if "trained_tokens" in stats:
            stats["trained_tokens"] += sum(trained)
            stats["trained_share"] = stats["trained_tokens"] / stats["tokens"] if stats["tokens"] else 0.0
        return keep


def _run_streaming(dataset: Any, proc: Preprocessor, config: PreprocessConfig, result: PreprocessResult,
                   source: str | None, packing: bool) -> None:
    columns = dataset.column_names
    _check_columns(columns, proc)
    remove = columns if columns is not None else [c for c in _canonical_columns(proc.input_kind)]
    mapped = dataset.map(proc, batched=True, batch_size=config.batch_size, remove_columns=remove,
                         features=proc.accounting_features())
    accountant = _StreamAccountant(result, source, proc)
    kept = mapped.filter(accountant, batched=True, batch_size=config.batch_size, with_indices=True,
                         input_columns=["_row", "_drop", "_tokens", "_trained"])
    train_cols = [c for c in proc.features()]
    kept = kept.select_columns(train_cols)
    if proc.stage == "pt":
        from .pretrain import finish_pretrain_streaming

        finish_pretrain_streaming(kept, proc, config, result, packing)
        return
    if packing:
        from .packing import WindowPacker, packed_features

        pad_id = proc.tokenizer.pad_token_id
        if pad_id is None:
            raise TemplatesHubError("packing pads every pack: the tokenizer needs a pad token (run fix_tokenizer first)")
        result.stats.update({"packs": 0, "pack_length": config.cutoff_len, "pack_fill": 0.0})
        packer = WindowPacker(capacity=config.cutoff_len - 1, length=config.cutoff_len, pad_id=pad_id,
                              neat=config.neat_packing, media=proc.media, stats=result.stats)
        kept = kept.map(packer, batched=True, batch_size=config.packing_window, remove_columns=train_cols,
                        features=packed_features(config.neat_packing, proc.media))
    result.dataset = kept


def _canonical_columns(kind: str) -> list[str]:
    from ..schemas import features

    return list(features(kind))
