"""Read the LLaMA-Factory 0.9.5 expected-output fixtures in tests/fixtures/llamafactory/.

Why: templates-hub must produce LLaMA-Factory's token ids exactly. The fixtures freeze what LLaMA-Factory
itself produced (scripts/generate_llamafactory_fixtures.py); this module lets an equivalence test iterate
the cases, get the inputs (the demo rows from ../shared, re-read because the fixtures store no demo text;
or the project's own synthetic rows) and compare its own output with LLaMA-Factory's rows.

Pure Python (json, lzma); pytest is imported only to skip when ../shared or a tokenizer is absent.

Typical use::

    from lf_fixtures import case_params

    @pytest.mark.parametrize("case", case_params(stage="sft", template="qwen", errors=False))
    def test_same_ids_as_llamafactory(case):
        records = case.input_records()             # raw source record per output row (skips w/o shared)
        tokenizer = load_tokenizer(case.tokenizer_dir())
        ...
        for mine, lf in zip(my_rows, case.rows()):
            assert mine["input_ids"] == lf["input_ids"] and mine["labels"] == lf["labels"]

Row indices are 0-based positions in the dataset file as ``datasets.load_dataset`` reads it: list index
for .json, line index for .jsonl, and for .txt the index among ``str.splitlines()`` lines (blank lines are
rows too). Every case used the first ``max_samples`` (16) rows of each dataset.
"""

from __future__ import annotations

import functools
import json
import lzma
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "llamafactory"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("TEMPLATES_HUB_SHARED", REPO_ROOT.parent / "shared"))
IGNORE_INDEX = -100
FORMAT_VERSION = 1

Source = tuple[str, int]  # (dataset name as registered in dataset_info.json, 0-based row in its file)


def _skip(reason: str) -> None:
    import pytest

    pytest.skip(reason)


