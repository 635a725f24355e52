"""Filters: each built-in, unicode / CJK / empty edge cases, the accounting invariant, parameter errors,
picklability, plugins, and num_proc giving the same result as one process."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates_hub import hookimpl
from templates_hub.errors import ConfigError, PluginError
from templates_hub.filters import FilterSpec, apply_filters, build_filter
from templates_hub.filters.base import POSITION_COLUMN, Filter
from templates_hub.filters.content import compile_terms
from templates_hub.plugins import get_registry
from templates_hub.schemas import features

BUILTINS = ["blocklist", "empty_turns", "exact_dedup", "near_dedup", "prompt_length", "regex", "response_length",
            "tool_calls", "turns"]


def msg(role, content="", tool_calls=None):
    return {"role": role, "content": content, "tool_calls": tool_calls, "reasoning": None, "train": None}


def conv(*turns, system=None, tools=None, row=None):
    """conv("question", "answer", "q2", "a2", system=...) -> a canonical sft row."""
    messages = [msg("system", system)] if system is not None else []
    for i, text in enumerate(turns):
        messages.append(msg("user" if i % 2 == 0 else "assistant", text) if isinstance(text, str) else text)
    return {"messages": messages, "tools": tools, "_row": row}


def dataset(rows, kind="sft"):
    from datasets import Dataset

    rows = [{**r, "_row": r.get("_row") or i + 1} for i, r in enumerate(rows)]  # copies: callers reuse rows
    if not rows:  # from_list cannot build an empty dataset with features
        return Dataset.from_dict({name: [] for name in features(kind)}, features=features(kind))
    return Dataset.from_list(rows, features=features(kind))


def run(rows, *specs, kind="sft", **kw):
    return apply_filters(dataset(rows, kind), list(specs), **kw)


def verdicts(spec, rows, kind="sft", tokenizer=None):
    """Reason (or None) per row, through apply_filters."""
    result = run(rows, spec, kind=kind, tokenizer=tokenizer)
    by_row = {r.row: r.reason for r in result.rejects}
    return [by_row.get(i + 1) for i in range(len(rows))]


# --------------------------------------------------------------------------- registry and contract
def test_builtins_registered_with_descriptions():
    registry = get_registry("filters")
    for name in BUILTINS:
        cls = registry.get(name)
        assert issubclass(cls, Filter) and cls.name == name and cls.describe()


def test_docs_cover_every_builtin_filter_and_parameter(repo_root):
    text = (repo_root / "docs" / "filters.md").read_text(encoding="utf-8")
    for name in BUILTINS:
        assert f"### `{name}`" in text
        for param in get_registry("filters").get(name).model_fields:
            assert f"`{param}`" in text, f"docs/filters.md does not document {name}.{param}"


def test_unknown_parameter_names_filter_and_parameter():
    with pytest.raises(ConfigError) as err:
        build_filter({"name": "response_length", "min": 6, "mni": 3}, where="filters[2]")
    assert err.value.problems[0][0] == "filters[2].mni"
    assert "response_length" in str(err.value) and "mni" in str(err.value) and "did you mean 'min'" in str(err.value)


@pytest.mark.parametrize(
    "spec,path,text",
    [
        ({"name": "response_length", "min": -1}, "filters[0].min", "must be >= 0"),
        ({"name": "response_length", "min": 9, "max": 3}, "filters[0].max", "must be >= min"),
        ({"name": "response_length"}, "filters[0].min", "give min, max or both"),
        ({"name": "response_length", "min": 1, "unit": "lines"}, "filters[0].unit", "'chars', 'words' or 'tokens'"),
        ({"name": "regex", "pattern": "(unclosed"}, "filters[0].pattern", "invalid regular expression"),
        ({"name": "blocklist"}, "filters[0].words", "at least one word"),
        ({"name": "blocklist", "file": "/nonexistent/words.txt"}, "filters[0].file", "no such file"),
        ({"name": "near_dedup", "threshold": 1.5}, "filters[0].threshold", "must be <= 1"),
        ({"name": "no_such_filter"}, "filters[0].name", "unknown filter 'no_such_filter'"),
    ],
)
def test_parameter_errors_are_located(spec, path, text):
    with pytest.raises(ConfigError) as err:
        build_filter(spec, where="filters[0]")
    assert any(p == path and text in m for p, m in err.value.problems), err.value.problems


def test_bare_name_and_spec_forms():
    assert FilterSpec.model_validate("empty_turns").name == "empty_turns"
    flt = build_filter(FilterSpec(name="response_length", min=6))
    assert flt.min == 6 and flt.unit == "chars"


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "response_length", "min": 6},
        {"name": "prompt_length", "max": 100, "unit": "words"},
        {"name": "turns", "max": 3},
        {"name": "empty_turns"},
        {"name": "blocklist", "words": ["foo", "赌博"]},
        {"name": "regex", "pattern": r"\bas an ai\b", "ignore_case": True},
        {"name": "exact_dedup"},
        {"name": "near_dedup", "threshold": 0.7},
        {"name": "tool_calls"},
    ],
)
def test_filters_are_picklable(spec):
    flt = build_filter(spec)
    clone = pickle.loads(pickle.dumps(flt))
    assert type(clone) is type(flt) and clone.model_dump() == flt.model_dump()
    rows = [conv("hello there", "general kenobi"), conv("hi", "ok")]
    if not flt.stateful:
        batch = dataset(rows).to_dict()
        assert clone(batch) == flt(batch)


def test_fitted_dedup_filter_pickles_with_its_state():
    flt = build_filter("exact_dedup")
    ds = dataset([conv("a", "answer one"), conv("a", "answer one")]).add_column(POSITION_COLUMN, [0, 1])
    flt.fit(ds)
    clone = pickle.loads(pickle.dumps(flt))
    assert clone(ds.to_dict()) == [None, "duplicate of row 1"]


# --------------------------------------------------------------------------- length
def test_response_length_is_the_seed_keep_example():
    # the notebook keeps rows with len(output.strip()) > 5
    rows = [conv("q", "12345"), conv("q", "123456"), conv("q", "  12345  "), conv("q", "\n123456\n"), conv("q", "     ")]
    got = verdicts({"name": "response_length", "min": 6}, rows)
    assert [g is None for g in got] == [len(r["messages"][1]["content"].strip()) > 5 for r in rows]
    assert got[0] == "response is 5 chars (min 6)"


def test_response_length_units_and_scopes(tiny_tokenizer):
    rows = [conv("q", "one two three", "q2", "four"), conv("q", "一二三四五六七八")]
    assert verdicts({"name": "response_length", "min": 2, "unit": "words"}, rows) == [
        "response is 1 word (min 2)", "response is 1 word (min 2)"]  # CJK has no spaces: one "word"
    assert verdicts({"name": "response_length", "max": 7, "unit": "chars"}, rows)[1] == "response is 8 chars (max 7)"
    each = verdicts({"name": "response_length", "min": 2, "unit": "words", "scope": "each"}, rows)
    assert each[0] == "messages[3] (assistant) is 1 word (min 2)"
    total = verdicts({"name": "response_length", "min": 5, "unit": "words", "scope": "total"}, rows[:1])
    assert total == ["assistant messages is 4 words (min 5)"]
    n_tokens = len(tiny_tokenizer("一二三四五六七八", add_special_tokens=False)["input_ids"])
    got = verdicts({"name": "response_length", "max": n_tokens - 1, "unit": "tokens"}, rows[1:], tokenizer=tiny_tokenizer)
    assert got == [f"response is {n_tokens} tokens (max {n_tokens - 1})"]


def test_tokens_unit_needs_a_tokenizer():
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        run([conv("q", "answer")], {"name": "response_length", "min": 1, "unit": "tokens"})


def test_response_length_on_preference_rows_checks_chosen_and_rejected():
    row = {"messages": [msg("user", "pick one")], "chosen": msg("assistant", "a long good answer"),
           "rejected": msg("assistant", "bad"), "tools": None}
    assert verdicts({"name": "response_length", "min": 6}, [row], kind="preference") == ["rejected is 3 chars (min 6)"]


def test_prompt_length_roles_and_scopes():
    rows = [conv("short", "answer", "a much longer second question here", "answer", system="you are a system prompt")]
    assert verdicts({"name": "prompt_length", "max": 6, "unit": "words"}, rows) == ["prompt is 7 words (max 6)"]
    assert verdicts({"name": "prompt_length", "min": 2, "unit": "words", "scope": "each"}, rows) == [
        "messages[1] (user) is 1 word (min 2)"]
    assert verdicts({"name": "prompt_length", "max": 6, "unit": "words", "scope": "last"}, rows) == [None]
    with_system = {"name": "prompt_length", "max": 10, "unit": "words", "roles": ["system", "user"]}
    assert verdicts(with_system, rows) == ["prompt is 12 words (max 10)"]


def test_turns():
    rows = [conv("a", "b"), conv("a", "b", "c", "d", "e", "f")]
    assert verdicts({"name": "turns", "max": 2}, rows) == [None, "conversation is 3 turns (max 2)"]
    assert verdicts({"name": "turns", "min": 2}, rows) == ["conversation is 1 turn (min 2)", None]


# --------------------------------------------------------------------------- empty turns
def test_empty_turns_unicode_blank():
    rows = [
        conv("question", "fine answer"),
        conv("\u3000\u3000", "answer"),  # ideographic spaces only
        conv("question", "\u200b\u200d"),  # zero-width characters only
        conv("question", "\t\n "),
        conv("问题", "回答"),
    ]
    got = verdicts({"name": "empty_turns"}, rows)
    assert got[0] is None and got[4] is None
    assert got[1] == "messages[0] (user) is whitespace-only"
    assert got[2] == "messages[1] (assistant) is whitespace-only"
    assert got[3] == "messages[1] (assistant) is whitespace-only"
    assert verdicts({"name": "empty_turns", "roles": ["user"]}, rows)[2] is None


def test_empty_turns_ignores_tool_call_messages_and_handles_text_rows():
    call = msg("assistant", "", [{"name": "f", "arguments": "{}"}])
    rows = [conv("q", call, msg("tool", "42"), "the answer is 42")]
    rows[0]["messages"] = [rows[0]["messages"][0], call, msg("tool", "42"), msg("assistant", "the answer is 42")]
    assert verdicts({"name": "empty_turns"}, rows) == [None]
    texts = [{"text": "a document"}, {"text": " \n "}]
    assert verdicts({"name": "empty_turns"}, texts, kind="text") == [None, "text is whitespace-only"]


# --------------------------------------------------------------------------- blocklist
def test_blocklist_whole_word_is_case_insensitive_and_script_aware():
    spec = {"name": "blocklist", "words": ["ass", "赌博", "Social Security Number", "c++"]}
    rows = [
        conv("a class about grass", "fine"),  # substring only: kept
        conv("what an ASS.", "hmm"),  # whole word, other case
        conv("我不赌博了", "好的好的好的"),  # CJK: no word boundaries to respect
        conv("用ass写", "答案"),  # Latin term touching CJK characters: still a whole word
        conv("my social   security\nnumber is", "x"),  # phrase across whitespace
        conv("ＡＳＳ in full width", "x"),  # NFKC folds full-width letters
        conv("I like c++ a lot", "x"),  # term ending in punctuation
        conv("assess this", "x"),
    ]
    got = verdicts(spec, rows)
    assert got[0] is None and got[7] is None
    assert got[1] == "blocked term 'ass' in messages[0] (user)"
    assert got[2] == "blocked term '赌博' in messages[0] (user)"
    assert got[3] is not None and got[5] is not None and got[6] is not None
    assert got[4] == "blocked term 'social security number' in messages[0] (user)"  # reported normalised


def test_blocklist_substring_case_sensitive_roles_and_file(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# comment\n\nsecret\n机密\n", encoding="utf-8")
    rows = [conv("top SECRETS here", "ok answer"), conv("ask", "这是机密文件"), conv("the secretary", "fine")]
    assert verdicts({"name": "blocklist", "file": str(words)}, rows) == [
        None, "blocked term '机密' in messages[1] (assistant)", None]
    sub = verdicts({"name": "blocklist", "file": str(words), "match": "substring"}, rows)
    assert sub[0] is not None and sub[2] is not None
    assert verdicts({"name": "blocklist", "words": ["secret"], "match": "substring", "case_sensitive": True}, rows)[0] is None
    assert verdicts({"name": "blocklist", "words": ["机密"], "roles": ["user"]}, rows)[1] is None


def test_compile_terms_edges():
    pattern = compile_terms(["cat"], whole_word=True, case_sensitive=False)
    assert pattern.search("a cat!") and pattern.search("猫cat猫") and not pattern.search("concatenate")
    assert not pattern.search("cat2") and not pattern.search("écat")


# --------------------------------------------------------------------------- regex
def test_regex_exclude_include_roles_and_text_rows():
    rows = [conv("hello", "As an AI language model, I cannot"), conv("hello", "Sure: 42")]
    exclude = {"name": "regex", "pattern": r"as an ai", "ignore_case": True}
    got = verdicts(exclude, rows)
    assert got[0].startswith("messages[1] (assistant) matches /as an ai/") and got[1] is None
    assert verdicts({**exclude, "roles": ["user"]}, rows) == [None, None]
    include = {"name": "regex", "pattern": r"\d+", "action": "include", "roles": ["assistant"]}
    assert verdicts(include, rows) == ["no assistant messages match /\\d+/", None]
    texts = [{"text": "def f(): pass"}, {"text": "prose only"}]
    assert verdicts({"name": "regex", "pattern": r"def \w+\(", "action": "include"}, texts, kind="text") == [
        None, "no text match /def \\w+\\(/"]


# --------------------------------------------------------------------------- dedup
def test_exact_dedup_normalises_and_keeps_first():
    rows = [
        conv("What is 2+2?", "Four."),
        conv("what  is 2+2?", "four."),  # case and whitespace differ only
        conv("What is 2+2?", "Five."),
        conv("ＷＨＡＴ is 2+2?", "FOUR."),  # full width
        conv("What is 2+2?", "Four.", system="be brief"),  # a system prompt makes it different
    ]
    got = verdicts({"name": "exact_dedup"}, rows)
    assert got == [None, "duplicate of row 1", None, "duplicate of row 1", None]
    assert verdicts({"name": "exact_dedup", "normalize": False}, rows)[1] is None
    assert verdicts({"name": "exact_dedup", "on": "prompt"}, rows)[2] == "duplicate of row 1"


def test_near_dedup_drops_near_copies_only():
    base = "The quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon in May"
    rows = [
        conv("Write a sentence.", base),
        conv("Write a sentence.", base.replace("sunny", "bright")),
        conv("Write a sentence.", "Completely different words describing a cat sleeping on a warm windowsill"),
        conv("写一句话。", "敏捷的棕色狐狸在五月一个阳光明媚的下午跳过了河岸边懒惰的狗"),
        conv("写一句话。", "敏捷的棕色狐狸在五月一个阳光明媚的下午跳过了河岸边懒惰的猫"),
        conv("", ""),
    ]
    got = verdicts({"name": "near_dedup", "threshold": 0.7}, rows)
    assert got[0] is None and got[2] is None and got[3] is None and got[5] is None
    assert got[1].startswith("near-duplicate of row 1 (similarity ")
    assert got[4].startswith("near-duplicate of row 4")


def test_dedup_counts_only_surviving_rows():
    # row 1 is dropped by the length filter first, so row 2 is the first occurrence and is kept
    rows = [conv("same", "short"), conv("same", "short"), conv("other", "a long answer")]
    result = run(rows, {"name": "exact_dedup", "on": "prompt"}, {"name": "response_length", "min": 6})
    assert [(r.row, r.kind) for r in result.rejects] == [(1, "response_length"), (2, "exact_dedup")]
    result = run(rows, {"name": "response_length", "min": 6}, {"name": "exact_dedup", "on": "prompt"})
    assert result.counts == {"response_length": 2, "exact_dedup": 0}


# --------------------------------------------------------------------------- tool calls
TOOLS = json.dumps([
    {"name": "get_weather", "description": "weather", "parameters": {"type": "object", "properties":
        {"city": {"type": "string"}}, "required": ["city"]}},
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "required": ["a", "b"]}}},
])


def tool_row(name, arguments, tools=TOOLS):
    call = msg("assistant", "", [{"name": name, "arguments": arguments}])
    row = conv("weather?", system=None, tools=tools)
    row["messages"] = [msg("user", "weather?"), call, msg("tool", "sunny"), msg("assistant", "It is sunny.")]
    return row


def test_tool_calls_validity():
    rows = [
        tool_row("get_weather", '{"city": "Paris"}'),
        tool_row("get_weather", '{"city": "Paris"'),
        tool_row("get_weather", '["Paris"]'),
        tool_row("get_time", "{}"),
        tool_row("add", '{"a": 1, "b": 2}'),
        tool_row("anything", "{}", tools=None),
        tool_row("add", "{}", tools="[not json"),
    ]
    got = verdicts({"name": "tool_calls"}, rows)
    assert got[0] is None and got[4] is None and got[5] is None
    assert got[1].startswith("messages[1].tool_calls[0].arguments is not valid JSON")
    assert got[2] == "messages[1].tool_calls[0].arguments must be a JSON object, not list"
    assert got[3] == "messages[1].tool_calls[0] calls unknown tool 'get_time' (declared: add, get_weather)"
    assert got[6].startswith("tools is not valid JSON")
    strict = verdicts({"name": "tool_calls", "require_tools": True, "required_arguments": True},
                      [tool_row("get_weather", "{}"), tool_row("x", "{}", tools=None)])
    assert strict == ["messages[1].tool_calls[0] (get_weather) lacks required argument(s): city",
                      "messages[1].tool_calls[0] calls 'x' but the row declares no tools"]


# --------------------------------------------------------------------------- chain, accounting, num_proc
def test_kind_mismatch_is_a_config_error():
    with pytest.raises(ConfigError, match="does not handle text rows"):
        run([{"text": "doc"}], {"name": "response_length", "min": 1}, kind="text")


def test_rejects_carry_row_filter_reason_and_data():
    rows = [conv("q", "fine answer"), conv("q", "no")]
    result = run(rows, {"name": "response_length", "min": 6}, source="data.jsonl")
    (issue,) = result.rejects
    assert (issue.row, issue.kind, issue.source) == (2, "response_length", "data.jsonl")
    assert issue.raw["messages"][1]["content"] == "no" and POSITION_COLUMN not in issue.raw
    assert result.kept.column_names == ["messages", "tools", "_row"] and list(result.kept["_row"]) == [1]


def test_repeated_filters_get_distinct_labels():
    rows = [conv("q", "answer"), conv("q", "x")]
    result = run(rows, {"name": "regex", "pattern": "zzz"}, {"name": "regex", "pattern": "^x$"})
    assert result.counts == {"regex#1": 0, "regex#2": 1}


def test_empty_dataset_and_no_filters():
    assert run([], {"name": "response_length", "min": 6}).counts == {"response_length": 0}
    result = run([conv("q", "a")])
    assert len(result.kept) == 1 and result.rejects == [] and result.counts == {}


_text = st.text(alphabet=st.sampled_from(list("ab cd\u3000赌博\u200b字x")), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pairs=st.lists(st.tuples(_text, _text), max_size=25),
    chain=st.lists(
        st.sampled_from([
            {"name": "response_length", "min": 3},
            {"name": "prompt_length", "max": 8},
            {"name": "empty_turns"},
            {"name": "blocklist", "words": ["赌博"]},
            {"name": "exact_dedup"},
            {"name": "near_dedup", "threshold": 0.5, "num_perm": 32},
            {"name": "regex", "pattern": "x", "action": "include"},
        ]),
        max_size=5,
    ),
)
def test_accounting_invariant(pairs, chain):
    rows = [conv(q or "q", a or "a") for q, a in pairs]
    result = run(rows, *chain)
    assert len(result.kept) + len(result.rejects) == len(rows) == result.rows_in
    assert sum(result.counts.values()) == len(result.rejects)
    seen = sorted([*result.kept["_row"], *(r.row for r in result.rejects)])
    assert seen == list(range(1, len(rows) + 1))  # every row exactly once, kept or rejected


def test_num_proc_gives_the_same_result():
    rows = []
    for i in range(40):
        rows.append(conv(f"question {i % 7}", f"answer number {i % 5} with some padding words"))
        rows.append(conv(f"question {i}", "no"))
    chain = [{"name": "response_length", "min": 6}, {"name": "exact_dedup"}, {"name": "near_dedup", "threshold": 0.8}]
    one = run([dict(r) for r in rows], *chain)
    two = run([dict(r) for r in rows], *chain, num_proc=2, batch_size=16)
    assert one.counts == two.counts and one.counts["exact_dedup"] > 0
    assert [(r.row, r.reason) for r in one.rejects] == [(r.row, r.reason) for r in two.rejects]
    assert list(one.kept["_row"]) == list(two.kept["_row"])


# --------------------------------------------------------------------------- plugins
class ShoutFilter(Filter):
    """Drop answers written in capitals."""

    name = "no_shouting"

    def check(self, row):
        answer = row["messages"][-1]["content"]
        return "answer is shouted" if answer.isupper() else None


def odd_rows(batch):
    """Drop odd source rows."""
    return ["odd row" if r % 2 else None for r in batch["_row"]]


def broken(batch):
    return [True for _ in batch["_row"]]


class _Plugin:
    __name__ = "test_filter_plugin"

    @staticmethod
    @hookimpl
    def register_filters(register):
        register(ShoutFilter)
        register(odd_rows)
        register(broken, name="broken_filter")


def test_plugin_filters_class_and_function(isolated_plugins):
    isolated_plugins(_Plugin(), "test_filter_plugin")
    rows = [conv("q", "LOUD ANSWER"), conv("q", "quiet answer"), conv("q", "fine one")]
    result = run(rows, "no_shouting", "odd_rows", num_proc=2)
    assert result.counts == {"no_shouting": 1, "odd_rows": 1}
    assert [r.reason for r in result.rejects] == ["answer is shouted", "odd row"]
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_filter({"name": "odd_rows", "x": 1})
    with pytest.raises(PluginError, match="returns None \\(keep\\) or a reason string"):
        run(rows, "broken_filter")
    assert pickle.loads(pickle.dumps(build_filter("odd_rows")))({"_row": [1, 2]}) == ["odd row", None]
