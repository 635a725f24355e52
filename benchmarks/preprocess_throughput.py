"""Preprocessing throughput and memory, printed as ratios against baselines (not a test).

    python benchmarks/preprocess_throughput.py [--rows 50000] [--repeat 3] [--num-proc N] [--skip-rss]

Data: ../shared/data/llamafactory_demo/alpaca_en_demo.json repeated to at least --rows rows (and
glaive_toolcall_en_demo.json for the multi-turn set), each row made unique by appending its number to
every message (so that no contender can reuse work from an earlier copy of the same row); tokenizer
../shared/tokenizers/qwen2.5; template qwen; cutoff_len 2048. Every figure is rows per second over the whole set (input rows / wall time):

(a) templates-hub: ``preprocess_dataset`` (supervised: render, encode, labels, truncation, accounting),
    through ``datasets.map`` into Arrow files;
(b) the raw limit: the same fully rendered texts (rendered beforehand, not timed) through ONE batched
    ``tokenizer(texts)`` call per 1,000 rows, also through ``datasets.map`` into Arrow, no masking;
    (b0) is the same calls on an in-memory list, without datasets, for reference;
(c) naive: the seed notebook's per-example ``tokenize`` (two tokenizer calls per row: the prompt text and
    the response text) over ``datasets.map`` one example at a time; for the multi-turn set, the
    per-example equivalent that encodes every rendered piece with its own tokenizer call.

Targets on the 2-core machine: a/b >= 1.0, a/c >= 2.5. Runs are interleaved (a, b, c, a, b, c, ...)
and the best of --repeat runs is reported with the median, because other processes share the CPUs.

Packing: rows/s of ``preprocess_dataset(packing=True)`` and the fill rate (real tokens / pack
positions) of the global best-fit-decreasing plan, against LLaMA-Factory's greedy knapsack per
1,000-row batch on the same rows. Target: fill >= 99.5 % at cutoff 2048.

Memory: peak RSS of a child process that preprocesses 50,000 and 500,000 rows (streamed from a JSONL
file, tokenized rows written to Arrow on disk). Target: within +-20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TEMPLATES_HUB_SHARED", REPO.parent / "shared"))
DEMO = SHARED / "data" / "llamafactory_demo"
TOKENIZER = SHARED / "tokenizers" / "qwen2.5"
CUTOFF = 2048

_SCRATCH = tempfile.mkdtemp(prefix="templates_hub_bench_")
os.environ.setdefault("HF_DATASETS_CACHE", str(Path(_SCRATCH) / "cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def need_shared() -> None:
    missing = [p for p in (DEMO / "alpaca_en_demo.json", DEMO / "glaive_toolcall_en_demo.json", TOKENIZER)
               if not p.exists()]
    if missing:
        sys.exit("preprocess_throughput: needs ../shared (set TEMPLATES_HUB_SHARED); missing: "
                 + ", ".join(str(p) for p in missing))


def setup():
    from transformers import AutoTokenizer

    from templates_hub.templates import fix_tokenizer, get_template

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    template = get_template("qwen")
    fix_tokenizer(tokenizer, template)
    return tokenizer, template


def _unique(batch, indices):
    """Append the row number to every message text (and tool description), so no row repeats another.

    Without it, a repeated demo set would let any cache serve whole answers from earlier copies; real
    data do not repeat like that. Only template text and identical short tool calls stay repeated.
    """
    messages = []
    for msgs, i in zip(batch["messages"], indices, strict=False):
        out = []
        for m in msgs:
            m = dict(m)
            if m["content"]:
                m["content"] = f"{m['content']} #{i}"
            out.append(m)
        messages.append(out)
    tools = []
    for text, i in zip(batch["tools"], indices, strict=False):
        if text:
            parsed = json.loads(text)
            if parsed and isinstance(parsed[0], dict):
                parsed[0]["description"] = f"{parsed[0].get('description', '')} #{i}"
            text = json.dumps(parsed, ensure_ascii=False)
        tools.append(text)
    return {"messages": messages, "tools": tools}


def repeated(name: str, rows: int):
    """The demo set repeated to >= rows rows, every row made unique (``_unique``), as a file-backed
    Dataset (so that ``map`` writes Arrow files)."""
    import datasets

    from templates_hub.io import load_canonical

    base = load_canonical(None, dataset_info=str(DEMO), dataset=name).dataset
    copies = -(-rows // len(base))
    ds = datasets.concatenate_datasets([base] * copies)
    ds = ds.map(_unique, with_indices=True, batched=True, desc="make rows unique")
    path = Path(_SCRATCH) / f"{name}_{len(ds)}"
    ds.save_to_disk(str(path))
    return datasets.load_from_disk(str(path))


def rendered_texts(ds, template, tokenizer):
    """Fully rendered text of every row, as a file-backed Dataset with a `text` column (not timed)."""
    import datasets

    from templates_hub.templates.base import RenderOptions, SpecialTokens, render_text

    tokens, options = SpecialTokens.from_tokenizer(tokenizer), RenderOptions()

    def render(batch):
        rows = [{"messages": m, "tools": t} for m, t in zip(batch["messages"], batch["tools"], strict=False)]
        pieces = [template.render(r, tokens, options) for r in rows]
        return {"text": [render_text(p) for p in pieces],
                "prompt": ["".join(x.text for x in p if not x.trainable) for p in pieces],
                "response": ["".join(x.text for x in p if x.trainable) for p in pieces],
                "pieces": [[[x.text, x.special] for x in p] for p in pieces]}

    out = ds.map(render, batched=True, remove_columns=ds.column_names, desc="render (not timed)")
    path = Path(_SCRATCH) / f"texts_{len(ds)}_{id(ds)}"
    out.save_to_disk(str(path))
    return datasets.load_from_disk(str(path))


class RawTokenize:
    """(b): one batched tokenizer call per 1,000 rows, no masking."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch):
        enc = self.tokenizer(batch["text"])
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