@functools.lru_cache(maxsize=1)
def load_manifest() -> dict[str, Any]:
    """manifest.json: versions, the symbolic dataset dirs and one entry per case."""
    manifest = json.loads((FIXTURES_DIR / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{FIXTURES_DIR / 'manifest.json'}: format {manifest.get('format')!r}, "
                         f"this loader reads {FORMAT_VERSION}")
    return manifest


@functools.lru_cache(maxsize=64)
def load_group(relpath: str) -> dict[str, dict[str, Any]]:
    """Decompress one cases/<group>.json.xz -> {case id: full record}."""
    payload = json.loads(lzma.decompress((FIXTURES_DIR / relpath).read_bytes()))
    if payload.get("format") != FORMAT_VERSION:
        raise ValueError(f"{FIXTURES_DIR / relpath}: format {payload.get('format')!r}")
    return {record["id"]: record for record in payload["cases"]}


def resolve_dataset_dir(key: str, *, skip: bool = True) -> Path:
    """'lf_demo' -> ../shared/data/llamafactory_demo, 'synthetic' -> tests/fixtures/llamafactory/synthetic."""
    where, rel = load_manifest()["dataset_dirs"][key].split(":", 1)
    path = (SHARED_DIR if where == "shared" else FIXTURES_DIR) / rel
    if not path.is_dir():
        if skip:
            _skip(f"{path} is absent")
        raise FileNotFoundError(path)
    return path


@functools.lru_cache(maxsize=32)
def _dataset_info(dataset_dir: str) -> dict[str, Any]:
    return json.loads((Path(dataset_dir) / "dataset_info.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=64)
def _read_records(path: str) -> tuple[dict[str, Any], ...]:
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        data = json.loads(text)
        return tuple(data if isinstance(data, list) else [data])
    if file.suffix == ".jsonl":
        return tuple(json.loads(line) for line in text.splitlines() if line.strip())
    if file.suffix == ".txt":
        return tuple({"text": line} for line in text.splitlines())
    raise ValueError(f"{file}: unsupported fixture source type {file.suffix!r}")


def read_raw_records(dataset_dir: Path, name: str) -> list[dict[str, Any]]:
    """All raw records of dataset NAME (as registered in DATASET_DIR/dataset_info.json), file order."""
    entry = _dataset_info(str(dataset_dir))[name]
    return list(_read_records(str(Path(dataset_dir) / entry["file_name"])))


@dataclass(frozen=True)
class LFCase:
    """One LLaMA-Factory run: its manifest entry; the full record (rows, facts) loads on first use."""

    id: str
    file: str
    stage: str  # "sft" | "rm" (pairwise) | "kto" | "pt"
    template: str | None  # None: LF parsed the tokenizer's own chat_template
    tokenizer: str  # directory name under ../shared/tokenizers
    datasets: tuple[str, ...]
    dataset_dir: str  # "lf_demo" | "synthetic"
    variant: str
    options: dict[str, Any] = field(hash=False, compare=False)
    error: str | None = None  # LF raised this instead of producing rows (e.g. train_on_prompt + glm4)

    def __repr__(self) -> str:
        return f"LFCase({self.id})"

    # -- the record ------------------------------------------------------------------------------------
    @property
    def record(self) -> dict[str, Any]:
        return load_group(self.file)[self.id]

    @property
    def spec(self) -> dict[str, Any]:
        """Spec given to scripts/llamafactory_reference.py (tokenizer/dataset_dir symbolic)."""
        return self.record["spec"]

    @property
    def lf_args(self) -> dict[str, Any]:
        """The YAML-style arguments LLaMA-Factory's get_train_args received (paths symbolic)."""
        return self.record["lf_args"]

    @property
    def resolved(self) -> dict[str, Any]:
        """What LF resolved: cutoff_len (minus 1 when packing was explicit), packing, data stage, seed."""
        return self.record["resolved"]

    @property
    def cutoff_len(self) -> int:
        return int(self.resolved["cutoff_len"])

    @property
    def tokenizer_facts(self) -> dict[str, Any]:
        """{"after_fix": eos/pad/bos tokens+ids, len, ...; "added_by_fix": [{content,id,special}],
        "changed_by_fix": {key: {before, after}}, "len_before_fix": int}."""
        return self.record["tokenizer"]

    @property
    def template_facts(self) -> dict[str, Any]:
        """The template LF used: class, efficient_eos, replace_eos, stop_words, default_system, slots."""
        return self.record["template"]

    @property
    def split_names(self) -> list[str]:
        return list(self.record.get("splits", {}))

    def rows(self, split: str = "train") -> list[dict[str, Any]]:
        """LF's output rows, all columns (input_ids, labels, attention_mask, chosen_*, kl_*, position_ids...)."""
        return self.record["splits"][split]["rows"]

    def features(self, split: str = "train") -> dict[str, str]:
        """str() of LF's datasets.Features per column (int32/int8/int64 dtypes as LF stored them)."""
        return self.record["splits"][split]["features"]

    def provenance(self, split: str = "train") -> dict[str, Any]:
        """{"kind": "rows", "source": [[name, row]...], "dropped_invalid": [...]} |
        {"kind": "packed", "packs": [[[name, row]...] per packed row], "dropped_invalid", "dropped_too_long"} |
        {"kind": "blocks", "rows_in": [...]} (pretraining packing) | {"kind": "unknown", "reason"}."""
        return self.record["splits"][split]["provenance"]

    def sources(self, split: str = "train") -> list[Source]:
        """(dataset, row) of each output row; only for one-row-per-example output (not packed)."""
        prov = self.provenance(split)
        if prov["kind"] != "rows":
            raise ValueError(f"{self.id}: provenance of {split!r} is {prov['kind']!r}, not 'rows'")
        return [(name, int(row)) for name, row in prov["source"]]

    def packs(self, split: str = "train") -> list[list[Source]]:
        """For packed SFT output: the (dataset, row) of each sub-sequence of each packed row, in order."""
        prov = self.provenance(split)
        if prov["kind"] != "packed":
            raise ValueError(f"{self.id}: provenance of {split!r} is {prov['kind']!r}, not 'packed'")
        return [[(name, int(row)) for name, row in pack] for pack in prov["packs"]]

    def input_sources(self, split: str = "train") -> list[Source]:
        """The rows LF read for this split, in LF's order (before dropping invalid ones)."""
        prov = self.provenance(split)
        if prov["kind"] == "blocks":
            return [(n, int(r)) for n, r in prov["rows_in"]]
        if prov["kind"] == "rows":
            kept = [(n, int(r)) for n, r in prov["source"]]
        elif prov["kind"] == "packed":
            kept = [(n, int(r)) for pack in prov["packs"] for n, r in pack]
            kept += [(n, int(r)) for n, r in prov["dropped_too_long"]]
        else:
            raise ValueError(f"{self.id}: provenance unknown: {prov.get('reason')}")
        kept += [(n, int(r)) for n, r in prov["dropped_invalid"]]
        return sorted(kept, key=lambda s: (self.datasets.index(s[0]), s[1]))

    # -- inputs ------------------------------------------------------------------------------------------
    def tokenizer_dir(self, *, skip: bool = True) -> Path:
        """../shared/tokenizers/<name>; skips the test when absent."""
        path = SHARED_DIR / "tokenizers" / self.tokenizer
        if not path.is_dir():
            if skip:
                _skip(f"{path} is absent")
            raise FileNotFoundError(path)
        return path

    def dataset_dir_path(self, *, skip: bool = True) -> Path:
        """The folder holding dataset_info.json and the data files; skips when ../shared is absent."""
        return resolve_dataset_dir(self.dataset_dir, skip=skip)

    def dataset_attr(self, name: str | None = None) -> dict[str, Any]:
        """The raw dataset_info.json entry LF used (formatting, columns, tags, ranking)."""
        return dict(_dataset_info(str(self.dataset_dir_path()))[name or self.datasets[0]])

    def source_records(self, name: str | None = None) -> list[dict[str, Any]]:
        """All raw records of one of this case's datasets (LF read only the first max_samples)."""
        return read_raw_records(self.dataset_dir_path(), name or self.datasets[0])

    def record_for(self, source: Source) -> dict[str, Any]:
        name, row = source
        return self.source_records(name)[row]

    def input_records(self, split: str = "train") -> list[dict[str, Any]]:
        """The raw record behind each output row (one-row-per-example output only)."""
        return [self.record_for(src) for src in self.sources(split)]


def _entry_to_case(entry: dict[str, Any]) -> LFCase:
    return LFCase(id=entry["id"], file=entry["file"], stage=entry["stage"], template=entry["template"],
                  tokenizer=entry["tokenizer"], datasets=tuple(entry["datasets"]),
                  dataset_dir=entry["dataset_dir"], variant=entry["variant"], options=dict(entry["options"]),
                  error=entry.get("error"))


_UNSET: Any = object()


def iter_cases(*, stage: str | None = None, template: Any = _UNSET, tokenizer: str | None = None,
               dataset: str | None = None, variant: str | None = None, errors: bool | None = None,
               id_pattern: str | None = None) -> Iterator[LFCase]:
    """Cases in manifest order, filtered. template=None selects the "tokenizer chat_template" cases;
    errors=False skips cases where LF raised, errors=True keeps only those."""
    pattern = re.compile(id_pattern) if id_pattern else None
    for entry in load_manifest()["cases"]:
        case = _entry_to_case(entry)
        if stage is not None and case.stage != stage:
            continue
        if template is not _UNSET and case.template != template:
            continue
        if tokenizer is not None and case.tokenizer != tokenizer:
            continue
        if dataset is not None and dataset not in case.datasets:
            continue
        if variant is not None and case.variant != variant:
            continue
        if errors is not None and bool(case.error) != errors:
            continue
        if pattern is not None and not pattern.search(case.id):
            continue
        yield case


def get_case(case_id: str) -> LFCase:
    for entry in load_manifest()["cases"]:
        if entry["id"] == case_id:
            return _entry_to_case(entry)
    raise KeyError(f"no LLaMA-Factory fixture case {case_id!r} in {FIXTURES_DIR / 'manifest.json'}")


def case_params(**filters: Any) -> list[Any]:
    """pytest.param(case, id=case.id) for @pytest.mark.parametrize("case", case_params(stage="sft"))."""
    import pytest

    return [pytest.param(case, id=case.id) for case in iter_cases(**filters)]


# ------------------------------------------------------------------------------------------------------------
# Live runs (optional tests): LLaMA-Factory itself, through scripts/llamafactory_reference.py
# ------------------------------------------------------------------------------------------------------------
REFERENCE_SCRIPT = REPO_ROOT / "scripts" / "llamafactory_reference.py"
DEFAULT_LF_PYTHON = Path("/work/lf-venv/bin/python")


def lf_python() -> Path | None:
    """The LLaMA-Factory venv's python: $TEMPLATES_HUB_LF_PYTHON, else /work/lf-venv if built; or None."""
    env = os.environ.get("TEMPLATES_HUB_LF_PYTHON")
    path = Path(env) if env else DEFAULT_LF_PYTHON
    return path if path.exists() else None


def run_reference(spec: dict[str, Any] | list[dict[str, Any]], *, tokenized_path: str | os.PathLike | None = None,
                  max_rows: int | None = None, timeout: float = 600, skip: bool = True) -> dict[str, Any]:
    """Run LLaMA-Factory's data pipeline on SPEC (see the reference script's docstring; paths real, e.g.
    ``{"tokenizer": dir, "stage": "sft", "template": "qwen", "dataset": ["mine"], "dataset_dir": export_dir}``)
    and return its JSON: ``{"versions", "result"}`` for one spec, ``{"versions", "results"}`` for a list.
    Skips the test when the LLaMA-Factory venv is absent (scripts/make_llamafactory_venv.sh builds it);
    raises RuntimeError with LLaMA-Factory's message when it fails."""
    import subprocess
    import tempfile

    python = lf_python()
    if python is None:
        if skip:
            _skip("LLaMA-Factory venv absent: run scripts/make_llamafactory_venv.sh "
                  "and export TEMPLATES_HUB_LF_PYTHON")
        raise FileNotFoundError("LLaMA-Factory venv absent")
    with tempfile.TemporaryDirectory(prefix="lf_reference_") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        cmd = [str(python), str(REFERENCE_SCRIPT), str(spec_path), "-o", str(out_path)]
        if tokenized_path is not None:
            cmd += ["--tokenized-path", str(tokenized_path)]
        if max_rows is not None:
            cmd += ["--max-rows", str(max_rows)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out_path.exists():
            errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
            raise RuntimeError("; ".join(errors) or proc.stderr[-2000:])
        return json.loads(out_path.read_text(encoding="utf-8"))
