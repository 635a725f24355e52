"""Format adapters: LLaMA-Factory's conversion rules, detection, writers and lossless round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates_hub.errors import DataError, PluginError, RowIssue, UsageError
from templates_hub.formats import (
    adapt_record,
    detect_format,
    format_names,
    get_format,
    make_adapter,
    write_records,
)
from templates_hub.formats.base import FormatAdapter, split_thought, translate
from templates_hub.formats.sharegpt import TOOL_RESULT_SEPARATOR
from templates_hub.schemas import validate_row

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _records(name: str) -> list[dict]:
    path = FIXTURES / name
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _convert(fmt: str, record: dict, kind: str | None = None, **options):
    adapter = make_adapter(fmt, options, kind)
    adapter.prepare([record])
    return adapt_record(adapter, record)


def _ok(fmt: str, record: dict, kind: str | None = None, **options) -> dict:
    row, problems = _convert(fmt, record, kind, **options)
    assert not problems, problems
    return row


def _msgs(row: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in row["messages"]]


# -- registration ------------------------------------------------------------------------------------

def test_builtin_formats_are_registered_through_the_hook():
    assert {"alpaca", "sharegpt", "openai", "preference", "kto", "text"} <= set(format_names())
    assert issubclass(get_format("sharegpt"), FormatAdapter)
    with pytest.raises(PluginError, match="Did you mean 'sharegpt'"):
        get_format("sharegtp")


def test_unknown_option_and_impossible_kind_are_usage_errors():
    with pytest.raises(UsageError, match="no option 'colums'"):
        make_adapter("alpaca", {"colums": "x"})
    with pytest.raises(UsageError, match="cannot hold 'text'"):
        make_adapter("sharegpt", kind="text")


# -- alpaca (LLaMA-Factory AlpacaDatasetConverter) -------------------------------------------------------

def test_alpaca_joins_the_non_empty_of_instruction_and_input_with_a_newline():
    a, b, c = _records("alpaca.json")
    assert _msgs(_ok("alpaca", a)) == [("user", "Translate to French\nGood morning"), ("assistant", "Bonjour")]
    assert _msgs(_ok("alpaca", b)) == [("system", "You are terse."), ("user", "Say hi"), ("assistant", "Hi!")]
    assert _msgs(_ok("alpaca", {"instruction": "", "input": "only input", "output": "x"})) == [
        ("user", "only input"), ("assistant", "x")]


def test_alpaca_history_pairs_come_first():
    row = _ok("alpaca", _records("alpaca.json")[2])
    assert _msgs(row) == [("user", "Are you there?"), ("assistant", "Yes."), ("user", "Good."),
                          ("assistant", "Thanks."), ("user", "And now?"), ("assistant", "Still here.")]


def test_alpaca_problems_point_at_the_raw_columns():
    _, problems = _convert("alpaca", {"instruction": "q", "input": "", "output": ""})
    assert problems == [("output", "content is empty (a message needs content unless it makes tool_calls)", "empty_content")]
    _, problems = _convert("alpaca", {"instruction": "q", "output": 3})
    assert problems == [("output", "must be a string, got a number", "wrong_type")]
    _, problems = _convert("alpaca", {"instruction": "q", "output": "a", "history": [["only one"]]})
    assert problems[0][:2] == ("history[0]", "must be a [prompt, response] pair")
    _, problems = _convert("alpaca", {"input": None, "output": "a"})
    assert problems == [("instruction", "required field is missing", "missing_field")]


def test_alpaca_preference_and_kto_columns():
    row = _ok("alpaca", {"instruction": "q", "input": "", "chosen": "good", "rejected": "bad"}, "preference")
    assert row["chosen"]["content"] == "good" and row["rejected"]["content"] == "bad" and _msgs(row) == [("user", "q")]
    row = _ok("alpaca", {"instruction": "q", "output": "a", "label": False}, "kto")
    assert row["label"] is False
    _, problems = _convert("alpaca", {"instruction": "q", "output": "a", "label": "maybe"}, "kto")
    assert problems[0][0] == "label" and problems[0][2] == "bad_label"


def test_alpaca_custom_columns_like_dataset_info():
    record = {"question": "q?", "answer": "a.", "sys": "be nice"}
    row = _ok("alpaca", record, prompt="question", query=None, response="answer", system="sys")
    assert _msgs(row) == [("system", "be nice"), ("user", "q?"), ("assistant", "a.")]


# -- sharegpt (LLaMA-Factory SharegptDatasetConverter) ---------------------------------------------------

def test_sharegpt_tool_calls_observations_tools_and_system_turn():
    plain, tools = _records("sharegpt_tools.jsonl")
    assert _msgs(_ok("sharegpt", plain)) == [("user", "Hi"), ("assistant", "Hello! How can I help?")]
    row = _ok("sharegpt", tools)
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    calls = row["messages"][2]["tool_calls"]
    assert [c["name"] for c in calls] == ["get_weather", "get_weather"]  # parallel calls from a JSON list
    assert json.loads(calls[1]["arguments"]) == {"city": "Rome"}
    assert row["messages"][2]["content"] == ""
    assert json.loads(row["tools"])[0]["name"] == "get_weather"


def test_sharegpt_system_turn_wins_over_system_column():
    record = {"conversations": [{"from": "system", "value": "turn"}, {"from": "human", "value": "a"},
                                {"from": "gpt", "value": "b"}], "system": "column"}
    assert _msgs(_ok("sharegpt", record))[0] == ("system", "turn")
    record["conversations"] = record["conversations"][1:]
    assert _msgs(_ok("sharegpt", record))[0] == ("system", "column")


@pytest.mark.parametrize(
    "turns,field,reason_part,category",
    [
        ([("human", "a"), ("gpt", "b"), ("human", "c")], "conversations", "needs an even number", "turn_order"),
        ([("human", "a"), ("human", "b")], "conversations[1].from", "'human' at turn 2", "turn_order"),
        ([("human", "a"), ("system", "b")], "conversations[1].from", "only allowed as the first", "turn_order"),
        ([("human", "a"), ("bot", "b")], "conversations[1].from", "unknown role tag 'bot'", "unknown_role"),
        ([("human", "a"), ("function_call", "{bad")], "conversations[1].value", "function call is not valid JSON", "bad_tool_call"),
        ([("human", "a"), ("function_call", '{"arguments": {}}')], "conversations[1].value", "no name", "bad_tool_call"),
        ([("human", "a"), ("human", "b"), ("gpt", "c")], "conversations[1].from",
         "where 'gpt' or 'function_call' is expected", "turn_order"),
    ],
)
def test_sharegpt_rejects_are_located_in_the_raw_record(turns, field, reason_part, category):
    record = {"conversations": [{"from": f, "value": v} for f, v in turns]}
    row, problems = _convert("sharegpt", record)
    assert row is None
    assert problems[0][0] == field and reason_part in problems[0][1] and problems[0][2] == category


def test_sharegpt_wrong_types_and_missing_keys():
    assert _convert("sharegpt", {"conversations": "hello"})[1][0][:2] == ("conversations", "must be a list, got a string")
    assert _convert("sharegpt", {"other": 1})[1][0][:2] == ("conversations", "required field is missing")
    problems = _convert("sharegpt", {"conversations": [{"from": "human"}, {"from": "gpt", "value": "x"}]})[1]
    assert problems[0][:2] == ("conversations[0].value", "required field is missing")
    problems = _convert("sharegpt", {"conversations": [{"from": "human", "value": 5}, {"from": "gpt", "value": "x"}]})[1]
    assert problems[0][:2] == ("conversations[0].value", "must be a string, got a number")
    problems = _convert("sharegpt", {"conversations": [{"value": "a"}, {"from": "gpt", "value": "x"}]})[1]
    assert problems[0][:2] == ("conversations[0].from", "required field is missing")


def test_sharegpt_tools_must_be_a_json_list():
    base = {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}
    assert _convert("sharegpt", {**base, "tools": "{oops"})[1][0][0::2] == ("tools", "bad_tools")
    assert _convert("sharegpt", {**base, "tools": '{"name": "f"}'})[1][0][0::2] == ("tools", "bad_tools")
    assert _ok("sharegpt", {**base, "tools": ""})["tools"] is None


def test_sharegpt_custom_tags_are_llamafactory_openai_style():
    record = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "label": True}
    tags = dict(messages="messages", role_tag="role", content_tag="content", user_tag="user", assistant_tag="assistant")
    row = _ok("sharegpt", record, "kto", **tags)
    assert _msgs(row) == [("user", "a"), ("assistant", "b")] and row["label"] is True


def test_sharegpt_preference_rows_need_an_odd_prompt():
    record = {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "good"},
              "rejected": {"from": "function_call", "value": '{"name": "f", "arguments": {}}'}}
    row = _ok("sharegpt", record, "preference")
    assert row["chosen"]["content"] == "good" and row["rejected"]["tool_calls"][0]["name"] == "f"
    record["chosen"] = {"from": "human", "value": "x"}
    assert _convert("sharegpt", record, "preference")[1][0][0] == "chosen.from"


def test_sharegpt_function_call_with_thought_prefix():
    value = "<think>\nneed weather\n</think>\n\n" + json.dumps({"name": "w", "arguments": {"c": 1}})
    record = {"conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": value},
                                {"from": "observation", "value": "r"}, {"from": "gpt", "value": "done"}]}
    row = _ok("sharegpt", record)
    assert row["messages"][1]["reasoning"] == "need weather"
    assert write_records([row], layout="sharegpt", kind="sft")[0] == record


def test_reasoning_is_kept_in_content_by_default_and_split_on_request():
    text = "<think>\nhmm\n</think>\n\nanswer"
    record = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": text}]}
    assert _ok("sharegpt", record)["messages"][1]["content"] == text  # LLaMA-Factory keeps it in the text
    split = _ok("sharegpt", record, reasoning="split")["messages"][1]
    assert (split["reasoning"], split["content"]) == ("hmm", "answer")
    assert split_thought("<think>no end") == (None, "<think>no end")


# -- openai ----------------------------------------------------------------------------------------------

def test_openai_tool_calls_tool_results_parts_reasoning_and_weight():
    first, second = _records("openai.jsonl")
    row = _ok("openai", first)
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert row["messages"][2]["tool_calls"] == [{"name": "get_weather", "arguments": '{"city": "Oslo"}'}]
    assert row["messages"][4]["reasoning"] == "The tool said -3."
    assert json.loads(row["tools"])[0]["function"]["name"] == "get_weather"
    row = _ok("openai", second)
    assert row["messages"][0]["content"] == "Hello there" and row["messages"][1]["train"] is False


def test_openai_keeps_consecutive_tool_results_and_reports_unknown_roles():
    record = {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]},
        {"role": "tool", "content": "ra"}, {"role": "tool", "content": "rb"}, {"role": "assistant", "content": "ok"}]}
    row = _ok("openai", record)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]
    assert row["messages"][1]["tool_calls"][1]["arguments"] == '{"x": 1}'
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "x"}]}
    assert _convert("openai", bad)[1][0][:1] == ("messages[1].role",)
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "image_url"}]}]}
    assert "only text content parts" in _convert("openai", bad)[1][0][1]


def test_openai_problem_paths_come_from_the_schema_translated():
    record = {"messages": [{"role": "assistant", "content": "first"}, {"role": "user", "content": "then"}]}
    problems = _convert("openai", record)[1]
    fields = [p[0] for p in problems]
    assert "messages[0].role" in fields and all(p[2] == "turn_order" for p in problems)
    assert translate("messages[2].content", {"messages[2].content": "conversations[3].value"}) == "conversations[3].value"
    assert translate("messages[2].tool_calls[0].name", {"messages[2]": "c[3]"}) == "c[3].tool_calls[0].name"


# -- preference / kto / text -----------------------------------------------------------------------------

def test_trl_preference_explicit_and_implicit_prompts():
    plain, conversational = _records("trl_preference.jsonl")
    row = _ok("preference", plain)
    assert _msgs(row) == [("user", "Name a colour.")] and row["chosen"]["content"] == "Blue."
    assert _ok("preference", conversational)["rejected"]["content"] == "5"
    implicit = _ok("preference", _records("trl_preference_implicit.jsonl")[0])
    assert _msgs(implicit) == [("user", "Capital of France?")]
    assert (implicit["chosen"]["content"], implicit["rejected"]["content"]) == ("Paris.", "Lyon.")
    diverging = {"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"}],
                 "rejected": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}]}
    assert "share the same prompt" in _convert("preference", diverging)[1][0][1]


def test_ultrafeedback_style_answers_repeating_the_prompt():
    record = {"prompt": "hi", "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
              "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}]}
    row = _ok("preference", record)
    assert _msgs(row) == [("user", "hi")] and row["rejected"]["content"] == "go away"


def test_preference_adapter_reads_llamafactory_shapes_too():
    record = {"instruction": "q", "input": "", "chosen": "a", "rejected": "b"}
    adapter = make_adapter("preference")
    adapter.prepare([record])
    assert adapter.options["shape"] == "alpaca"
    row, problems = adapt_record(adapter, record)
    assert not problems and row["chosen"]["content"] == "a"


def test_trl_kto_rows():
    plain, conversational = _records("trl_kto.jsonl")
    row = _ok("kto", plain)
    assert _msgs(row) == [("user", "Is the sky blue?"), ("assistant", "Yes, on a clear day.")] and row["label"] is True
    assert _ok("kto", conversational)["label"] is False
    assert _convert("kto", {"prompt": "q", "completion": "a", "label": 3})[1][0][0::2] == ("label", "bad_label")


def test_text_documents():
    assert _ok("text", {"text": "hello"}) == {"text": "hello"}
    assert _convert("text", {"text": "   "})[1][0][0::2] == ("text", "empty_content")
    assert _ok("text", {"content": "doc"}, column="content") == {"text": "doc"}


# -- detection -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fixture,fmt,kind",
    [
        ("alpaca.json", "alpaca", "sft"),
        ("sharegpt_tools.jsonl", "sharegpt", "sft"),
        ("openai.jsonl", "openai", "sft"),
        ("trl_preference.jsonl", "preference", "preference"),
        ("trl_preference_implicit.jsonl", "preference", "preference"),
        ("trl_kto.jsonl", "kto", "kto"),
    ],
)
def test_detection_on_fixtures(fixture, fmt, kind):
    adapter, found = detect_format(_records(fixture))
    assert (adapter.name, found.kind) == (fmt, kind)
    assert found.score >= 0.5 and found.evidence


def test_detection_of_kinds_in_llamafactory_shapes():
    pref = [{"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"},
             "rejected": {"from": "gpt", "value": "b"}}]
    assert (detect_format(pref)[0].name, detect_format(pref)[1].kind) == ("sharegpt", "preference")
    kto = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "label": True}]
    assert (detect_format(kto)[0].name, detect_format(kto)[1].kind) == ("openai", "kto")
    other_column = [{"dialog": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}]
    assert detect_format(other_column)[1].options == {"messages": "dialog"}


def test_undetectable_rows_name_the_columns_seen():
    with pytest.raises(UsageError, match=r"columns seen: foo, bar.*--format"):
        detect_format([{"foo": 1, "bar": 2}], source="x.jsonl")


# -- writers ---------------------------------------------------------------------------------------------

def test_writers_produce_each_layout():
    row = _ok("sharegpt", _records("sharegpt_tools.jsonl")[1])
    openai = write_records([row], layout="openai", kind="sft")[0]
    assert openai["messages"][2]["tool_calls"][0] == {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert isinstance(openai["tools"], list)
    sharegpt = write_records([{**row, "_row": 7}], layout="sharegpt", kind="sft")[0]
    assert "_row" not in sharegpt and sharegpt == _records("sharegpt_tools.jsonl")[1]
    alpaca_row = _ok("alpaca", _records("alpaca.json")[2])
    assert write_records([alpaca_row], layout="alpaca", kind="sft")[0] == {
        "instruction": "And now?", "input": "", "output": "Still here.", "history": [["Are you there?", "Yes."], ["Good.", "Thanks."]]}


def test_unrepresentable_rows_raise_or_become_rejects():
    row = _ok("sharegpt", _records("sharegpt_tools.jsonl")[1])
    with pytest.raises(DataError, match=r"row 1, messages\[2\].tool_calls: cannot write as alpaca"):
        write_records([row], layout="alpaca", kind="sft")
    rejects: list[RowIssue] = []
    flagged = {**row, "_row": 9, "messages": [*row["messages"][:-1], {**row["messages"][-1], "train": False}]}
    out = write_records([flagged, _ok("alpaca", _records("alpaca.json")[0])], layout="sharegpt", kind="sft", rejects=rejects)
    assert len(out) == 1 and len(rejects) == 1
    assert (rejects[0].row, rejects[0].field, rejects[0].kind) == (9, "messages[4].train", "unrepresentable")


def test_sharegpt_writer_merges_parallel_tool_results_like_llamafactory():
    row = _ok("openai", {"messages": [
        {"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"name": "a"}, {"name": "b"}]},
        {"role": "tool", "content": "ra"}, {"role": "tool", "content": "rb"}, {"role": "assistant", "content": "ok"}]})
    out = write_records([row], layout="sharegpt", kind="sft")[0]["conversations"]
    assert [t["from"] for t in out] == ["human", "function_call", "observation", "gpt"]
    assert out[2]["value"] == "ra" + TOOL_RESULT_SEPARATOR + "rb"
    with pytest.raises(DataError, match="consecutive tool results"):
        write_records([row], layout="sharegpt", kind="sft", options={"merge_tool_results": False})


def test_trl_writers_for_preference_and_kto():
    pref = _ok("preference", _records("trl_preference.jsonl")[0])
    out = write_records([pref], layout="preference", kind="preference")[0]
    assert out == {"prompt": [{"role": "user", "content": "Name a colour."}], "chosen": [{"role": "assistant", "content": "Blue."}],
                   "rejected": [{"role": "assistant", "content": "Seven."}]}
    assert _ok("preference", out) == pref
    kto = _ok("kto", _records("trl_kto.jsonl")[1])
    assert _ok("kto", write_records([kto], layout="kto", kind="kto")[0]) == kto


# -- round trips (hypothesis) ----------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: not s.startswith("<think>"))
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=6)
_arguments = st.dictionaries(st.text(min_size=1, max_size=6), _json_value, max_size=3).map(
    lambda d: json.dumps(d, ensure_ascii=False))
_call = st.builds(lambda n, a: {"name": n, "arguments": a}, st.from_regex(r"[a-z_]{1,8}", fullmatch=True), _arguments)
_tools = st.none() | st.lists(st.fixed_dictionaries({"name": st.from_regex(r"[a-z]{1,6}", fullmatch=True), "description": _text}),
                              min_size=1, max_size=2).map(lambda t: json.dumps(t, ensure_ascii=False))


def _msg(role, content, tool_calls=None, reasoning=None, train=None):
    return {"role": role, "content": content, "tool_calls": tool_calls, "reasoning": reasoning, "train": train}


@st.composite
def conversations(draw, *, tools_ok=True, parallel_results=True, text_with_calls=True, reasoning_ok=True, train_ok=True):
    """Valid canonical SFT rows within what a layout can hold."""
    reasoning = (st.none() | _text.filter(lambda s: "</think>" not in s)) if reasoning_ok else st.none()
    train = st.none() | st.booleans() if train_ok else st.none()
    messages = []
    if draw(st.booleans()):
        messages.append(_msg("system", draw(_text)))
    for _ in range(draw(st.integers(1, 3))):
        messages.append(_msg("user", draw(_text), train=draw(train)))
        if tools_ok and draw(st.booleans()):
            calls = draw(st.lists(_call, min_size=1, max_size=3))
            content = draw(st.just("") | _text) if text_with_calls else ""
            messages.append(_msg("assistant", content, calls, draw(reasoning), draw(train)))
            results = draw(st.integers(1, len(calls))) if parallel_results else 1
            messages += [_msg("tool", draw(_text)) for _ in range(results)]
        messages.append(_msg("assistant", draw(_text), None, draw(reasoning), draw(train)))
    return {"messages": messages, "tools": draw(_tools) if tools_ok else None}


def _round_trip(row: dict, layout: str, **read_options) -> dict:
    record = write_records([row], layout=layout, kind="sft")[0]
    json.loads(json.dumps(record))  # records are plain JSON
    back, problems = _convert(layout, record, "sft", **read_options)
    assert not problems, (record, problems)
    return back


_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(conversations())
def test_canonical_openai_canonical_is_lossless(row):
    assert validate_row("sft", row) == (row, [])
    assert _round_trip(row, "openai") == row


@_settings
@given(conversations(parallel_results=False, text_with_calls=False, train_ok=False))
def test_canonical_sharegpt_canonical_is_lossless(row):
    assert validate_row("sft", row) == (row, [])
    assert _round_trip(row, "sharegpt", reasoning="split") == row


@_settings
@given(conversations(tools_ok=False, train_ok=False))
def test_canonical_alpaca_canonical_is_lossless(row):
    assert _round_trip(row, "alpaca", reasoning="split") == row


@st.composite
def sharegpt_records(draw):
    """Raw ShareGPT records in LLaMA-Factory's own shape (function_call values as json.dumps writes them)."""
    turns = []
    if draw(st.booleans()):
        turns.append({"from": "system", "value": draw(_text)})
    for _ in range(draw(st.integers(1, 3))):
        turns.append({"from": "human", "value": draw(_text)})
        if draw(st.booleans()):
            calls = [{"name": c["name"], "arguments": json.loads(c["arguments"])} for c in draw(st.lists(_call, min_size=1, max_size=2))]
            turns.append({"from": "function_call", "value": json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)})
            turns.append({"from": "observation", "value": draw(_text)})
        turns.append({"from": "gpt", "value": draw(_text)})
    record = {"conversations": turns}
    tools = draw(_tools)
    if tools is not None:
        record["tools"] = tools
    return record


