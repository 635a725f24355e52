"""Explicitly mapped columns must exist: a misspelt mapping is an error, never silently "absent" data.

Before the check, ``-o prompt=instructon`` read the instruction as missing in every row: rows with an
``input`` were accepted with only the input as the user turn (the instruction silently lost), the rest
rejected for an empty prompt. LLaMA-Factory stops with a KeyError there.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from templates_hub.errors import UsageError
from templates_hub.formats import make_adapter
from templates_hub.io import load_canonical


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ALPACA = [
    {"instruction": "Translate to French", "input": "cat", "output": "chat"},
    {"instruction": "Say hi", "input": "", "output": "hi"},
]
SHAREGPT = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "tools": "[]"}]
OPENAI = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "tools": "[]"}]
TRL_PREF = [{"prompt": "q", "chosen": "good", "rejected": "bad"}]
TRL_KTO = [{"prompt": "q", "completion": "a", "label": True}]
TEXT = [{"text": "a document"}]


@pytest.mark.parametrize("rows,format,options,option,column,close", [
    (ALPACA, None, {"prompt": "instructon"}, "prompt", "instructon", "instruction"),  # detected format
    (ALPACA, "alpaca", {"prompt": "instructon"}, "prompt", "instructon", "instruction"),
    (ALPACA, "alpaca", {"query": "inptu"}, "query", "inptu", "input"),
    (ALPACA, "alpaca", {"response": "outptu"}, "response", "outptu", "output"),
    (ALPACA, "alpaca", {"system": "sytem"}, "system", "sytem", None),  # a mapped optional column too
    (SHAREGPT, None, {"messages": "conversation"}, "messages", "conversation", "conversations"),
    (SHAREGPT, "sharegpt", {"tools": "tool"}, "tools", "tool", "tools"),
    (OPENAI, "openai", {"messages": "mesages"}, "messages", "mesages", "messages"),
    (OPENAI, "openai", {"tools": "toolz"}, "tools", "toolz", "tools"),
    (TRL_PREF, "preference", {"chosen": "chosn"}, "chosen", "chosn", "chosen"),
    (TRL_PREF, "preference", {"prompt": "promt"}, "prompt", "promt", "prompt"),
    (TRL_KTO, "kto", {"completion": "completon"}, "completion", "completon", "completion"),
    (TRL_KTO, "kto", {"kto_tag": "lable"}, "kto_tag", "lable", "label"),
    (TEXT, "text", {"column": "txt"}, "column", "txt", "text"),
])
def test_a_misspelt_mapped_column_is_an_error_naming_option_column_and_columns(
        tmp_path, rows, format, options, option, column, close):
    path = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(UsageError) as info:
        load_canonical(path, format=format, options=options)
    message = str(info.value)
    assert f"column {column!r} (option {option}) is not in any row of {path}" in message
    present = list(dict.fromkeys(k for r in rows for k in r))
    first = "the first row" if len(rows) == 1 else f"the first {len(rows)} rows"
    assert f"columns of {first}: {', '.join(present)}" in message
    assert (f"did you mean {close!r}?" in message) is (close is not None)


def test_validate_cli_refuses_the_walkthrough_typo(cli_runner, tmp_path):
    from templates_hub.cli import main

    path = _jsonl(tmp_path / "alpaca.jsonl", ALPACA)
    result = cli_runner.invoke(main, ["validate", str(path), "-o", "prompt=instructon"])
    assert result.exit_code == 2, result.output
    assert "column 'instructon' (option prompt)" in result.output
    assert "columns of the first 2 rows: instruction, input, output (did you mean 'instruction'?)" in result.output
    assert not re.search(r"^\s*[\d,]+ rows:", result.output, re.M)  # nothing converted: no "313 rows: ..." summary
    assert "content is empty" not in result.output


def test_columnar_files_are_checked_against_their_header(tmp_path):
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["instruction", "answer"])
        writer.writerow(["q", "a"])
    with pytest.raises(UsageError, match=r"column 'answr' \(option response\).*columns: instruction, answer "
                                         r"\(did you mean 'answer'\?\)"):
        load_canonical(path, format="alpaca", options={"response": "answr"})
    result = load_canonical(path, format="alpaca", options={"response": "answer"})
    assert result.dataset[0]["messages"][-1]["content"] == "a"


def test_default_columns_may_be_absent_and_mapped_ones_may_be_sparse(tmp_path):
    # no input / system / history / tools columns at all: defaults, not an error
    plain = _jsonl(tmp_path / "plain.jsonl", [{"instruction": "q", "output": "a"}])
    assert len(load_canonical(plain, format="alpaca").dataset) == 1
    # a mapped column present in only some of the first rows is fine
    sparse = _jsonl(tmp_path / "sparse.jsonl", [{"q": "one", "a": "1"}, {"q": "two", "a": "2", "sys": "Be brief."}])
    result = load_canonical(sparse, format="alpaca", options={"prompt": "q", "response": "a", "system": "sys"})
    assert len(result.dataset) == 2 and result.dataset[1]["messages"][0]["content"] == "Be brief."
    # an option the row kind does not read (chosen on sft rows) is not required
    assert len(load_canonical(plain, format="alpaca", kind="sft", options={"chosen": "nope"}).dataset) == 1


def test_mapped_answer_columns_imply_the_row_kind(tmp_path):
    path = _jsonl(tmp_path / "pairs.jsonl", [{"instruction": "q", "better": "good", "worse": "bad"}])
    result = load_canonical(path, format="alpaca", options={"chosen": "better", "rejected": "worse"})
    assert result.kind == "preference" and result.dataset[0]["chosen"]["content"] == "good"


def _registry(root: Path, entries: dict) -> Path:
    (root / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


def test_a_dataset_info_columns_block_is_checked_but_defaults_are_not(tmp_path):
    _jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    _jsonl(tmp_path / "plain.jsonl", [{"instruction": "q", "output": "a"}])  # no `input` column
    root = _registry(tmp_path, {
        "typo": {"file_name": "qa.jsonl", "columns": {"prompt": "questoin", "response": "answer"}},
        "ok": {"file_name": "qa.jsonl", "columns": {"prompt": "question", "response": "answer"}},
        "defaults": {"file_name": "plain.jsonl"},
    })
    with pytest.raises(UsageError, match=r"column 'questoin' \(dataset_info.json entry 'typo': columns.prompt\) is not "
                                         r"in any row of .*qa.jsonl; columns of the first row: question, answer "
                                         r"\(did you mean 'question'\?\)"):
        load_canonical(None, dataset_info=root, dataset="typo")
    assert len(load_canonical(None, dataset_info=root, dataset="ok").dataset) == 1
    assert len(load_canonical(None, dataset_info=root, dataset="defaults").dataset) == 1


def test_recipe_data_options_typo_stops_prepare(tmp_path):
    from templates_hub.prepare import prepare
    from templates_hub.recipe import load_recipe

    _jsonl(tmp_path / "d.jsonl", ALPACA)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n  path: d.jsonl\n  format: alpaca\n  options: {prompt: instructon}\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=r"column 'instructon' \(option prompt\)"):
        prepare(load_recipe(recipe), out_dir=out, progress=False)
    assert not (out / "train.jsonl").exists()


def test_adapters_report_the_columns_they_read_per_kind():
    assert set(make_adapter("alpaca", kind="sft").read_columns()) == {"prompt", "query", "response", "history",
                                                                        "system", "tools"}
    assert set(make_adapter("alpaca", kind="preference").read_columns()) == {"prompt", "query", "history", "system",
                                                                               "tools", "chosen", "rejected"}
    assert "kto_tag" in make_adapter("sharegpt", kind="kto").read_columns()
    assert "chosen" not in make_adapter("openai", kind="sft").read_columns()
    assert make_adapter("alpaca", {"system": None}, kind="sft").read_columns().get("system") is None


def test_the_csv_qa_plugin_format_checks_its_columns():
    plugin = pytest.importorskip("templates_hub_csv_qa")
    adapter = plugin.CsvQAFormat({"context": "pasage"})
    sample = [{"question": "q", "answer": "a", "passage": "p"}]
    adapter.prepare(sample)
    with pytest.raises(UsageError, match=r"column 'pasage' \(option context\).*did you mean 'passage'"):
        adapter.check_columns(sample, "faq.csv")
    plugin.CsvQAFormat({"context": "passage"}).check_columns(sample, "faq.csv")


# ------------------------------------------------------------------ sparse columns: the whole data count
def _sparse_rows(extra: dict, before: int = 60) -> list[dict]:
    """``before`` plain alpaca rows, then one with ``extra`` (beyond the 50 rows detection samples)."""
    return [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(before)] + [
        {"instruction": "q", "input": "", "output": "a", **extra}]


SPARSE_ENTRY = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                "history": "history"}


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("layout", ["jsonl", "json", "jsonl.gz"])
def test_a_mapped_column_that_only_later_rows_hold_is_accepted(tmp_path, layout, streaming):
    """LLaMA-Factory reads such a file (missing keys are None); the check sampled 50 rows and refused it,
    and a JSON array was refused when streamed but accepted otherwise."""
    import gzip

    from templates_hub.io import peek

    rows = _sparse_rows({"system": "be brief", "history": [["hi", "hello"]]})
    path = tmp_path / f"sparse.{layout}"
    if layout == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif layout == "jsonl.gz":
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    else:
        _jsonl(path, rows)
    root = _registry(tmp_path, {"sparse": {"file_name": path.name, "columns": SPARSE_ENTRY}})
    assert peek(None, dataset_info=root, dataset="sparse") == ("alpaca", "sft")
    result = load_canonical(None, dataset_info=root, dataset="sparse", streaming=streaming)
    loaded = list(result.dataset)
    assert len(loaded) == 61
    assert [m["content"] for m in loaded[-1]["messages"]] == ["be brief", "hi", "hello", "q", "a"]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_a_misspelt_sparse_column_is_refused_naming_the_dataset_info_entry(tmp_path, layout, streaming):
    from templates_hub.io import peek

    rows = _sparse_rows({"history": [["hi", "hello"]]})
    path = tmp_path / f"sparse.{layout}"
    path.write_text(json.dumps(rows), encoding="utf-8") if layout == "json" else _jsonl(path, rows)
    root = _registry(tmp_path, {"sparse": {"file_name": path.name, "columns": {**SPARSE_ENTRY, "history": "hstory"}}})
    for attempt in (lambda: peek(None, dataset_info=root, dataset="sparse"),
                    lambda: load_canonical(None, dataset_info=root, dataset="sparse", streaming=streaming)):
        with pytest.raises(UsageError) as info:
            attempt()
        message = str(info.value)
        assert (f"column 'hstory' (dataset_info.json entry 'sparse': columns.history) is not in any row of {path}"
                in message), message
    # an explicit option overriding the entry is named as the option
    with pytest.raises(UsageError, match=r"column 'hstori' \(option history\) is not in any row"):
        load_canonical(None, dataset_info=root, dataset="sparse", options={"history": "hstori"})


def test_a_structured_file_is_checked_against_all_its_columns(tmp_path):
    """A JSON array read by datasets knows every column: the message lists them all, the sparse one included."""
    path = tmp_path / "sparse.json"
    path.write_text(json.dumps(_sparse_rows({"history": [["hi", "hello"]]})), encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_canonical(path, format="alpaca", options={"history": "hstory"})
    assert ("column 'hstory' (option history) is not in any row of "
            f"{path}; columns: instruction, input, output, history (did you mean 'history'?)") in str(info.value)


def test_a_column_held_only_by_a_later_shard_is_found(tmp_path):
    from templates_hub.io import peek

    folder = tmp_path / "shards"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", ALPACA)
    _jsonl(folder / "b.jsonl", [{"instruction": "q", "output": "a", "sys": "Be brief."}])
    options = {"system": "sys"}
    assert peek(folder, format="alpaca", options=options) == ("alpaca", "sft")  # peek opens a.jsonl only
    result = load_canonical(folder, format="alpaca", options=options)
    assert result.dataset[-1]["messages"][0]["content"] == "Be brief."
    with pytest.raises(UsageError, match=rf"column 'sytem' \(option system\) is not in any row of {re.escape(str(folder))};"):
        peek(folder, format="alpaca", options={"system": "sytem"})


def test_file_contains_finds_a_needle_across_chunk_boundaries(tmp_path):
    import gzip

    from templates_hub.formats.readers import file_contains

    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 100 + b'{"history": []}\n'))
    for chunk in (1, 3, 7, 1 << 20):
        assert file_contains(path, [b'"history"'], chunk=chunk)
        assert not file_contains(path, [b'"hstory"', b'"histories"'], chunk=chunk)