class NotebookTokenize:
    """(c): the seed notebook's ``tokenize`` (lecture 10, step 5), one example at a time."""

    def __init__(self, tokenizer, max_length=CUTOFF):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, example):
        prompt_ids = self.tokenizer(example["prompt"], add_special_tokens=False)["input_ids"]
        response_ids = self.tokenizer(example["response"], add_special_tokens=False)["input_ids"]
        max_response_len = self.max_length - len(prompt_ids)
        if max_response_len <= 0:
            input_ids = prompt_ids[: self.max_length]
            return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": [-100] * len(input_ids)}
        response_ids = response_ids[:max_response_len]
        input_ids = prompt_ids + response_ids
        return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids),
                "labels": [-100] * len(prompt_ids) + response_ids}


class PerPieceTokenize:
    """(c) for multi-turn rows: every rendered piece encoded by its own call, one example at a time."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, example):
        ids = []
        for text, special in example["pieces"]:
            ids += [self.tokenizer.convert_tokens_to_ids(text)] if special else self.tokenizer.encode(
                text, add_special_tokens=False)
        return {"input_ids": ids[:CUTOFF], "attention_mask": [1] * min(len(ids), CUTOFF)}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def throughput_suite(label, ds, texts, tokenizer, template, args, naive, raw_tokenizer):
    """Interleaved runs of (a), (b), (b0), (c); returns {name: [rows/s ...]}.

    The baselines get their own tokenizer object (``raw_tokenizer``), loaded exactly as a user would, so
    nothing templates-hub does to its tokenizer (its larger BPE word cache) can speed them up.
    """
    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig

    n = len(ds)
    num_proc = args.num_proc if args.num_proc and args.num_proc > 1 else None
    config = PreprocessConfig(cutoff_len=CUTOFF, num_proc=num_proc)
    raw = RawTokenize(raw_tokenizer)
    text_list = list(texts["text"])
    runs: dict[str, list[float]] = {"a": [], "b": [], "b0": [], "c": []}
    drop_cols = texts.column_names
    for i in range(args.repeat):
        t, result = timed(lambda: preprocess_dataset(ds, template=template, tokenizer=tokenizer, config=config,
                                                     progress=False))
        runs["a"].append(n / t)
        t, _ = timed(lambda: texts.map(raw, batched=True, batch_size=1000, num_proc=num_proc, remove_columns=drop_cols))
        runs["b"].append(n / t)
        t, _ = timed(lambda: [raw_tokenizer(text_list[j:j + 1000]) for j in range(0, n, 1000)])
        runs["b0"].append(n / t)
        if i < args.naive_repeat:
            t, _ = timed(lambda: texts.map(naive, num_proc=num_proc, remove_columns=drop_cols))
            runs["c"].append(n / t)
        print(f"  [{label} run {i + 1}] a {runs['a'][-1]:,.0f}  b {runs['b'][-1]:,.0f}  b0 {runs['b0'][-1]:,.0f}"
              + (f"  c {runs['c'][-1]:,.0f}" if i < args.naive_repeat else "") + " rows/s", flush=True)
    return runs, result


def report(label, runs, n):
    best = {k: max(v) for k, v in runs.items() if v}
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    print(f"\n== {label}: {n:,} rows, cutoff {CUTOFF} (best / median of runs, rows/s)")
    names = {"a": "(a) templates-hub supervised", "b": "(b) raw tokenizer(texts), datasets.map",
             "b0": "(b0) raw tokenizer(texts), in-memory list", "c": "(c) naive per-example (seed notebook)"}
    for k, name in names.items():
        if k in best:
            print(f"  {name:45s} {best[k]:>9,.0f} / {med[k]:>9,.0f}")
    print(f"  a/b  = {best['a'] / best['b']:.2f} (best)  {med['a'] / med['b']:.2f} (median)   target >= 1.0")
    print(f"  a/b0 = {best['a'] / best['b0']:.2f} (best)  {med['a'] / med['b0']:.2f} (median)")
    print(f"  a/c  = {best['a'] / best['c']:.2f} (best)  {med['a'] / med['c']:.2f} (median)   target >= 2.5")
    return {"rows": n, "best": best, "median": med}


def packing_suite(ds, tokenizer, template, args):
    import pyarrow.compute as pc

    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig
    from templates_hub.preprocess.packing import greedy_knapsack_plan, plan_packs

    num_proc = args.num_proc if args.num_proc and args.num_proc > 1 else None
    speeds = []
    for _ in range(max(1, args.repeat - 1)):
        t, packed = timed(lambda: preprocess_dataset(ds, template=template, tokenizer=tokenizer, progress=False,
                                                     config=PreprocessConfig(cutoff_len=CUTOFF, packing=True,
                                                                             num_proc=num_proc)))
        speeds.append(len(ds) / t)
    unpacked = preprocess_dataset(ds, template=template, tokenizer=tokenizer, progress=False,
                                  config=PreprocessConfig(cutoff_len=CUTOFF - 1, num_proc=num_proc))
    lengths = pc.list_value_length(unpacked.dataset.data.column("input_ids")).to_numpy(zero_copy_only=False)
    t_plan, plan = timed(lambda: plan_packs(lengths, CUTOFF - 1))
    greedy = greedy_knapsack_plan(lengths, CUTOFF - 1, batch_size=1000)
    s = packed.stats
    print(f"\n== packing: {len(ds):,} rows -> {s['packs']:,} packs of {CUTOFF} tokens")
    print(f"  rows/s (tokenize + plan + build packs) {max(speeds):>9,.0f} best / {statistics.median(speeds):,.0f} median")
    print(f"  plan (best-fit decreasing, whole dataset) {t_plan * 1000:.0f} ms for {len(lengths):,} rows")
    print(f"  fill: best-fit decreasing, global   {100 * s['pack_fill']:.3f} %  ({s['packs']:,} packs)   target >= 99.5 %")
    print(f"  fill: greedy knapsack per 1,000 rows {100 * greedy.fill(CUTOFF):.3f} %  ({greedy.packs:,} packs, "
          "LLaMA-Factory's method)")
    assert plan.packs == s["packs"]
    return {"rows_per_s": max(speeds), "fill": s["pack_fill"], "packs": s["packs"], "greedy_fill": greedy.fill(CUTOFF),
            "greedy_packs": greedy.packs}


# -- memory ------------------------------------------------------------------------------------------------------


def write_jsonl(rows: int) -> Path:
    records = json.loads((DEMO / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    path = Path(_SCRATCH) / f"alpaca_{rows}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(json.dumps(records[i % len(records)], ensure_ascii=False) + "\n")
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MB.

    Not ``getrusage().ru_maxrss``: on Linux that survives ``exec``, so a child started from a large parent
    would report the parent's peak. VmHWM belongs to the process's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(path: str, out_dir: str) -> None:
    """Stream PATH through preprocessing into Arrow on disk; print peak RSS as JSON."""
    import datasets

    from templates_hub.io import load_canonical
    from templates_hub.preprocess.api import preprocess_dataset
    from templates_hub.preprocess.config import PreprocessConfig

    tokenizer, template = setup()
    load = load_canonical(path, format="alpaca", streaming=True)
    start = time.perf_counter()
    result = preprocess_dataset(load.dataset, template=template, tokenizer=tokenizer,
                                config=PreprocessConfig(cutoff_len=CUTOFF))
    features = result.dataset.features

    def rows():
        yield from result.dataset

    datasets.disable_progress_bars()
    out = datasets.Dataset.from_generator(rows, features=features, cache_dir=out_dir)
    elapsed = time.perf_counter() - start
    peak = peak_rss_mb()
    print(json.dumps({"rows": len(out), "peak_rss_mb": peak, "seconds": elapsed,
                      "rows_out": result.stats["rows_out"], "tokens": result.stats["tokens"]}))


def rss_suite(sizes):
    results = {}
    for rows in sizes:
        path = write_jsonl(rows)
        out_dir = tempfile.mkdtemp(dir=_SCRATCH)
        proc = subprocess.run([sys.executable, __file__, "--rss-child", str(path), out_dir], capture_output=True,
                              text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "true"})
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            print(proc.stderr[-3000:])
            raise SystemExit(f"memory run with {rows} rows failed")
        results[rows] = json.loads(lines[-1])
        path.unlink()
    print("\n== memory: streamed JSONL -> preprocess -> Arrow on disk (child process peak RSS)")
    for rows, r in results.items():
        print(f"  {rows:>9,} rows: peak RSS {r['peak_rss_mb']:,.0f} MB  ({r['rows']:,} rows written, "
              f"{r['rows'] / r['seconds']:,.0f} rows/s)")
    small, large = (results[s]["peak_rss_mb"] for s in (min(sizes), max(sizes)))
    print(f"  change {100 * (large - small) / small:+.1f} %   target within +-20 %")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per set (the demo files repeated)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of (a) and (b)")
    parser.add_argument("--naive-repeat", type=int, default=1, help="runs of the (slow) naive baseline")
    parser.add_argument("--num-proc", type=int, default=None, help="datasets.map workers for every contender")
    parser.add_argument("--rss-sizes", default="50000,500000", help="row counts of the memory runs")
    parser.add_argument("--skip-rss", action="store_true", help="skip the memory runs")
    parser.add_argument("--only", choices=["single", "multi", "packing", "rss"], help="run one part only")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    need_shared()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    import datasets

    datasets.disable_caching()
    datasets.disable_progress_bars()
    print(f"templates-hub preprocessing benchmark: {os.cpu_count()} CPUs, num_proc={args.num_proc}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    tokenizer, template = setup()
    raw_tokenizer, _ = setup()  # the baselines' own, untouched tokenizer
    figures: dict = {}
    from templates_hub.preprocess.encode import profile_tokenizer

    print(f"tokenizer engine: {profile_tokenizer(tokenizer).describe()}")
    if args.only in (None, "single", "packing"):
        alpaca = repeated("alpaca_en_demo", args.rows)
        if args.only in (None, "single"):
            texts = rendered_texts(alpaca, template, tokenizer)
            runs, _ = throughput_suite("alpaca", alpaca, texts, tokenizer, template, args,
                                       NotebookTokenize(raw_tokenizer), raw_tokenizer)
            figures["alpaca"] = report("single-turn: alpaca_en_demo repeated", runs, len(alpaca))
        if args.only in (None, "packing"):
            figures["packing"] = packing_suite(alpaca, tokenizer, template, args)
    if args.only in (None, "multi"):
        glaive = repeated("glaive_toolcall_en_demo", args.rows)
        texts = rendered_texts(glaive, template, tokenizer)
        runs, _ = throughput_suite("glaive", glaive, texts, tokenizer, template, args,
                                   PerPieceTokenize(raw_tokenizer), raw_tokenizer)
        figures["glaive"] = report("multi-turn: glaive_toolcall_en_demo repeated", runs, len(glaive))
    if not args.skip_rss and args.only in (None, "rss"):
        figures["rss"] = rss_suite([int(x) for x in args.rss_sizes.split(",")])
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