@_settings
@given(sharegpt_records())
def test_raw_sharegpt_canonical_raw_is_lossless(record):
    row = _ok("sharegpt", record)
    assert write_records([row], layout="sharegpt", kind="sft")[0] == record


@_settings
@given(st.fixed_dictionaries(
    {"instruction": _text, "input": st.just(""), "output": _text},
    optional={"system": _text, "history": st.lists(st.tuples(_text, _text).map(list), min_size=1, max_size=2)}))
def test_raw_alpaca_canonical_raw_is_lossless(record):
    row = _ok("alpaca", record)
    assert write_records([row], layout="alpaca", kind="sft")[0] == record


# -- LLaMA-Factory demo files (skipped without ../shared) ---------------------------------------------

@pytest.mark.shared
def test_demo_files_convert_and_glaive_round_trips_exactly(lf_demo_dir):
    glaive = json.loads((lf_demo_dir / "glaive_toolcall_en_demo.json").read_text())
    adapter = make_adapter("sharegpt", kind="sft")
    rows = []
    for record in glaive:
        row, problems = adapt_record(adapter, record)
        assert not problems
        rows.append(row)
    assert write_records(rows, layout="sharegpt", kind="sft") == glaive
    assert sum(1 for r in rows for m in r["messages"] if m["tool_calls"]) == 211
    alpaca = json.loads((lf_demo_dir / "alpaca_en_demo.json").read_text())
    adapter = make_adapter("alpaca", kind="sft")
    for record in alpaca[:200]:
        row, problems = adapt_record(adapter, record)
        assert not problems
        user = "\n".join(p for p in (record["instruction"], record["input"]) if p)
        assert row["messages"][-2]["content"] == user and row["messages"][-1]["content"] == record["output"]


@pytest.mark.shared
@pytest.mark.parametrize(
    "name,fmt,kind",
    [("dpo_en_demo.json", "preference", "preference"), ("kto_en_demo.json", "kto", "kto"), ("c4_demo.jsonl", "text", "text")],
)
def test_demo_files_through_kind_adapters(lf_demo_dir, name, fmt, kind):
    path = lf_demo_dir / name
    records = json.loads(path.read_text()) if path.suffix == ".json" else [json.loads(x) for x in path.read_text().splitlines()]
    adapter = make_adapter(fmt)
    adapter.prepare(records[:20])
    bad = [p for r in records for _, p in [adapt_record(adapter, r)] if p]
    assert adapter.kind == kind and not bad
