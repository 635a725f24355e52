"""Loading: every reader, the bad-input corpus with exact rows and reasons, accounting, streaming, shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from templates_hub.errors import DataError, UsageError
from templates_hub.io import LoadResult, load_canonical
from templates_hub.schemas import features

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _jsonl(path: Path, *rows: object) -> Path:
    return _write(path, "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def _accounted(result: LoadResult) -> None:
    assert result.rows_in == len(result.dataset) + len(result.rejects)
    assert result.dataset.features == features(result.kind)


def _issues(result: LoadResult) -> list[tuple[int, str, str]]:
    return [(i.row, i.field, i.kind) for i in result.rejects]


ALPACA = {"instruction": "q", "input": "", "output": "a"}
CHAT = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}


# -- readers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name,fmt,kind,rows",
    [
        ("alpaca.json", "alpaca", "sft", 3),
        ("sharegpt_tools.jsonl", "sharegpt", "sft", 2),
        ("openai.jsonl", "openai", "sft", 2),
        ("trl_preference.jsonl", "preference", "preference", 2),
        ("trl_kto.jsonl", "kto", "kto", 2),
        ("docs.txt", "text", "text", 3),
        ("qa.csv", "alpaca", "sft", 2),
    ],
)
def test_every_fixture_loads_with_detection(name, fmt, kind, rows):
    result = load_canonical(FIXTURES / name)
    assert (result.format, result.kind, result.detected) == (fmt, kind, True)
    assert len(result.dataset) == rows and not result.rejects
    _accounted(result)


def test_row_numbers_are_lines_for_json_lines_and_txt():
    result = load_canonical(FIXTURES / "docs.txt")
    assert list(result.dataset["_row"]) == [1, 3, 4]  # the blank line 2 is not a document
    assert result.unit == "line"
    result = load_canonical(FIXTURES / "alpaca.json")
    assert list(result.dataset["_row"]) == [1, 2, 3] and result.unit == "row"


def test_csv_cells_stay_text_and_empty_cells_are_empty_strings():
    result = load_canonical(FIXTURES / "qa.csv")
    rows = result.dataset.to_list()
    assert rows[0]["messages"][1]["content"] == "42"  # not the integer 42
    assert rows[1]["messages"][0]["content"] == "Summarise:\nA long, long text."


def test_parquet_arrow_and_saved_dataset(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list([ALPACA, {**ALPACA, "output": ""}])
    ds.to_parquet(str(tmp_path / "d.parquet"))
    result = load_canonical(tmp_path / "d.parquet")
    assert result.format == "alpaca" and _issues(result) == [(2, "output", "empty_content")]
    _accounted(result)
    ds.save_to_disk(str(tmp_path / "saved"))
    arrow_file = next((tmp_path / "saved").glob("*.arrow"))
    assert len(load_canonical(arrow_file).dataset) == 1
    result = load_canonical(tmp_path / "saved")
    assert len(result.dataset) == 1 and result.rows_in == 2


def test_compressed_json_lines(tmp_path):
    import gzip

    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(ALPACA) + "\n{broken\n").encode()))
    result = load_canonical(path)
    assert len(result.dataset) == 1 and _issues(result) == [(2, "(line)", "bad_json")]


def test_folder_of_shards_numbers_files_one_after_another(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", CHAT, CHAT)
    _jsonl(folder / "b.jsonl", CHAT, "{oops", CHAT)
    _write(folder / "README.md", "not data")
    result = load_canonical(folder)
    assert list(result.dataset["_row"]) == [1, 2, 3, 5]
    assert [(i.source, i.row) for i in result.rejects] == [(str(folder / "b.jsonl"), 2)]
    assert result.locate(5) == (str(folder / "b.jsonl"), 3) and result.locate(2) == (str(folder / "a.jsonl"), 2)
    _accounted(result)


def test_folder_with_mixed_types_is_refused_like_llamafactory(tmp_path):
    _jsonl(tmp_path / "a.jsonl", CHAT)
    _write(tmp_path / "b.csv", "instruction,output\nq,a\n")
    with pytest.raises(UsageError, match="file types should be identical"):
        load_canonical(tmp_path)


def test_txt_can_only_be_text(tmp_path):
    with pytest.raises(UsageError, match="only be read as format 'text'"):
        load_canonical(FIXTURES / "docs.txt", format="alpaca")


def test_explicit_format_kind_and_options(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", {"q": "question", "a": "answer"})
    result = load_canonical(path, format="alpaca", options={"prompt": "q", "query": None, "response": "a"})
    assert (result.detected, result.format) == (False, "alpaca")
    assert result.dataset[0]["messages"][1]["content"] == "answer"
    with pytest.raises(UsageError, match="cannot detect the format"):
        load_canonical(path)


def test_max_rows_counts_rows_not_blank_lines(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", CHAT, "", CHAT, "{bad", CHAT)
    result = load_canonical(path, max_rows=3)
    assert result.rows_in == 3 and list(result.dataset["_row"]) == [1, 3] and _issues(result) == [(4, "(line)", "bad_json")]


def test_num_proc_gives_the_same_rows(tmp_path):
    rows = [CHAT] * 30 + ["{bad"] + [ALPACA]
    one = load_canonical(_jsonl(tmp_path / "one.jsonl", *rows), format="sharegpt")
    two = load_canonical(_jsonl(tmp_path / "two.jsonl", *rows), format="sharegpt", num_proc=2)  # no cache reuse
    assert one.dataset.to_list() == two.dataset.to_list()
    assert _issues(one) == _issues(two) == [(31, "(line)", "bad_json"), (32, "conversations", "missing_field")]


def test_streaming_collects_rejects_while_iterating(tmp_path):
    import datasets

    path = _jsonl(tmp_path / "d.jsonl", CHAT, "{bad", CHAT)
    result = load_canonical(path, streaming=True)
    assert isinstance(result.dataset, datasets.IterableDataset) and result.rows_in is None
    rows = list(result.dataset)
    rows_again = list(result.dataset)  # iterating twice must not duplicate rejects
    assert [r["_row"] for r in rows] == [r["_row"] for r in rows_again] == [1, 3]
    assert _issues(result) == [(2, "(line)", "bad_json")]


def test_llamafactory_num_samples_is_a_seeded_permutation(tmp_path):
    import numpy as np

    from templates_hub.io import _sample_indices

    np.random.seed(42)
    expected = np.random.permutation(10)[:4]
    assert _sample_indices(10, 4, 42).tolist() == expected.tolist()
    assert len(_sample_indices(3, 5, 42)) == 5


# -- the bad-input corpus ----------------------------------------------------------------------------------

def test_malformed_json_line_is_located(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", CHAT, '{"conversations": [}', CHAT)
    result = load_canonical(path)
    issue = result.rejects[0]
    assert (issue.source, issue.row, issue.kind) == (str(path), 2, "bad_json")
    assert issue.reason.startswith("malformed JSON:") and issue.raw == '{"conversations": [}'
    _accounted(result)


def test_rows_that_are_not_objects(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", CHAT, "[1, 2]", "7")
    assert [(i.row, i.kind) for i in load_canonical(path).rejects] == [(2, "not_object"), (3, "not_object")]


def test_wrong_types_missing_keys_unknown_role_turn_order_and_empty_content(tmp_path):
    path = _jsonl(
        tmp_path / "d.jsonl",
        CHAT,
        {"conversations": [{"from": "human", "value": ["not", "text"]}, {"from": "gpt", "value": "x"}]},
        {"dialogue": []},
        {"conversations": [{"from": "human", "value": "a"}, {"from": "narrator", "value": "b"}]},
        {"conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]},
        {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": ""}]},
    )
    result = load_canonical(path, format="sharegpt")
    assert _issues(result) == [
        (2, "conversations[0].value", "wrong_type"),
        (3, "conversations", "missing_field"),
        (4, "conversations[1].from", "unknown_role"),
        (5, "conversations[1].from", "turn_order"),
        (6, "conversations[1].value", "empty_content"),
    ]
    assert result.rejects[2].reason.startswith("unknown role tag 'narrator'")
    assert result.rejects[1].raw == {"dialogue": []}  # verbatim, no columns added by Arrow
    _accounted(result)


def test_mixed_types_across_rows_do_not_break_loading(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", ALPACA, {**ALPACA, "output": 5}, {**ALPACA, "input": None})
    result = load_canonical(path)
    assert len(result.dataset) == 2 and _issues(result) == [(2, "output", "wrong_type")]


def test_tools_that_are_not_json(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", {**CHAT, "tools": "[{'name': 'single quotes'}]"})
    result = load_canonical(path, format="sharegpt")
    assert _issues(result) == [(1, "tools", "bad_tools")] and "not valid JSON" in result.rejects[0].reason


def test_invalid_utf8_rejects_only_that_line(tmp_path):
    path = _write(tmp_path / "d.jsonl", json.dumps(CHAT).encode() + b"\n" + b'{"x": "\xff\xfe"}\n' + json.dumps(CHAT).encode() + b"\n")
    result = load_canonical(path, format="sharegpt")
    assert list(result.dataset["_row"]) == [1, 3]
    assert _issues(result) == [(2, "(line)", "bad_encoding")] and "invalid UTF-8" in result.rejects[0].reason
    assert result.rejects[0].raw == '{"x": "\ufffd\ufffd"}'  # the line, bad bytes replaced
    _accounted(result)


def test_invalid_utf8_in_a_txt_file(tmp_path):
    path = _write(tmp_path / "d.txt", b"one\ntw\xc3o\nthree\n")
    result = load_canonical(path)
    assert list(result.dataset["text"]) == ["one", "three"] and _issues(result) == [(2, "(line)", "bad_encoding")]


@pytest.mark.parametrize("name,body", [
    ("d.jsonl", json.dumps(CHAT) + "\n"),
    ("d.json", json.dumps([CHAT])),
    ("d.csv", "instruction,output\nq,a\n"),
    ("d.txt", "a document\n"),
])
def test_a_byte_order_mark_is_ignored_and_noted(tmp_path, name, body):
    result = load_canonical(_write(tmp_path / name, b"\xef\xbb\xbf" + body.encode()))
    assert len(result.dataset) == 1 and not result.rejects
    assert any("byte-order mark" in n for n in result.notes)
    first = result.dataset[0]
    assert "\ufeff" not in json.dumps(first, ensure_ascii=False)


@pytest.mark.parametrize("body,message", [
    (b"", "the file is empty"),
    (b"  \n\n", "only whitespace"),
])
def test_empty_files_are_io_errors(tmp_path, body, message):
    with pytest.raises(DataError, match=message):
        load_canonical(_write(tmp_path / "d.jsonl", body))


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_canonical(tmp_path / "absent.jsonl")
    with pytest.raises(UsageError, match="unsupported file type '.xml'"):
        load_canonical(_write(tmp_path / "d.xml", "<a/>"))


def test_json_arrays_with_bad_elements_and_syntax_errors(tmp_path):
    path = _write(tmp_path / "d.json", json.dumps([ALPACA, "text", {**ALPACA, "output": 7}, ALPACA]))
    result = load_canonical(path, format="alpaca")
    assert _issues(result) == [(2, "(row)", "not_object"), (3, "output", "wrong_type")]
    assert result.rejects[1].raw == {**ALPACA, "output": 7}
    _accounted(result)
    broken = _write(tmp_path / "b.json", '[\n  {"instruction": "q",\n   "output" "a"}\n]')
    with pytest.raises(DataError, match=r"b.json: line 3, column 13: malformed JSON"):
        load_canonical(broken)
    with pytest.raises(DataError, match="holds one JSON object"):
        load_canonical(_write(tmp_path / "o.json", '{\n"a": 1,\n"b": [1]\n}'), format="alpaca")


def test_an_array_with_no_rows(tmp_path):
    with pytest.raises(DataError, match="no rows"):
        load_canonical(_write(tmp_path / "d.json", "[]"), format="alpaca")


@pytest.mark.parametrize("streaming", [False, True])
def test_csv_rows_with_bad_bytes_are_rejected_one_by_one(tmp_path, streaming):
    path = _write(tmp_path / "d.csv", b"instruction,output\nq,a\nr,\xff\nq,b\n")
    result = load_canonical(path, streaming=streaming)
    kept = list(result.dataset)
    assert [r["_row"] for r in kept] == [1, 3]
    assert _issues(result) == [(2, "output", "bad_encoding")]
    assert result.rejects[0].reason == "invalid UTF-8 (byte 0xff at byte 1)"
    assert result.rejects[0].raw == {"instruction": "r", "output": "\ufffd"}


def test_bad_bytes_in_the_csv_header_are_an_io_error(tmp_path):
    with pytest.raises(DataError, match=r"d.csv: line 1 \(the header\): invalid UTF-8"):
        load_canonical(_write(tmp_path / "d.csv", b"instruction,out\xffput\nq,a\n"))


RAGGED = b'instruction,output\nq,a\n"multi\nline",x\nq2,a2,extra\n\nq3\n  \nlast,z\n'


@pytest.mark.parametrize("streaming", [False, True])
def test_ragged_csv_rows_are_rejected_with_their_text(tmp_path, streaming):
    """pandas pads short rows with "" and stops at long ones; every ragged row must be a located reject."""
    result = load_canonical(_write(tmp_path / "d.csv", RAGGED), streaming=streaming)
    kept = list(result.dataset)
    assert [(r["_row"], r["messages"][0]["content"]) for r in kept] == [(1, "q"), (2, "multi\nline"), (6, "last")]
    assert _issues(result) == [(3, "(row)", "ragged_row"), (4, "(row)", "ragged_row"), (5, "(row)", "ragged_row")]
    assert [i.reason for i in result.rejects] == [
        "the row has 3 fields, the header has 2", "the row has 1 field, the header has 2",
        "the row has 1 field, the header has 2",
    ]
    assert [i.raw for i in result.rejects] == ["q2,a2,extra", "q3", "  "]
    if not streaming:
        _accounted(result)


def test_validate_accounts_for_ragged_csv_rows(tmp_path):
    from templates_hub.rejects import read_rejects
    from templates_hub.validate import validate_file

    report = validate_file(_write(tmp_path / "d.csv", RAGGED), rejects_path=tmp_path / "r.jsonl")
    assert (report.total, report.valid, report.invalid) == (6, 3, 3)
    assert [r["data"] for r in read_rejects(tmp_path / "r.jsonl")] == ["q2,a2,extra", "q3", "  "]


def test_csv_header_names_like_pandas_and_refuses_duplicates(tmp_path):
    result = load_canonical(_write(tmp_path / "i.csv", ",instruction,output\n0,q,a\n"))  # pandas' to_csv index
    assert len(result.dataset) == 1 and not result.rejects
    with pytest.raises(DataError, match=r"d.csv: line 1 \(the header\): column 'output' appears twice"):
        load_canonical(_write(tmp_path / "d.csv", "instruction,output,output\nq,a,b\n"))


@pytest.mark.parametrize("streaming", [False, True])
def test_a_csv_with_only_a_header_has_no_rows(tmp_path, streaming):
    from templates_hub.validate import validate_file

    with pytest.raises(DataError, match="no rows"):
        validate_file(_write(tmp_path / "d.csv", "instruction,output\n"), format="alpaca", streaming=streaming)


def test_a_single_huge_json_line_is_one_row(tmp_path):
    """The first line is longer than the head read to tell JSON Lines from a pretty-printed object."""
    result = load_canonical(_jsonl(tmp_path / "d.jsonl", {**ALPACA, "output": "x" * 200_000}))
    assert result.rows_in == 1 and len(result.dataset[0]["messages"][1]["content"]) == 200_000


# -- hub ids (the real code path, offline) ---------------------------------------------------------------

def test_hub_ids_go_through_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return datasets.Dataset.from_list([CHAT, {"conversations": []}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = load_canonical("someone/chats", split="validation")
    assert calls == [("someone/chats", {"name": None, "split": "validation", "data_dir": None, "streaming": False})]
    assert result.source == "someone/chats" and len(result.dataset) == 1
    assert [(i.source, i.row) for i in result.rejects] == [("someone/chats", 2)]


def test_unreachable_hub_id_is_a_clean_error():
    with pytest.raises(DataError, match="cannot load 'nobody-th/absent-dataset' from the Hugging Face Hub"):
        load_canonical("nobody-th/absent-dataset")


# -- the LLaMA-Factory demo files (skipped without ../shared) ----------------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("name,fmt,kind,rows,rejects", [
    ("alpaca_en_demo.json", "alpaca", "sft", 999, 0),
    ("identity.json", "alpaca", "sft", 91, 0),
    ("glaive_toolcall_en_demo.json", "sharegpt", "sft", 300, 0),
    ("dpo_en_demo.json", "sharegpt", "preference", 300, 0),
    ("kto_en_demo.json", "openai", "kto", 300, 0),
    ("c4_demo.jsonl", "text", "text", 300, 0),
    ("wiki_demo.txt", "text", "text", 30, 0),
])
def test_demo_files_load_with_detection(lf_demo_dir, name, fmt, kind, rows, rejects):
    result = load_canonical(lf_demo_dir / name)
    assert (result.format, result.kind, result.rows_in, len(result.rejects)) == (fmt, kind, rows, rejects)
    _accounted(result)


def test_a_lone_surrogate_escape_is_a_located_reject_not_a_crash(tmp_path):
    """json accepts "\\ud800" but Arrow cannot store it: the row is rejected, not the whole load."""
    bad = '{"instruction": "\\ud800 q", "output": "a"}'
    result = load_canonical(_jsonl(tmp_path / "d.jsonl", ALPACA, bad, {**ALPACA, "output": "\U0001f600"}))
    assert _issues(result) == [(2, "instruction", "bad_encoding")] and result.rejects[0].raw == bad
    assert result.dataset[1]["messages"][1]["content"] == "\U0001f600"  # a surrogate pair is a character
    _accounted(result)
    array = _write(tmp_path / "d.json", "[" + ", ".join([json.dumps(ALPACA), bad, '"not an object"']) + "]")
    assert _issues(load_canonical(array, format="alpaca")) == [(2, "instruction", "bad_encoding"), (3, "(row)", "not_object")]


def test_only_unpaired_surrogate_escapes_make_a_row_walked(tmp_path, monkeypatch):
    """ASCII-escaped JSON Lines write every emoji as a surrogate pair and Hangul / CJK as \\uXXXX escapes;
    such rows are accepted without walking the record. Only an escape that can be a lone surrogate is looked
    at, and each such row is still rejected with its field."""
    from templates_hub import io

    walked: list[object] = []
    walk = io._lone_surrogate

    def counted(value: object, path: str = "") -> str | None:
        if not path:  # a record, not one of the walk's own recursive calls
            walked.append(value)
        return walk(value, path)

    monkeypatch.setattr(io, "_lone_surrogate", counted)
    emoji = json.dumps({**ALPACA, "output": "ok \U0001f600\U0001f44d"})  # \ud83d\ude00\ud83d\udc4d
    hangul = json.dumps({**ALPACA, "instruction": "\ud55c\uad6d\uc5b4\ub85c \ub2f5\ud558\uc138\uc694"})
    upper = emoji.replace("\\ud83d\\ude00", "\\uD83D\\uDE00")
    assert "\\ud83d\\ude00" in emoji and "\\ud55c" in hangul and "\\uD83D" in upper
    lone = [
        '{"instruction": "\\ud800 q", "output": "a"}',  # a high surrogate alone
        '{"instruction": "q", "output": "a \\uDC00"}',  # a low one alone
        '{"instruction": "q", "output": "\\ud83d\\ud83d\\ude00"}',  # a high one followed by a pair
        '{"instruction": "q", "output": "x", "system": "\\\\ud83d\\ude00"}',  # escaped backslash, then a low one
    ]
    result = load_canonical(_jsonl(tmp_path / "d.jsonl", emoji, hangul, upper, *lone), format="alpaca")
    assert [m["content"] for m in result.dataset[0]["messages"]][-1] == "ok \U0001f600\U0001f44d"
    assert result.dataset[1]["messages"][0]["content"].startswith("\ud55c\uad6d\uc5b4")
    assert len(result.dataset) == 3
    assert _issues(result) == [(4, "instruction", "bad_encoding"), (5, "output", "bad_encoding"),
                               (6, "output", "bad_encoding"), (7, "system", "bad_encoding")]
    assert len(walked) == 4  # the three good rows were never walked
