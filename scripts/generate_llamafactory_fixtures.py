#!/usr/bin/env python
"""Generate tests/fixtures/llamafactory/: LLaMA-Factory 0.9.5's own token ids for a matrix of cases.

Why: templates-hub's segment tokenization must reproduce LLaMA-Factory exactly. These fixtures freeze what
LLaMA-Factory produced (ids, labels, masks, packing, the tokenizer after its fix_special_tokens) so that the
project's tests can compare against them without the LLaMA-Factory venv. The fixtures hold ids and row
indices only: the demo texts stay in ../shared (tests re-read them and skip when it is absent); the small
synthetic datasets under tests/fixtures/llamafactory/synthetic/ are the project's own.

Runs under any Python 3.10+ (stdlib only); the LLaMA-Factory work happens in a subprocess running
scripts/llamafactory_reference.py under $TEMPLATES_HUB_LF_PYTHON (see scripts/make_llamafactory_venv.sh).

    scripts/generate_llamafactory_fixtures.py                 # regenerate everything (~10 min on 2 cores)
    scripts/generate_llamafactory_fixtures.py --only 'qwen3'  # cases whose id matches a regex
    scripts/generate_llamafactory_fixtures.py --list          # print the matrix
    scripts/generate_llamafactory_fixtures.py --check         # regenerate into a temp dir and diff

Layout written (see the README there): manifest.json (one entry per case) and cases/<group>.json.xz (the
cases of one stage/template/tokenizer, LZMA-compressed: variants of one template share long id runs, which
LZMA's large window removes).
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "llamafactory"
REFERENCE = REPO / "scripts" / "llamafactory_reference.py"
DEFAULT_SHARED = Path(os.environ.get("TEMPLATES_HUB_SHARED", REPO.parent / "shared"))
DEFAULT_LF_PYTHON = os.environ.get("TEMPLATES_HUB_LF_PYTHON", "/work/lf-venv/bin/python")
FORMAT_VERSION = 1
MAX_SAMPLES = 16

#: symbolic dataset dirs used in fixture specs -> resolved at generation/test time
DATASET_DIRS = {"lf_demo": "shared:data/llamafactory_demo", "synthetic": "fixtures:synthetic"}


@dataclass
class Case:
    """One LLaMA-Factory run: symbolic spec (tokenizer name, dataset dir key) + a group (output file)."""

    id: str
    group: str
    stage: str
    tokenizer: str
    template: str | None
    datasets: list[str]
    dataset_dir: str  # key of DATASET_DIRS
    options: dict[str, Any] = field(default_factory=dict)
    variant: str = "default"

    def spec(self) -> dict[str, Any]:
        """The symbolic spec stored in the fixture (paths are names, resolved by resolve_spec)."""
        spec: dict[str, Any] = {"name": self.id, "tokenizer": self.tokenizer, "stage": self.stage,
                                "dataset": list(self.datasets), "dataset_dir": self.dataset_dir,
                                "max_samples": MAX_SAMPLES}
        if self.template is not None:
            spec["template"] = self.template
        spec.update(self.options)
        return spec


def resolve_spec(spec: dict[str, Any], shared: Path) -> dict[str, Any]:
    """Replace the symbolic tokenizer name and dataset dir with real paths for the reference script."""
    out = dict(spec)
    out["tokenizer"] = str(shared / "tokenizers" / spec["tokenizer"])
    where, rel = DATASET_DIRS[spec["dataset_dir"]].split(":", 1)
    out["dataset_dir"] = str((shared if where == "shared" else FIXTURES) / rel)
    return out


# --------------------------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------------------------
DEMO_SFT = ["alpaca_en_demo", "identity", "glaive_toolcall_en_demo"]
SYN_SFT = ["th_chat_cot", "th_alpaca_history"]
MULTI_TURN = {"glaive_toolcall_en_demo", "th_chat_cot", "th_alpaca_history"}

#: (template, tokenizer); template None = LLaMA-Factory parses the tokenizer's own chat_template
SFT_TEMPLATES: list[tuple[str | None, str]] = [
    ("qwen", "qwen2.5"), ("chatml", "qwen2.5"), ("default", "qwen2.5"), ("alpaca", "qwen2.5"),
    ("vicuna", "qwen2.5"), ("empty", "qwen2.5"), ("qwen3", "qwen2.5"), ("qwen3_nothink", "qwen2.5"),
    ("llama2", "llama-2"), ("llama3", "llama-3"), ("mistral", "mistral-7b-v0.1"),
    ("glm4", "qwen2.5"), ("gemma", "qwen2.5"), ("gemma", "llama-2"), ("default", "llama-2"),
    ("yi", "qwen2.5"), ("phi4", "qwen2.5"), ("deepseek3", "qwen2.5"), (None, "qwen2.5"),
]

#: option variants: name -> (LF args, applies to multi-turn datasets only)
SFT_OPTIONS: dict[str, tuple[dict[str, Any], bool]] = {
    "default": ({}, False),
    "train_on_prompt": ({"train_on_prompt": True}, False),
    "cutoff48": ({"cutoff_len": 48}, False),
    "mask_history": ({"mask_history": True}, True),
    "mask_history_cutoff48": ({"mask_history": True, "cutoff_len": 48}, True),
}

#: extra variants for reasoning templates (qwen3 is a ReasoningTemplate; qwen3_nothink is not)
THINKING_OPTIONS: dict[str, dict[str, Any]] = {
    "nothink": {"enable_thinking": False},
    "nothink_mask_history": {"enable_thinking": False, "mask_history": True},
    "preserve": {"preserve_thinking": True},
    "preserve_mask_history": {"preserve_thinking": True, "mask_history": True},
}


def _tid(template: str | None) -> str:
    return template if template is not None else "auto"


def build_matrix() -> list[Case]:
    """Every case, in a stable order; ids are unique and stable across runs."""
    cases: list[Case] = []

    def add(stage: str, template: str | None, tok: str, datasets: list[str], ddir: str, variant: str,
            options: dict[str, Any], group_suffix: str = "") -> None:
        cid = f"{stage}__{'+'.join(datasets)}__{_tid(template)}__{tok}__{variant}"
        group = f"{stage}-{_tid(template)}-{tok}{group_suffix}"
        cases.append(Case(cid, group, stage, tok, template, datasets, ddir, dict(options), variant))

    for template, tok in SFT_TEMPLATES:
        for dataset in DEMO_SFT + SYN_SFT:
            ddir = "synthetic" if dataset in SYN_SFT else "lf_demo"
            for variant, (options, multi_only) in SFT_OPTIONS.items():
                if multi_only and dataset not in MULTI_TURN:
                    continue
                add("sft", template, tok, [dataset], ddir, variant, options)
            if template == "qwen3":
                if dataset == "identity":
                    continue
                for variant, options in THINKING_OPTIONS.items():
                    add("sft", template, tok, [dataset], ddir, variant, options)

    # val_size split (train_test_split with LF's seed): both splits recorded
    add("sft", "qwen", "qwen2.5", ["alpaca_en_demo"], "lf_demo", "val_size4", {"val_size": 4})
    # default_system override (LF mutates its global template; the reference restores it per case)
    add("sft", "qwen", "qwen2.5", ["identity"], "lf_demo", "default_system", {"default_system": "Be brief."})
    # LLaMA-2's own chat_template cannot be parsed by LF 0.9.5 -> recorded error
    add("sft", None, "llama-2", ["alpaca_en_demo"], "lf_demo", "default", {})

    # packing (sft), three demo datasets concatenated (48 rows), cutoff 512 -> 511 after LF's decrement
    for variant, options in {"packing": {"packing": True, "cutoff_len": 512},
                             "neat_packing": {"neat_packing": True, "cutoff_len": 512},
                             "packing_cutoff256": {"packing": True, "cutoff_len": 256}}.items():
        add("sft", "qwen", "qwen2.5", DEMO_SFT, "lf_demo", variant, options, "-packing")
    add("sft", "qwen3", "qwen2.5", ["th_chat_cot"], "synthetic", "neat_packing",
        {"neat_packing": True, "cutoff_len": 512}, "-packing")
    add("sft", "llama3", "llama-3", DEMO_SFT, "lf_demo", "packing", {"packing": True, "cutoff_len": 512}, "-packing")

    # pairwise (dpo/orpo/rm all load data with stage "rm")
    for template, tok in [("qwen", "qwen2.5"), ("llama3", "llama-3"), ("qwen3", "qwen2.5"), ("glm4", "qwen2.5"),
                          ("mistral", "mistral-7b-v0.1")]:
        add("rm", template, tok, ["dpo_en_demo"], "lf_demo", "default", {})
        add("rm", template, tok, ["dpo_en_demo"], "lf_demo", "cutoff64", {"cutoff_len": 64})

    # kto
    for template, tok in [("qwen", "qwen2.5"), ("llama3", "llama-3"), ("glm4", "qwen2.5")]:
        add("kto", template, tok, ["kto_en_demo"], "lf_demo", "default", {})
        add("kto", template, tok, ["kto_en_demo"], "lf_demo", "cutoff64", {"cutoff_len": 64})

    # pretrain: packing auto (= true for pt, cutoff kept) / explicit true (cutoff - 1) / false (truncation)
    pt_variants = {"packing_auto": {"cutoff_len": 256}, "packing_true": {"packing": True, "cutoff_len": 256},
                   "packing_false": {"packing": False, "cutoff_len": 256}}
    for template, tok in [(None, "qwen2.5"), ("qwen", "qwen2.5"), ("llama2", "llama-2"), ("llama3", "llama-3"),
                          ("mistral", "mistral-7b-v0.1")]:
        for dataset in ["c4_demo", "wiki_demo"]:
            for variant, options in pt_variants.items():
                if variant == "packing_true" and tok != "qwen2.5":
                    continue
                add("pt", template, tok, [dataset], "lf_demo", variant, options)
    add("pt", None, "llama-2", ["c4_demo"], "lf_demo", "packing_auto", {"cutoff_len": 256})  # recorded error

    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise SystemExit(f"duplicate case ids: {sorted(dupes)}")
    return cases


# --------------------------------------------------------------------------------------------------------
# Running the reference and writing fixtures
# --------------------------------------------------------------------------------------------------------
def run_reference(lf_python: str, specs: list[dict[str, Any]], workdir: Path, tag: str) -> subprocess.Popen:
    spec_path = workdir / f"specs-{tag}.json"
    spec_path.write_text(json.dumps(specs), encoding="utf-8")
    out_path = workdir / f"out-{tag}.json"
    log = open(workdir / f"log-{tag}.txt", "w", encoding="utf-8")
    return subprocess.Popen([lf_python, str(REFERENCE), str(spec_path), "-o", str(out_path), "--keep-going"],
                            stdout=log, stderr=subprocess.STDOUT)


def symbolic(result: dict[str, Any], case: Case, shared: Path) -> dict[str, Any]:
    """Strip machine paths out of a reference result; keep everything LF reported."""
    text = json.dumps(result, ensure_ascii=False)
    for real, sym in [(str(FIXTURES / "synthetic"), "synthetic"),
                      (str(shared / "data" / "llamafactory_demo"), "lf_demo"),
                      (str(shared / "tokenizers") + "/", "")]:
        text = text.replace(json.dumps(real)[1:-1], sym)
    out = json.loads(text)
    out["id"] = case.id
    out["group"] = case.group
    out["variant"] = case.variant
    out["spec"] = case.spec()
    out.pop("seconds", None)
    out.pop("name", None)
    return out


def manifest_entry(case: Case, record: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": case.id, "file": f"cases/{case.group}.json.xz", "stage": case.stage, "template": case.template,
        "tokenizer": case.tokenizer, "datasets": case.datasets, "dataset_dir": case.dataset_dir,
        "variant": case.variant, "options": case.options,
    }
    if record.get("error"):
        entry["error"] = record["error"]
    else:
        entry["splits"] = {k: v["num_rows"] for k, v in record["splits"].items()}
        entry["added_by_fix"] = [t["content"] for t in record["tokenizer"]["added_by_fix"]]
    return entry


def format_manifest(manifest: dict[str, Any]) -> str:
    """Readable and diff-friendly: header keys indented, one line per case."""
    head = {k: v for k, v in manifest.items() if k != "cases"}
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    lines = [json.dumps(entry, ensure_ascii=False, separators=(", ", ": ")) for entry in manifest["cases"]]
    return text + ',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def write_group(path: Path, versions: dict[str, Any], records: list[dict[str, Any]]) -> None:
    payload = {"format": FORMAT_VERSION, "versions": versions, "cases": records}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    _atomic_write(path, lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers (tests running meanwhile) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def generate(cases: list[Case], *, out_dir: Path, shared: Path, lf_python: str, jobs: int,
             merge_existing: bool) -> int:
    """Run every case through LLaMA-Factory and (re)write manifest.json + the touched group files."""
    started = time.perf_counter()
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    # Balance groups over `jobs` processes (tokenizer loads dominate: keep a group in one process).
    buckets: list[list[Case]] = [[] for _ in range(max(1, jobs))]
    for name in sorted(groups, key=lambda g: -len(groups[g])):
        min(buckets, key=len).extend(groups[name])
    results: dict[str, dict[str, Any]] = {}
    versions: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lf_fixtures_") as tmp:
        work = Path(tmp)
        procs = []
        for i, bucket in enumerate(b for b in buckets if b):
            specs = [resolve_spec(c.spec(), shared) for c in bucket]
            procs.append((i, bucket, run_reference(lf_python, specs, work, str(i))))
        failed = False
        for i, bucket, proc in procs:
            proc.wait()
            out_path = work / f"out-{i}.json"
            if not out_path.exists():
                sys.stderr.write((work / f"log-{i}.txt").read_text(encoding="utf-8")[-4000:])
                raise SystemExit(f"reference run {i} wrote no output (exit {proc.returncode})")
            payload = json.loads(out_path.read_text(encoding="utf-8"))
            versions = payload["versions"]
            for case, result in zip(bucket, payload["results"], strict=True):
                results[case.id] = symbolic(result, case, shared)
            if proc.returncode not in (0, 1):
                failed = True
    manifest_path = out_dir / "manifest.json"
    manifest: dict[str, Any] = {"format": FORMAT_VERSION, "cases": []}
    if merge_existing and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    existing = {e["id"]: e for e in manifest["cases"]}
    for group, members in groups.items():
        path = out_dir / "cases" / f"{group}.json.xz"
        records = {}
        if merge_existing and path.exists():
            records = {r["id"]: r for r in json.loads(lzma.decompress(path.read_bytes()))["cases"]}
        for case in members:
            records[case.id] = results[case.id]
            existing[case.id] = manifest_entry(case, results[case.id])
        order = {c.id: n for n, c in enumerate(build_matrix())}
        write_group(path, versions, sorted(records.values(), key=lambda r: order.get(r["id"], 1 << 30)))
    order = {c.id: n for n, c in enumerate(build_matrix())}
    manifest = {
        "format": FORMAT_VERSION,
        "generator": "scripts/generate_llamafactory_fixtures.py",
        "reference": "scripts/llamafactory_reference.py",
        "versions": versions,
        "max_samples": MAX_SAMPLES,
        "dataset_dirs": DATASET_DIRS,
        "cases": sorted(existing.values(), key=lambda e: order.get(e["id"], 1 << 30)),
    }
    _atomic_write(manifest_path, format_manifest(manifest).encode("utf-8"))
    errors = [cid for cid, r in results.items() if r.get("error")]
    print(f"{len(results)} cases in {time.perf_counter() - started:.1f}s; {len(errors)} recorded errors:",
          file=sys.stderr)
    for cid in errors:
        print(f"  {cid}: {results[cid]['error']}", file=sys.stderr)
    return 1 if failed else 0


def compare_dirs(committed: Path, new: Path, *, partial: bool) -> list[str]:
    """Differences between two fixture trees, on decompressed JSON (compression noise does not count).
    partial: only the cases present in NEW are compared (a --only run)."""
    def load(root: Path) -> dict[str, Any]:
        out = {}
        for path in root.glob("cases/*.json.xz"):
            for record in json.loads(lzma.decompress(path.read_bytes()))["cases"]:
                out[record["id"]] = record
        return out

    old_cases, new_cases = load(committed), load(new)
    diffs = [f"{cid}: missing from the committed fixtures" for cid in sorted(set(new_cases) - set(old_cases))]
    if not partial:
        diffs += [f"{cid}: committed but no longer generated" for cid in sorted(set(old_cases) - set(new_cases))]
    diffs += [f"{cid}: differs" for cid in sorted(set(new_cases) & set(old_cases))
              if new_cases[cid] != old_cases[cid]]
    return diffs


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lf-python", default=DEFAULT_LF_PYTHON, help="python of the LLaMA-Factory venv")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared/ folder")
    parser.add_argument("--out", type=Path, default=FIXTURES, help="fixture folder to write")
    parser.add_argument("--only", help="regex: only cases whose id matches (merged into existing fixtures)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel LLaMA-Factory processes")
    parser.add_argument("--list", action="store_true", help="print the case ids and exit")
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    args = parser.parse_args(list(argv) if argv is not None else None)

    cases = build_matrix()
    if args.only:
        pattern = re.compile(args.only)
        cases = [c for c in cases if pattern.search(c.id)]
    if args.list:
        for case in cases:
            print(case.id)
        print(f"{len(cases)} cases", file=sys.stderr)
        return 0
    if not Path(args.lf_python).exists():
        raise SystemExit(f"{args.lf_python} not found: run scripts/make_llamafactory_venv.sh first "
                         "(or set TEMPLATES_HUB_LF_PYTHON)")
    if not (args.shared / "tokenizers").is_dir():
        raise SystemExit(f"{args.shared}/tokenizers not found (set TEMPLATES_HUB_SHARED or --shared)")
    if args.check:
        with tempfile.TemporaryDirectory(prefix="lf_fixtures_check_") as tmp:
            rc = generate(cases, out_dir=Path(tmp), shared=args.shared, lf_python=args.lf_python,
                          jobs=args.jobs, merge_existing=False)
            diffs = compare_dirs(args.out, Path(tmp), partial=bool(args.only))
        for line in diffs:
            print(line)
        print("fixtures are up to date" if not diffs else f"{len(diffs)} differences", file=sys.stderr)
        return rc or (1 if diffs else 0)
    return generate(cases, out_dir=args.out, shared=args.shared, lf_python=args.lf_python, jobs=args.jobs,
                    merge_existing=bool(args.only))


if __name__ == "__main__":
    sys.exit(main())
