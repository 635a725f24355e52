"""``templates-hub validate`` and ``validate_file``: totals, located messages, exit codes, rejects file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from templates_hub.cli import main
from templates_hub.rejects import read_rejects
from templates_hub.validate import validate_file

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
BROKEN = FIXTURES / "broken_sharegpt.jsonl"

#: the five kinds of broken rows in the fixture: (line, field, category, reason start)
EXPECTED = [
    (2, "(line)", "bad_json", "malformed JSON: Expecting ',' delimiter"),
    (3, "conversations[1].from", "unknown_role", "unknown role tag 'robot'"),
    (4, "conversations[1].value", "empty_content", "content is empty"),
    (5, "tools", "bad_tools", "not valid JSON"),
    (6, "conversations[0].from", "turn_order", "'gpt' at turn 1 where 'human' or 'observation' is expected"),
]


def _stdout(result) -> str:
    return getattr(result, "stdout", result.output)


def test_five_kinds_of_broken_rows_give_five_located_messages_exit_1_and_five_rejects(cli_runner, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    result = cli_runner.invoke(main, ["validate", str(BROKEN), "--rejects", str(rejects)])
    out = _stdout(result)
    assert result.exit_code == 1, out
    assert "7 rows: 2 valid, 5 invalid" in out
    for line, field, _, reason in EXPECTED:
        assert f"{BROKEN}:{line}: {field}: {reason}" in out
    records = read_rejects(rejects)
    assert [(r["row"], r["field"], r["kind"]) for r in records] == [(a, b, c) for a, b, c, _ in EXPECTED]
    assert all(r["step"] == "validate" and r["source"] == str(BROKEN) and r["reason"] for r in records)
    lines = BROKEN.read_text().splitlines()
    assert records[0]["data"] == lines[1]  # the malformed line, verbatim
    assert [r["data"] for r in records[1:]] == [json.loads(lines[i - 1]) for i, *_ in EXPECTED[1:]]


def test_json_output_and_accounting(cli_runner):
    result = cli_runner.invoke(main, ["validate", str(BROKEN), "--json", "--max-errors", "2"])
    assert result.exit_code == 1
    report = json.loads(_stdout(result))
    assert (report["rows"], report["valid"], report["invalid"]) == (7, 2, 5)
    assert report["valid"] + report["invalid"] == report["rows"]
    assert report["by_reason"] == {"bad_json": 1, "unknown_role": 1, "empty_content": 1, "bad_tools": 1, "turn_order": 1}
    assert report["errors_shown"] == 2 and [e["row"] for e in report["errors"]] == [2, 3]
    assert (report["format"], report["kind"], report["detected"], report["unit"]) == ("sharegpt", "sft", True, "line")


def test_max_errors_limits_the_listing_not_the_totals(cli_runner):
    result = cli_runner.invoke(main, ["validate", str(BROKEN), "--max-errors", "1"])
    out = _stdout(result)
    assert "first 1 invalid lines (of 5):" in out and f"{BROKEN}:3:" not in out and "bad_tools" in out


def test_all_valid_exits_0_and_writes_an_empty_rejects_file(cli_runner, tmp_path):
    rejects = tmp_path / "r.jsonl"
    result = cli_runner.invoke(main, ["validate", str(FIXTURES / "alpaca.json"), "-f", "alpaca", "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    out = _stdout(result)
    assert "format alpaca (given), kind sft" in out and "3 rows: 3 valid, 0 invalid" in out
    assert rejects.exists() and read_rejects(rejects) == []


def test_rows_of_arrays_are_called_rows(cli_runner, tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"instruction": "q", "output": "a"}, {"instruction": "q", "output": ""}]))
    result = cli_runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 1 and f"{path} row 2: output: content is empty" in _stdout(result)


@pytest.mark.parametrize("name,content,message", [
    ("absent.jsonl", None, "no such file or directory"),
    ("empty.jsonl", "", "the file is empty"),
    ("array.json", '[{"instruction": "q" "output": "a"}]', "line 1, column 22: malformed JSON"),
])
def test_io_errors_exit_2_without_traceback(cli_runner, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = cli_runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    result = cli_runner.invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 2
    payload = json.loads(_stdout(result))
    assert message in payload["error"] and payload["exit_code"] == 2


def test_usage_errors_exit_2(cli_runner):
    assert cli_runner.invoke(main, ["validate"]).exit_code == 2
    result = cli_runner.invoke(main, ["validate", str(BROKEN), "--format", "nosuch"])
    assert result.exit_code == 2 and "unknown format 'nosuch'" in result.output
    result = cli_runner.invoke(main, ["validate", str(BROKEN), "-o", "novalue"])
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.output


def test_options_and_dataset_info_from_the_command_line(cli_runner, tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"q": "question", "a": "answer"}) + "\n")
    result = cli_runner.invoke(main, ["validate", str(data), "-f", "alpaca", "-o", "prompt=q", "-o", "query=null", "-o", "response=a"])
    assert result.exit_code == 0, result.output
    (tmp_path / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.jsonl", "columns": {"prompt": "q", "response": "a"}}}))
    result = cli_runner.invoke(main, ["validate", "--dataset-info", str(tmp_path), "--dataset", "qa", "--json"])
    assert result.exit_code == 0 and json.loads(_stdout(result))["valid"] == 1


def test_validate_file_api_and_streaming(tmp_path):
    report = validate_file(BROKEN, rejects_path=tmp_path / "r.jsonl")
    assert (report.total, report.valid, report.invalid, report.exit_code) == (7, 2, 5, 1)
    assert [i.row for i in report.issues] == [2, 3, 4, 5, 6]
    streamed = validate_file(BROKEN, streaming=True)
    assert (streamed.total, streamed.valid, [i.row for i in streamed.issues]) == (7, 2, [2, 3, 4, 5, 6])


@pytest.mark.shared
def test_glaive_demo_is_all_valid(cli_runner, lf_demo_dir):
    path = lf_demo_dir / "glaive_toolcall_en_demo.json"
    result = cli_runner.invoke(main, ["validate", str(path), "--format", "sharegpt"])
    assert result.exit_code == 0, result.output
    assert "300 rows: 300 valid, 0 invalid" in _stdout(result)


def test_rejects_file_never_overwrites_or_joins_the_data(cli_runner, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(BROKEN.read_text())
    result = cli_runner.invoke(main, ["validate", str(data), "--rejects", str(data)])
    assert result.exit_code == 2 and "is the data file itself" in result.output
    assert data.read_text() == BROKEN.read_text()
    result = cli_runner.invoke(main, ["validate", str(tmp_path), "--rejects", str(tmp_path / "rejects.jsonl")])
    assert result.exit_code == 2 and "is inside the data folder" in result.output
    assert not (tmp_path / "rejects.jsonl").exists()


@pytest.mark.parametrize("streaming", [False, True])
def test_bad_input_corpus_through_the_cli(cli_runner, tmp_path, streaming):
    """One file per kind of input the issue names that is not a row problem of a JSON file: located, exit 1."""
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes(b"instruction,output\nq,a\nq2,a2,extra\nq3\nr,\xff\n")
    args = ["validate", str(ragged), "--json", "--rejects", str(tmp_path / "r.jsonl")] + (["--streaming"] if streaming else [])
    result = cli_runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    report = json.loads(_stdout(result))
    assert (report["rows"], report["valid"], report["invalid"]) == (4, 1, 3)
    assert [(e["row"], e["field"], e["kind"]) for e in report["errors"]] == [
        (2, "(row)", "ragged_row"), (3, "(row)", "ragged_row"), (4, "output", "bad_encoding")]
    assert len(read_rejects(tmp_path / "r.jsonl")) == 3
