"""``prepare``: the seed recipe end to end on the demo data and (when ../shared is present) on LLaMA-Factory's
alpaca_en_demo, compared with a direct re-statement of the seed notebook's logic; files, rejects, CLI."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from templates_hub.cli import main
from templates_hub.prepare import prepare
from templates_hub.rejects import read_rejects

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED_RECIPE = EXAMPLES / "alpaca_sft.yaml"
DEMO = EXAMPLES / "demo" / "alpaca_demo.jsonl"


def seed_notebook(raw_rows: list[dict], test_size: float = 0.02, seed: int = 42) -> dict:
    """The notebook's steps 2-4 on raw Alpaca rows, restated with an ``idx`` column to identify rows."""
    from datasets import ClassLabel, Dataset

    ds = Dataset.from_list([{**r, "idx": i} for i, r in enumerate(raw_rows)])
    filtered = ds.filter(lambda ex: len(ex["output"].strip()) > 5)

    def build_messages(ex):
        prompt = ex["instruction"].strip()
        if ex["input"]:
            prompt += "\n" + ex["input"].strip()
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": ex["output"].strip()}]}

    structured = filtered.map(build_messages)
    structured = structured.remove_columns([c for c in structured.column_names if c not in ("messages", "idx")])
    bucketed = structured.map(lambda ex: {"len_bucket": min(len(ex["messages"][0]["content"].split()) // 200, 4)})
    counts = Counter(bucketed["len_bucket"])
    valid = sorted(b for b, c in counts.items() if c >= 2)
    dropped = {b: c for b, c in counts.items() if b not in valid}
    if dropped:
        bucketed = bucketed.filter(lambda ex: ex["len_bucket"] in valid)
        valid = sorted(Counter(bucketed["len_bucket"]))
    if len(valid) >= 2:
        ids = {b: i for i, b in enumerate(valid)}
        bucketed = bucketed.map(lambda ex: {"len_bucket": ids[ex["len_bucket"]]})
        bucketed = bucketed.cast_column("len_bucket", ClassLabel(num_classes=len(valid)))
        split = bucketed.train_test_split(test_size=test_size, seed=seed, stratify_by_column="len_bucket")
    else:
        split = bucketed.train_test_split(test_size=test_size, seed=seed)
    return {"filtered": len(filtered), "dropped_buckets": dropped, "stratified": len(valid) >= 2,
            "train": sorted(split["train"]["idx"]), "validation": sorted(split["test"]["idx"])}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_seed_recipe_on_the_demo_data(tmp_path):
    raw = read_jsonl(DEMO)
    result = prepare(SEED_RECIPE, out_dir=tmp_path, progress=False)
    report = result.report
    seed = seed_notebook(raw)

    # the same rows survive the notebook's filter; validation also rejects the empty answer (which the
    # notebook's filter drops too), so the rows reaching the split are the same
    assert report["rows_in"] == len(raw)
    assert report["steps"][1]["rows_out"] == seed["filtered"]
    assert report["rejected_by_step"]["validate"] + report["rejected_by_step"]["filter:response_length"] == (
        len(raw) - seed["filtered"])
    # documented difference: the notebook throws away the one row of bucket 4; we merge it into bucket 3
    assert seed["dropped_buckets"] == {4: 1}
    assert report["steps"][2]["merged"] == [{"stratum": "4", "rows": 1, "into": "3", "why": "fewer than 2 rows"}]
    assert report["splits"]["train"] + report["splits"]["validation"] == len(seed["train"]) + len(seed["validation"]) + 1
    assert report["splits"]["validation"] == len(seed["validation"]) == math.ceil(0.02 * (seed["filtered"] - 1))
    assert report["steps"][2]["method"] == "stratified" and seed["stratified"]
    assert report["balanced"] and report["rows_in"] == report["rows_out"] + report["rejected"]

    # files: canonical rows without provenance columns, rejects with step / line / reason / row
    train = read_jsonl(tmp_path / "train.jsonl")
    validation = read_jsonl(tmp_path / "validation.jsonl")
    assert len(train) == report["splits"]["train"] and len(validation) == report["splits"]["validation"]
    assert all(set(r) == {"messages"} and r["messages"][-1]["role"] == "assistant" for r in train + validation)
    rejects = read_rejects(tmp_path / "rejects.jsonl")
    assert len(rejects) == report["rejected"] == len(raw) - seed["filtered"]
    assert {r["step"] for r in rejects} == {"validate", "filter:response_length"}
    for record in rejects:
        assert record["source"].endswith("alpaca_demo.jsonl") and record["reason"]
        assert len(raw[record["row"] - 1]["output"].strip()) <= 5  # the line it points at is the dropped row
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8")) == json.loads(
        json.dumps(report, default=str))
    buckets = report["steps"][2]["buckets"]
    assert sum(buckets["train"].values()) == len(train) and sum(buckets["validation"].values()) == len(validation)


@pytest.mark.shared
def test_seed_recipe_on_alpaca_en_demo_matches_the_notebook(lf_demo_dir, tmp_path):
    source = lf_demo_dir / "alpaca_en_demo.json"
    raw = json.loads(source.read_text(encoding="utf-8"))
    seed = seed_notebook(raw)
    result = prepare(SEED_RECIPE, overrides=[f"data.path={source}"], progress=False)
    report = result.report
    assert report["rows_in"] == len(raw) and report["balanced"]
    assert report["steps"][1]["rows_out"] == seed["filtered"]
    assert seed["dropped_buckets"] == {} and report["steps"][2]["merged"] == []  # nothing to merge here
    assert report["steps"][2]["method"] == ("stratified" if seed["stratified"] else "random")
    # the very same rows in each split (``_row`` is the 1-based position in the JSON array)
    assert sorted(r - 1 for r in result.splits["train"]["_row"]) == seed["train"]
    assert sorted(r - 1 for r in result.splits["validation"]["_row"]) == seed["validation"]


def test_parquet_output_overrides_and_rejects_path(tmp_path):
    from datasets import load_dataset

    rejects = tmp_path / "elsewhere" / "dropped.jsonl"
    result = prepare(SEED_RECIPE, out_dir=tmp_path / "out", progress=False, file_format="parquet",
                     rejects=rejects, overrides=["split.val_size=10", "split.seed=7", "filters[0].min=20"])
    assert result.report["splits"]["validation"] == 10
    train = load_dataset("parquet", data_files=str(tmp_path / "out" / "train.parquet"), split="train")
    assert len(train) == result.report["splits"]["train"] and "_row" not in train.column_names
    assert len(read_rejects(rejects)) == result.report["rejected"] and result.rejects_path == rejects
    assert not (tmp_path / "out" / "rejects.jsonl").exists()
    # a second run without a split removes the stale validation file
    prepare(SEED_RECIPE, out_dir=tmp_path / "out", progress=False, file_format="parquet", overrides=["split=null"])
    assert not (tmp_path / "out" / "validation.parquet").exists()


def test_cleaning_recipe_runs_every_kind_of_filter(tmp_path):
    result = prepare(EXAMPLES / "alpaca_clean.yaml", out_dir=tmp_path, progress=False)
    report = result.report
    dropped = report["steps"][1]["dropped"]
    assert list(dropped) == ["empty_turns", "response_length", "prompt_length", "turns", "blocklist", "regex",
                             "tool_calls", "exact_dedup", "near_dedup"]
    assert dropped["blocklist"] == 2 and dropped["exact_dedup"] >= 1 and dropped["response_length"] >= 1
    rejects = read_rejects(tmp_path / "rejects.jsonl")
    per_step = Counter(r["step"] for r in rejects if r["step"].startswith("filter:"))
    assert per_step == {f"filter:{name}": n for name, n in dropped.items() if n}
    assert report["balanced"] and report["splits"]["validation"] == 10


def test_in_memory_result_without_out_dir():
    result = prepare(SEED_RECIPE, progress=False)
    assert result.out_dir is None and result.rejects_path is None and result.files == {}
    assert set(result.splits) == {"train", "validation"} and "_row" in result.splits["train"].column_names


def test_cli_prepare(cli_runner, tmp_path):
    out = tmp_path / "prepared"
    res = cli_runner.invoke(main, ["prepare", str(SEED_RECIPE), "--out", str(out), "--set", "split.seed=7", "-q"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"train.jsonl", "validation.jsonl", "report.json", "rejects.jsonl"}
    res = cli_runner.invoke(main, ["prepare", str(SEED_RECIPE), "--out", str(out), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["balanced"] is True
    res = cli_runner.invoke(main, ["prepare", str(SEED_RECIPE), "--out", str(out)])
    assert res.exit_code == 0 and "length buckets" in res.stdout and "(ok)" in res.stdout


def test_cli_prepare_reports_recipe_errors_once(cli_runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data:\n  path: {DEMO}\nfilters:\n  - name: response_length\n    min: -2\n", encoding="utf-8")
    res = cli_runner.invoke(main, ["prepare", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{bad}:5: filters[0].min: must be >= 0" in res.stderr
    assert res.stderr.count("must be >= 0") == 1
    res = cli_runner.invoke(main, ["prepare", str(SEED_RECIPE), "--set", "split.seed"])
    assert res.exit_code == 2 and "expected KEY=VALUE" in res.stderr


def test_demo_data_is_reproducible(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "demo.jsonl"
    subprocess.run([sys.executable, str(EXAMPLES / "demo" / "make_demo_data.py"), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_text(encoding="utf-8") == DEMO.read_text(encoding="utf-8")
    rows = read_jsonl(DEMO)
    assert len(rows) >= 300
    assert sum("system" in r for r in rows) >= 10 and sum("history" in r for r in rows) >= 5
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in r["instruction"]) for r in rows) >= 10
