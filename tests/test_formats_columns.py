"""Explicitly mapped columns must exist: a misspelt mapping is an error, never silently "absent" data.

Before the check, ``-o prompt=instructon`` read the instruction as missing in every row: rows with an
``input`` were accepted with only the input as the user turn (the instruction silently lost), the rest
rejected for an empty prompt. LLaMA-Factory stops with a KeyError there.
"""

from __future__ import annotations

import csv
import json
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
    assert f"column {column!r} (option {option}) is not in any of the first {len(rows)} rows of {path}" in message
    present = list(dict.fromkeys(k for r in rows for k in r))
    assert f"columns: {', '.join(present)}" in message
    assert (f"did you mean {close!r}?" in message) is (close is not None)


def test_validate_cli_refuses_the_walkthrough_typo(cli_runner, tmp_path):
    from templates_hub.cli import main

    path = _jsonl(tmp_path / "alpaca.jsonl", ALPACA)
    result = cli_runner.invoke(main, ["validate", str(path), "-o", "prompt=instructon"])
    assert result.exit_code == 2, result.output
    assert "column 'instructon' (option prompt)" in result.output
    assert "columns: instruction, input, output (did you mean 'instruction'?)" in result.output
    assert "rows:" not in result.output and "content is empty" not in result.output  # nothing converted


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
    with pytest.raises(UsageError, match=r"column 'questoin' \(option prompt\).*did you mean 'question'"):
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
