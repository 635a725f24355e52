#!/usr/bin/env python
"""Run LLaMA-Factory 0.9.5's own data pipeline on a JSON spec and dump what it produces.

Why: templates-hub promises token ids identical to LLaMA-Factory (segment tokenization mode). The only
trustworthy ground truth is LLaMA-Factory itself, so this script drives its real code path --
``get_train_args -> load_tokenizer -> get_template_and_fix_tokenizer -> get_dataset`` -- exactly as
``llamafactory-cli train`` does before it loads a model, and writes every tokenized row (all columns) as
JSON, together with the tokenizer as LLaMA-Factory left it (``fix_special_tokens`` adds/replaces eos, pad
and stop-word tokens) and the resolved template.

It must run under the LLaMA-Factory reference venv (scripts/make_llamafactory_venv.sh), never the
project's own one: ``$TEMPLATES_HUB_LF_PYTHON scripts/llamafactory_reference.py SPEC.json -o OUT.json``.

Spec (a JSON object, or a list of them to amortise the ~10 s import over many cases):
    tokenizer      tokenizer/model dir (LLaMA-Factory's ``model_name_or_path``)           required
    stage          "sft" | "rm" | "dpo" | "kto" | "pt"  (dpo and rm load data with stage "rm")
    dataset        list of names or "a,b"; dataset_dir holds dataset_info.json             required
    name           free label copied to the output (not passed to LLaMA-Factory)
    provenance     bool, default true: map each output row back to (dataset, source row)
    any other key  passed verbatim to LLaMA-Factory's argument parser, e.g. template, dataset_dir,
                   cutoff_len, train_on_prompt, mask_history, packing, neat_packing, enable_thinking,
                   preserve_thinking, val_size, max_samples, seed, tool_format, default_system,
                   eval_dataset, mix_strategy, preprocessing_batch_size ... (unknown keys: LF's ValueError)

``--tokenized-path DIR`` sets LLaMA-Factory's ``tokenized_path``: when DIR is absent or empty LF saves its
DatasetDict there (save_to_disk); when DIR already holds a dataset LF LOADS it and ignores every other data
argument -- its own behaviour, reported as ``tokenized_path_mode`` -- which lets a test check that LF
accepts a tokenized dataset written by someone else.

Provenance: output rows carry no source index in LLaMA-Factory, so the script records, without changing
any data, which source rows each alignment step selected (max_samples / num_samples), replays the
val_size split on an index column with the same seed, and asks LF's own processor, one row at a time,
which rows it drops. Packed rows are split at ``position_ids`` resets and each sub-sequence is matched to
the unpacked encoding of its source row.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import copy
import gzip
import importlib.metadata as md
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Before any HF import: offline, and a private datasets cache so reruns never serve stale Arrow files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
if "HF_DATASETS_CACHE" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="lf_reference_cache_")
    os.environ["HF_DATASETS_CACHE"] = _OWN_CACHE
    atexit.register(shutil.rmtree, _OWN_CACHE, ignore_errors=True)

#: spec keys consumed here; everything else goes to LLaMA-Factory's parser.
OWN_KEYS = {"tokenizer", "stage", "dataset", "eval_dataset", "name", "provenance"}
#: LF training stage -> the stage get_dataset runs (DPO/ORPO/SimPO are stage "dpo" with a pref_loss; LF loads
#: their data, like the reward model's, with stage "rm"). PPO is left out: it needs a reward model.
DATA_STAGE = {"sft": "sft", "rm": "rm", "dpo": "rm", "kto": "kto", "pt": "pt"}


class SpecError(ValueError):
    """A spec the script cannot run (message names the spec and the key)."""


# --------------------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """Turn slots, sets, tuples and numpy scalars into JSON values (sets keep their meaning: {"set": [...]})."""
    if isinstance(value, (set, frozenset)):
        return {"set": sorted(jsonable(v) for v in value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def dump_json(obj: Any, path: str) -> None:
    """Write compact JSON to PATH ('-' = the real stdout, '.gz' suffix = gzip)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if path == "-":
        with os.fdopen(os.dup(_REAL_STDOUT_FD), "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if path.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as fh:
            fh.write(text)
    else:
        Path(path).write_text(text, encoding="utf-8")


_REAL_STDOUT_FD = 1


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """LLaMA-Factory logs and prints examples on stdout; keep stdout clean for the JSON result."""
    global _REAL_STDOUT_FD
    sys.stdout.flush()
    saved = os.dup(1)
    _REAL_STDOUT_FD = saved
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        _REAL_STDOUT_FD = 1


# --------------------------------------------------------------------------------------------------------
# Observers around LLaMA-Factory's loader (they record, they never change data)
# --------------------------------------------------------------------------------------------------------
class Recorder:
    """Records what get_dataset did, for provenance. Installed by wrapping module globals of the loader."""

    def __init__(self) -> None:
        self.aligned: list[tuple[str, list[int]]] = []  # per loaded dataset: (file, source row per aligned row)
        self.preprocess_calls: list[dict[str, Any]] = []  # per split: aligned input, tokenized output


_RECORDER: Recorder | None = None


def _source_indices(dataset: Any) -> list[int]:
    """Which rows of the raw file a (possibly select()-ed) datasets.Dataset holds."""
    indices = getattr(dataset, "_indices", None)
    if indices is None:
        return list(range(len(dataset)))
    return [int(i) for i in indices.column(0).to_pylist()]


def install_observers() -> None:
    """Wrap align_dataset and _get_preprocessed_dataset inside llamafactory.data.loader (module globals,
    looked up at call time by get_dataset); the wrappers call the originals unchanged and only record."""
    from llamafactory.data import loader

    if getattr(loader, "_th_observed", False):
        return
    orig_align = loader.align_dataset
    orig_pre = loader._get_preprocessed_dataset

    def align_dataset(dataset, dataset_attr, data_args, training_args):  # type: ignore[no-untyped-def]
        if _RECORDER is not None:
            try:
                rows = _source_indices(dataset)
            except Exception:  # iterable (streaming) datasets have no indices
                rows = []
            _RECORDER.aligned.append((dataset_attr.dataset_name, rows))
        return orig_align(dataset, dataset_attr, data_args, training_args)

    def _get_preprocessed_dataset(dataset, data_args, training_args, stage, template, tokenizer,  # type: ignore[no-untyped-def]
                                  processor=None, is_eval=False):
        result = orig_pre(dataset, data_args, training_args, stage, template, tokenizer, processor, is_eval)
        if _RECORDER is not None:
            _RECORDER.preprocess_calls.append(
                {"input": dataset, "output": result, "is_eval": is_eval, "stage": stage,
                 "do_generate": bool(training_args.predict_with_generate and is_eval)}
            )
        return result

    loader.align_dataset = align_dataset
    loader._get_preprocessed_dataset = _get_preprocessed_dataset
    loader._th_observed = True


# --------------------------------------------------------------------------------------------------------
# Facts about the tokenizer and template
# --------------------------------------------------------------------------------------------------------
def tokenizer_snapshot(tok: Any) -> dict[str, Any]:
    """The special-token state that matters for ids; taken before and after fix_special_tokens."""
    added = {content: int(idx) for content, idx in tok.get_added_vocab().items()}
    extra = getattr(tok, "extra_special_tokens", None)
    if extra is None:
        extra = getattr(tok, "additional_special_tokens", None)
    return {
        "class": type(tok).__name__,
        "len": len(tok),
        "vocab_size": getattr(tok, "vocab_size", None),
        "bos_token": tok.bos_token, "bos_token_id": tok.bos_token_id,
        "eos_token": tok.eos_token, "eos_token_id": tok.eos_token_id,
        "pad_token": tok.pad_token, "pad_token_id": tok.pad_token_id,
        "unk_token": tok.unk_token, "unk_token_id": tok.unk_token_id,
        "add_bos_token": getattr(tok, "add_bos_token", None),
        "add_eos_token": getattr(tok, "add_eos_token", None),
        "extra_special_tokens": jsonable(list(extra) if isinstance(extra, (list, tuple)) else extra),
        "padding_side": getattr(tok, "padding_side", None),
        "added_vocab": added,
    }


def tokenizer_facts(before: dict[str, Any], tok: Any) -> dict[str, Any]:
    """Snapshot after fixing + what fix_special_tokens changed (new tokens with ids, eos/pad moves)."""
    after = tokenizer_snapshot(tok)
    decoder = getattr(tok, "added_tokens_decoder", {}) or {}
    new_tokens = []
    for content, idx in sorted(after["added_vocab"].items(), key=lambda kv: kv[1]):
        if before["added_vocab"].get(content) != idx:
            token = decoder.get(idx)
            new_tokens.append({"content": content, "id": idx,
                               "special": bool(getattr(token, "special", False)) if token is not None else None})
    changed = {key: {"before": before[key], "after": after[key]}
               for key in ("eos_token", "eos_token_id", "pad_token", "pad_token_id", "bos_token", "bos_token_id",
                           "len", "extra_special_tokens")
               if before[key] != after[key]}
    after = dict(after)
    after.pop("added_vocab")
    return {"after_fix": after, "added_by_fix": new_tokens, "changed_by_fix": changed,
            "len_before_fix": before["len"]}


def template_facts(template: Any, name: str | None) -> dict[str, Any]:
    """The resolved template (after tool_format/default_system/thinking overrides), slots included."""
    def fmt(formatter: Any) -> Any:
        if formatter is None:
            return None
        out: dict[str, Any] = {"class": type(formatter).__name__, "slots": jsonable(list(formatter.slots))}
        if getattr(formatter, "tool_format", None) is not None:
            out["tool_format"] = formatter.tool_format
        return out

    return {
        "name": name,
        "class": type(template).__name__,
        "efficient_eos": template.efficient_eos,
        "replace_eos": template.replace_eos,
        "replace_jinja_template": template.replace_jinja_template,
        "stop_words": list(template.stop_words),
        "default_system": template.default_system,
        "thought_words": list(template.thought_words),
        "tool_call_words": list(getattr(template, "tool_call_words", ()) or ()),
        "enable_thinking": template.enable_thinking,
        "preserve_thinking": template.preserve_thinking,
        "format": {key: fmt(getattr(template, "format_" + key, None))
                   for key in ("prefix", "system", "user", "assistant", "function", "observation", "tools")},
    }


# --------------------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------------------
def _merged_sources(aligned: list[tuple[str, list[int]]], names: list[str], mix_strategy: str) -> list[list[Any]] | None:
    """Source [dataset name, row] of each merged row, from the aligned datasets in load order (LF loads
    the names in the order given); None when interleaving makes the order untraceable."""
    if len(aligned) != len(names):
        return None
    if mix_strategy != "concat" and len(names) > 1:
        return None
    sources: list[list[Any]] = []
    for name, (_file, rows) in zip(names, aligned, strict=True):
        sources.extend([name, r] for r in rows)
    return sources


def _split_sources(sources: list[list[Any]] | None, data_args: Any, seed: int) -> dict[str, Any]:
    """Replay LF's split_dataset on an index column: train_test_split depends only on n, size and seed."""
    from datasets import Dataset
    from llamafactory.data.data_utils import split_dataset

    if sources is None:
        return {"train": None}
    if data_args.val_size <= 1e-6 or data_args.streaming:
        return {"train": sources}
    index = Dataset.from_dict({"__i": list(range(len(sources)))})
    train, evals = split_dataset(index, None, data_args, seed=seed)
    out = {"train": [sources[i] for i in train["train"]["__i"]]}
    out["validation"] = [sources[i] for i in evals["validation"]["__i"]]
    return out


def _one_row_outputs(proc: Any, dataset: Any) -> list[dict[str, list[Any]]]:
    """Run LF's processor on each aligned row alone (LF drops invalid rows silently; this says which)."""
    outputs = []
    columns = dataset.column_names
    for row in dataset:
        outputs.append(proc.preprocess_dataset({c: [row[c]] for c in columns}))
    return outputs


def _n_rows(batch: dict[str, list[Any]]) -> int:
    return len(next(iter(batch.values()))) if batch else 0


def _packed_provenance(call: dict[str, Any], sources: list[list[Any]], ctx: dict[str, Any]) -> dict[str, Any]:
    """Which source rows each packed row holds, in order; rows dropped (invalid or longer than cutoff)."""
    from llamafactory.data.processor import SupervisedDatasetProcessor

    data_args = ctx["data_args"]
    proc = SupervisedDatasetProcessor(template=ctx["template"], tokenizer=ctx["tokenizer"],
                                      processor=ctx["processor"], data_args=data_args)
    encodings: dict[tuple[int, ...], list[list[Any]]] = defaultdict(list)
    dropped_invalid, dropped_long = [], []
    for src, out in zip(sources, _one_row_outputs(proc, call["input"]), strict=True):
        if not _n_rows(out):
            dropped_invalid.append(src)
        elif len(out["input_ids"][0]) > data_args.cutoff_len:
            dropped_long.append(src)
        else:
            encodings[tuple(out["input_ids"][0]) + (-1,) + tuple(out["labels"][0])].append(src)
    packs = []
    for row in call["output"]:
        pos, ids, labels = row["position_ids"], row["input_ids"], row["labels"]
        starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
        members = []
        for start, end in zip(starts, starts[1:], strict=False):
            key = tuple(ids[start:end]) + (-1,) + tuple(labels[start:end])
            if encodings.get(key):
                members.append(encodings[key].pop(0))
            elif all(labels[i] == -100 for i in range(start, end)) and end - start == 1:
                continue  # right padding: one position-0 token per pad
            else:
                raise RuntimeError(f"packed row: segment at {start}:{end} matches no source encoding")
        packs.append(members)
    return {"packs": packs, "dropped_invalid": dropped_invalid, "dropped_too_long": dropped_long}


def provenance_for(call: dict[str, Any], sources: list[list[Any]] | None, ctx: dict[str, Any]) -> dict[str, Any]:
    """Per output row: the source it came from, or for packed rows the sources it holds."""
    from llamafactory.data import loader

    if sources is None:
        return {"kind": "unknown", "reason": "interleaved datasets"}
    if len(sources) != len(call["input"]):
        return {"kind": "unknown", "reason": f"{len(sources)} sources for {len(call['input'])} aligned rows"}
    data_args = ctx["data_args"]
    stage = call["stage"]
    if stage == "pt" and data_args.packing:
        return {"kind": "blocks", "rows_in": sources,
                "note": "texts + eos concatenated per preprocessing batch, cut into cutoff_len blocks, "
                        "remainder of each batch dropped"}
    if stage == "sft" and data_args.packing and not call["do_generate"]:
        return {"kind": "packed", **_packed_provenance(call, sources, ctx)}
    proc = loader._get_dataset_processor(data_args, stage, ctx["template"], ctx["tokenizer"], ctx["processor"],
                                         do_generate=call["do_generate"])
    kept, dropped = [], []
    for src, out in zip(sources, _one_row_outputs(proc, call["input"]), strict=True):
        (kept if _n_rows(out) else dropped).append(src)
    if len(kept) != len(call["output"]):
        return {"kind": "unknown", "reason": f"{len(kept)} valid rows but {len(call['output'])} output rows"}
    return {"kind": "rows", "source": kept, "dropped_invalid": dropped}


# --------------------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------------------
_PRISTINE_TEMPLATES: dict[str, Any] | None = None


_PRISTINE_TYPED_SEQUENCE_INIT: Any = None


def _reset_process_state() -> None:
    """Make each case behave like a fresh LLaMA-Factory process. LF mutates two process globals:
    - get_template_and_fix_tokenizer mutates the global TEMPLATES (tool_format, default_system, thinking
      flags): restore a pristine copy;
    - neat_packing monkeypatches datasets' OptimizedTypedSequence.__init__ (to keep int64 attention
      masks), which would turn every later dataset's int32/int8 columns into int64: restore it."""
    global _PRISTINE_TEMPLATES, _PRISTINE_TYPED_SEQUENCE_INIT
    from datasets.arrow_writer import OptimizedTypedSequence
    from llamafactory.data import template as lf_template

    if _PRISTINE_TEMPLATES is None:
        _PRISTINE_TEMPLATES = copy.deepcopy(lf_template.TEMPLATES)
        _PRISTINE_TYPED_SEQUENCE_INIT = OptimizedTypedSequence.__init__
    lf_template.TEMPLATES.clear()
    lf_template.TEMPLATES.update(copy.deepcopy(_PRISTINE_TEMPLATES))
    OptimizedTypedSequence.__init__ = _PRISTINE_TYPED_SEQUENCE_INIT


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def build_lf_args(spec: dict[str, Any], output_dir: str, tokenized_path: str | None) -> dict[str, Any]:
    """The YAML-style dict LLaMA-Factory's get_train_args receives for this spec."""
    label = spec.get("name", "<spec>")
    for key in ("tokenizer", "dataset"):
        if not spec.get(key):
            raise SpecError(f"spec {label!r}: key {key!r} is required")
    stage = spec.get("stage", "sft")
    if stage not in DATA_STAGE:
        raise SpecError(f"spec {label!r}: stage {stage!r} is not one of {sorted(DATA_STAGE)}")
    args: dict[str, Any] = {
        "model_name_or_path": str(spec["tokenizer"]),
        "stage": stage,
        "do_train": True,
        "finetuning_type": "lora",
        "dataset": ",".join(_as_list(spec["dataset"])),
        "output_dir": output_dir,
        "report_to": "none",
        "overwrite_cache": True,
    }
    if spec.get("eval_dataset"):
        args["eval_dataset"] = ",".join(_as_list(spec["eval_dataset"]))
    for key, value in spec.items():
        if key not in OWN_KEYS:
            args[key] = value
    if tokenized_path is not None:
        args["tokenized_path"] = tokenized_path
    return args


def _rows(dataset: Any, limit: int | None) -> list[dict[str, Any]]:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return [jsonable(dataset[i]) for i in range(n)]


def run_case(spec: dict[str, Any], *, tokenized_path: str | None = None, max_rows: int | None = None,
             include_rows: bool = True) -> dict[str, Any]:
    """Run LF's data pipeline for one spec; return tokenizer/template facts and the tokenized splits."""
    global _RECORDER
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.extras.misc import has_tokenized_data
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    install_observers()
    _reset_process_state()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lf_reference_out_") as output_dir:
        lf_args = build_lf_args(spec, output_dir, tokenized_path)
        mode = None
        if tokenized_path is not None:
            mode = "loaded" if has_tokenized_data(tokenized_path) else "saved"
        model_args, data_args, training_args, _ft, _gen = get_train_args(copy.deepcopy(lf_args))
        tokenizer_module = load_tokenizer(model_args)
        tokenizer = tokenizer_module["tokenizer"]
        before = tokenizer_snapshot(tokenizer)
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        tok_facts = tokenizer_facts(before, tokenizer)

        _RECORDER = Recorder()
        try:
            stage = DATA_STAGE[lf_args["stage"]]
            module = get_dataset(template, model_args, data_args, training_args, stage=stage, **tokenizer_module)
            rec = _RECORDER
        finally:
            _RECORDER = None

    splits: dict[str, Any] = {}
    if "train_dataset" in module:
        splits["train"] = module["train_dataset"]
    eval_ds = module.get("eval_dataset")
    if isinstance(eval_ds, dict):
        splits.update({f"validation_{k}": v for k, v in eval_ds.items()})
    elif eval_ds is not None:
        splits["validation"] = eval_ds

    # Provenance: the train merge, the eval merge (eval_dataset) and the val_size split.
    prov: dict[str, Any] = {}
    if spec.get("provenance", True) and mode != "loaded":
        ctx = {"data_args": data_args, "template": template, "tokenizer": tokenizer,
               "processor": tokenizer_module.get("processor")}
        names = _as_list(spec["dataset"])
        eval_names = _as_list(spec.get("eval_dataset"))
        train_sources = _merged_sources(rec.aligned[: len(names)], names, data_args.mix_strategy)
        split_sources = _split_sources(train_sources, data_args, training_args.seed)
        if eval_names:
            eval_aligned = rec.aligned[len(names):]
            if data_args.eval_on_each_dataset:
                for name, (_file, rows) in zip(eval_names, eval_aligned, strict=False):
                    split_sources[f"validation_{name}"] = [[name, r] for r in rows]
            else:
                split_sources["validation"] = _merged_sources(eval_aligned, eval_names, data_args.mix_strategy)
        train_calls = [c for c in rec.preprocess_calls if not c["is_eval"]]
        calls = {"train": train_calls[0]} if train_calls else {}
        eval_calls = [c for c in rec.preprocess_calls if c["is_eval"]]
        eval_keys = [k for k in splits if k != "train"]
        for key, call in zip(eval_keys, eval_calls, strict=False):
            calls[key] = call
        for key in splits:
            if key in calls:
                prov[key] = provenance_for(calls[key], split_sources.get(key), ctx)

    result: dict[str, Any] = {
        "name": spec.get("name"),
        "spec": spec,
        "lf_args": {k: v for k, v in lf_args.items() if k not in ("output_dir",)},
        "resolved": {
            "data_stage": DATA_STAGE[lf_args["stage"]],
            "cutoff_len": data_args.cutoff_len,
            "packing": data_args.packing,
            "neat_packing": data_args.neat_packing,
            "template": data_args.template,
            "seed": training_args.seed,
        },
        "tokenized_path_mode": mode,
        "tokenizer": tok_facts,
        "template": template_facts(template, data_args.template),
        "splits": {},
        "seconds": round(time.perf_counter() - started, 3),
    }
    for key, ds in splits.items():
        entry: dict[str, Any] = {"num_rows": len(ds), "features": {c: str(f) for c, f in ds.features.items()}}
        if include_rows:
            entry["rows"] = _rows(ds, max_rows)
        if key in prov:
            entry["provenance"] = prov[key]
        result["splits"][key] = entry
    return result


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("llamafactory", "transformers", "datasets", "tokenizers", "torch", "sentencepiece", "tiktoken"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None  # type: ignore[assignment]
    out["python"] = sys.version.split()[0]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run LLaMA-Factory's own data pipeline on a JSON spec (or list of specs) and write the "
                    "tokenized rows, LF's fixed tokenizer and resolved template as JSON. Runs under the "
                    "LLaMA-Factory venv ($TEMPLATES_HUB_LF_PYTHON).")
    parser.add_argument("spec", help="spec JSON file ('-' = stdin); an object or a list of objects")
    parser.add_argument("-o", "--output", default="-", help="output JSON file ('-' = stdout; '.gz' = gzip)")
    parser.add_argument("--tokenized-path", help="LF's tokenized_path: save the DatasetDict there (or load it "
                                                 "when it already holds one); single spec only")
    parser.add_argument("--max-rows", type=int, default=None, help="write at most N rows per split")
    parser.add_argument("--no-rows", action="store_true", help="write facts and provenance only, no rows")
    parser.add_argument("--verbose", action="store_true", help="keep LLaMA-Factory's logs and progress bars")
    parser.add_argument("--keep-going", action="store_true",
                        help="with a list of specs: record a failing spec's error and continue")
    args = parser.parse_args(argv)

    raw = sys.stdin.read() if args.spec == "-" else Path(args.spec).read_text(encoding="utf-8")
    try:
        specs = json.loads(raw)
    except json.JSONDecodeError as exc:
        print(f"error: {args.spec}: invalid JSON at line {exc.lineno}: {exc.msg}", file=sys.stderr)
        return 2
    single = isinstance(specs, dict)
    if single:
        specs = [specs]
    if args.tokenized_path and len(specs) != 1:
        print("error: --tokenized-path takes a single spec", file=sys.stderr)
        return 2

    if not args.verbose:
        os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "WARN")
        import datasets
        import transformers

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        transformers.logging.set_verbosity_error()

    results, failed = [], 0
    with stdout_to_stderr():
        for number, spec in enumerate(specs, 1):
            label = spec.get("name", "<spec>") if isinstance(spec, dict) else "<spec>"
            if len(specs) > 1:
                print(f"[{number}/{len(specs)}] {label}", file=sys.stderr, flush=True)
            try:
                if args.verbose:
                    results.append(run_case(spec, tokenized_path=args.tokenized_path, max_rows=args.max_rows,
                                            include_rows=not args.no_rows))
                else:  # LF prints a decoded example per split on stdout (now stderr): swallow it
                    with contextlib.redirect_stdout(io.StringIO()):
                        results.append(run_case(spec, tokenized_path=args.tokenized_path, max_rows=args.max_rows,
                                                include_rows=not args.no_rows))
            except Exception as exc:  # noqa: BLE001 - reported per spec, with LF's own message
                failed += 1
                message = f"{type(exc).__name__}: {exc}"
                print(f"error: spec {label!r}: {message}", file=sys.stderr)
                if args.verbose:
                    traceback.print_exc()
                if not args.keep_going:
                    return 1
                results.append({"name": label, "spec": spec, "error": message})
        payload = {"versions": versions(), "result": results[0]} if single else {"versions": versions(),
                                                                                 "results": results}
        dump_json(payload, args.output)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
