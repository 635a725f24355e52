"""Integrity of the LLaMA-Factory 0.9.5 expected-output fixtures (tests/fixtures/llamafactory/).

These fixtures are the ground truth the preprocessing equivalence tests compare with, so a corrupt or
mislabelled fixture would silently weaken them. Checked here: every file parses and matches the manifest;
the structural rules LLaMA-Factory's processors guarantee hold for every row (labels are IGNORE_INDEX or
the input id -- except efficient_eos's EOS label on later prompts --, lengths within cutoff_len, packed
rows exactly cutoff_len + 1, shared prompts in pairs); provenance is consistent. Only the checks that
re-read ../shared (row indices against the demo files, ids against the demo texts) skip when it is absent.
"""

from __future__ import annotations

import json
import lzma

import pytest
from lf_fixtures import (
    FIXTURES_DIR,
    IGNORE_INDEX,
    LFCase,
    get_case,
    iter_cases,
    load_group,
    load_manifest,
    read_raw_records,
    resolve_dataset_dir,
)

ALL_CASES = list(iter_cases())
OK_CASES = [c for c in ALL_CASES if not c.error]


def test_manifest_and_case_files_agree() -> None:
    manifest = load_manifest()
    assert manifest["versions"]["llamafactory"] == "0.9.5"
    ids = [c.id for c in ALL_CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(ids) > 100
    listed_files = {c.file for c in ALL_CASES}
    on_disk = {f"cases/{p.name}" for p in (FIXTURES_DIR / "cases").glob("*.json.xz")}
    assert listed_files == on_disk, "manifest and cases/ disagree on files"
    for file in sorted(listed_files):
        payload = json.loads(lzma.decompress((FIXTURES_DIR / file).read_bytes()))
        assert payload["versions"]["llamafactory"] == "0.9.5", file
        assert {r["id"] for r in payload["cases"]} == {c.id for c in ALL_CASES if c.file == file}, file
    for case in ALL_CASES:
        record = case.record
        assert record["spec"]["stage"] == case.stage and record["spec"].get("template") == case.template
        assert record["spec"]["tokenizer"] == case.tokenizer
        if case.error:
            assert record["error"] == case.error and "splits" not in record
        else:
            entry = next(e for e in manifest["cases"] if e["id"] == case.id)
            assert {k: v["num_rows"] for k, v in record["splits"].items()} == entry["splits"], case.id
            for split in case.split_names:
                assert len(case.rows(split)) == record["splits"][split]["num_rows"] > 0, (case.id, split)


def test_matrix_covers_the_brief() -> None:
    """The stages, options and templates the equivalence tests rely on are all present and ran."""
    ok = {c.id for c in OK_CASES}
    for template in ["qwen", "chatml", "default", "alpaca", "vicuna", "empty", "qwen3", "qwen3_nothink", "llama2",
                     "llama3", "mistral", "glm4", "gemma", "yi", "phi4", "deepseek3"]:
        for dataset in ["alpaca_en_demo", "identity", "glaive_toolcall_en_demo"]:
            assert any(c.template == template and dataset in c.datasets and c.variant == "default"
                       for c in OK_CASES), (template, dataset)
    for variant in ["mask_history", "train_on_prompt", "cutoff48", "packing", "neat_packing", "nothink"]:
        assert any(c.variant == variant for c in OK_CASES), variant
    assert {c.stage for c in OK_CASES} == {"sft", "rm", "kto", "pt"}
    assert get_case("sft__identity__glm4__qwen2.5__train_on_prompt").error  # LF refuses efficient_eos + prompt
    assert "sft__alpaca_en_demo__qwen__qwen2.5__default" in ok


def _check_labels(case: LFCase, ids: list[int], labels: list[int], where: str) -> None:
    """Labels are IGNORE_INDEX or the input id. LF's efficient_eos exception: the first token of every
    prompt after the first is labelled with the EOS id although the input there is the prompt token."""
    assert len(ids) == len(labels), where
    eos = case.tokenizer_facts["after_fix"]["eos_token_id"]
    efficient = case.template_facts["efficient_eos"]
    for pos, (tok, lab) in enumerate(zip(ids, labels, strict=True)):
        if lab == IGNORE_INDEX or lab == tok:
            continue
        assert efficient and lab == eos and case.stage == "sft", f"{where}: label {lab} vs input {tok} at {pos}"


@pytest.mark.parametrize("stage", ["sft", "rm", "kto", "pt"])
def test_rows_follow_llamafactory_invariants(stage: str) -> None:
    cases = [c for c in OK_CASES if c.stage == stage]
    assert cases
    for case in cases:
        cutoff = case.cutoff_len
        packed = bool(case.resolved["packing"])
        for split in case.split_names:
            for n, row in enumerate(case.rows(split)):
                where = f"{case.id}[{split}][{n}]"
                if stage == "sft":
                    _check_labels(case, row["input_ids"], row["labels"], where)
                    assert len(row["attention_mask"]) == len(row["input_ids"]), where
                    if packed:
                        _check_packed_row(case, row, cutoff, where)
                    else:
                        assert 0 < len(row["input_ids"]) <= cutoff, where
                        assert set(row["attention_mask"]) == {1}, where
                elif stage == "rm":
                    for side in ("chosen", "rejected"):
                        _check_labels(case, row[f"{side}_input_ids"], row[f"{side}_labels"], where)
                        assert len(row[f"{side}_input_ids"]) <= cutoff, where
                    prompt_len = row["chosen_labels"].index(next(x for x in row["chosen_labels"] if x != IGNORE_INDEX))
                    assert row["chosen_input_ids"][:prompt_len] == row["rejected_input_ids"][:prompt_len], where
                elif stage == "kto":
                    assert isinstance(row["kto_tags"], bool), where
                    _check_labels(case, row["input_ids"], row["labels"], where)
                    _check_labels(case, row["kl_input_ids"], row["kl_labels"], where)
                    assert len(row["input_ids"]) <= cutoff and len(row["kl_input_ids"]) <= cutoff, where
                else:  # pretraining: no labels column; blocks of exactly cutoff_len when packed
                    assert "labels" not in row, where
                    if packed:
                        assert len(row["input_ids"]) == cutoff, where
                    else:
                        assert 0 < len(row["input_ids"]) <= cutoff, where


def _check_packed_row(case: LFCase, row: dict, cutoff: int, where: str) -> None:
    """LF pads every packed row to cutoff_len + 1 (= the user's cutoff); neat packing numbers segments."""
    ids, pos, mask = row["input_ids"], row["position_ids"], row["attention_mask"]
    assert len(ids) == len(pos) == cutoff + 1, where
    starts = [i for i, p in enumerate(pos) if p == 0]
    assert starts[0] == 0, where
    for i in range(1, len(pos)):
        assert pos[i] == 0 or pos[i] == pos[i - 1] + 1, f"{where}: position_ids jump at {i}"
    if case.resolved["neat_packing"]:
        bounds = row["packing_params"]["sequence_boundaries"]
        assert bounds[0] == 0 and bounds[-1] == cutoff + 1, where
        pad = row["packing_params"]["right_padding_length"]
        for seg, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            expected = 0 if (seg == len(bounds) - 2 and pad) else seg + 1
            assert set(mask[a:b]) == {expected}, f"{where}: segment {seg} mask"
    else:
        assert set(mask) == {1}, where


def test_provenance_is_consistent() -> None:
    for case in OK_CASES:
        for split in case.split_names:
            prov = case.provenance(split)
            where = f"{case.id}[{split}]"
            assert prov["kind"] in {"rows", "packed", "blocks"}, (where, prov)
            if prov["kind"] == "rows":
                assert len(prov["source"]) == len(case.rows(split)), where
            elif prov["kind"] == "packed":
                assert len(prov["packs"]) == len(case.rows(split)), where
                for pack, row in zip(case.packs(split), case.rows(split), strict=True):
                    assert sum(1 for p in row["position_ids"] if p == 0) >= len(pack) >= 1, where
            sources = case.input_sources(split)
            assert len(sources) == len(set(sources)), f"{where}: a source row used twice"
            for name, index in sources:
                assert name in case.datasets and 0 <= index < 16, (where, name, index)
        if "validation" in case.split_names:
            train = set(case.input_sources("train"))
            assert not train & set(case.input_sources("validation")), f"{case.id}: split overlap"


def _default_rows_by_source(case: LFCase) -> dict[tuple[str, int], dict]:
    """Rows of the plain (default-variant) cases with the same template/tokenizer, keyed by source."""
    out = {}
    for name in case.datasets:
        base = get_case(f"{case.stage}__{name}__{case.template or 'auto'}__{case.tokenizer}__default")
        out.update(dict(zip(base.sources(), base.rows(), strict=True)))
    return out


def test_provenance_agrees_across_cases() -> None:
    """Provenance is computed beside LF's run, so cross-check it with LF's own rows: a val_size split row
    and every sub-sequence of a packed row must equal the unsplit/unpacked row of the same source."""
    split_case = get_case("sft__alpaca_en_demo__qwen__qwen2.5__val_size4")
    plain = _default_rows_by_source(split_case)
    assert sorted(split_case.input_sources("train") + split_case.input_sources("validation")) == sorted(plain)
    for split in ("train", "validation"):
        for source, row in zip(split_case.sources(split), split_case.rows(split), strict=True):
            assert row == plain[source], (split, source)
    packed_cases = [c for c in OK_CASES if c.stage == "sft" and c.resolved["packing"]]
    assert packed_cases
    for case in packed_cases:
        plain = _default_rows_by_source(case)
        for pack, row in zip(case.packs(), case.rows(), strict=True):
            pos = row["position_ids"]
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            segments = list(zip(starts, starts[1:], strict=False))[: len(pack)]
            for source, (a, b) in zip(pack, segments, strict=True):
                expected = plain[source]
                if len(expected["input_ids"]) <= case.cutoff_len:
                    assert row["input_ids"][a:b] == expected["input_ids"], (case.id, source)
                    assert row["labels"][a:b] == expected["labels"], (case.id, source)
                else:  # LF truncates (infer_seqlen at the packing cutoff) instead of dropping
                    assert b - a <= case.cutoff_len, (case.id, source)
            assert set(row["labels"][segments[-1][1]:]) <= {IGNORE_INDEX}, case.id  # only padding is left
        for source in case.provenance()["dropped_too_long"]:
            assert len(plain[tuple(source)]["input_ids"]) > case.cutoff_len, (case.id, source)


def test_synthetic_sources_resolve() -> None:
    """The project's own synthetic datasets live beside the fixtures (never skipped)."""
    cases = [c for c in OK_CASES if c.dataset_dir == "synthetic"]
    assert cases
    for case in cases:
        for split in case.split_names:
            for name, index in case.input_sources(split):
                assert index < len(case.source_records(name)), (case.id, name, index)


def test_demo_sources_resolve(lf_demo_dir) -> None:
    """Row indices point into the demo files in ../shared (skips when ../shared is absent)."""
    assert resolve_dataset_dir("lf_demo") == lf_demo_dir
    for case in OK_CASES:
        if case.dataset_dir != "lf_demo":
            continue
        for split in case.split_names:
            for name, index in case.input_sources(split):
                assert index < len(read_raw_records(lf_demo_dir, name)), (case.id, name, index)


def test_ids_match_demo_texts(lf_demo_dir) -> None:
    """Provenance is right: each alpaca row's response, tokenized alone, is the trained span of the row LF
    produced for it (qwen template, qwen2.5 tokenizer; skips without ../shared)."""
    from shared_paths import shared_tokenizer

    tokenizer = shared_tokenizer("qwen2.5")
    case = get_case("sft__alpaca_en_demo__qwen__qwen2.5__default")
    eos = case.tokenizer_facts["after_fix"]["eos_token_id"]
    for record, row in zip(case.input_records(), case.rows(), strict=True):
        start = next(i for i, t in enumerate(row["labels"]) if t != IGNORE_INDEX)
        response = tokenizer.encode(record["output"], add_special_tokens=False) + [eos]
        assert row["labels"][start : start + len(response)] == response
        user = "\n".join(x for x in (record["instruction"], record["input"]) if x)
        prompt = tokenizer.encode(f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n",
                                  add_special_tokens=False)
        assert row["input_ids"][start - len(prompt) : start] == prompt
    assert load_group(case.file)[case.id]["template"]["default_system"].startswith("You are Qwen")
