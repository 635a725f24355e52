"""LLaMA-Factory dataset_info.json entries: LLaMA-Factory's rules, unknown keys, loading, the demo registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from templates_hub.errors import ConfigError, UsageError
from templates_hub.formats.dataset_info import (
    COLUMN_DEFAULTS,
    TAG_DEFAULTS,
    DatasetAttr,
    read_all,
    read_dataset_info,
)
from templates_hub.io import load_canonical
from templates_hub.schemas import features


def _attr(entry: dict, name: str = "d", **kw) -> DatasetAttr:
    return DatasetAttr.from_entry(name, entry, "/data", **kw)


def _registry(tmp_path: Path, entries: dict) -> Path:
    (tmp_path / "dataset_info.json").write_text(json.dumps(entries))
    return tmp_path


# -- LLaMA-Factory's rules ------------------------------------------------------------------------------

def test_defaults_apply_only_without_blocks():
    attr = _attr({"file_name": "a.json"})
    assert (attr.load_from, attr.formatting, attr.ranking, attr.split) == ("file", "alpaca", False, "train")
    assert attr.columns == COLUMN_DEFAULTS and attr.tags == TAG_DEFAULTS
    assert attr.kind() == "sft" and attr.adapter()[0] == "alpaca"
    assert attr.source() == str(Path("/data") / "a.json")


def test_a_columns_block_replaces_every_default():
    attr = _attr({"file_name": "a.json", "columns": {"system": "sys"}})
    assert attr.columns["prompt"] is None and attr.columns["response"] is None and attr.columns["system"] == "sys"
    with pytest.raises(UsageError, match="sets no response column"):
        attr.adapter()
    attr = _attr({"file_name": "a.json", "formatting": "sharegpt", "tags": {"role_tag": "role", "content_tag": "content"}})
    assert attr.tags["user_tag"] is None and attr.tags["role_tag"] == "role"
    attr = _attr({"file_name": "a.json", "formatting": "sharegpt", "columns": {"tools": "tools"}})
    with pytest.raises(UsageError, match="sets no messages column"):
        attr.adapter()


def test_source_precedence_follows_llamafactory(monkeypatch):
    monkeypatch.delenv("USE_MODELSCOPE_HUB", raising=False)
    both = {"hf_hub_url": "org/hf", "ms_hub_url": "org/ms", "file_name": "x.json"}
    assert (_attr(both).load_from, _attr(both).source()) == ("hf_hub", "org/hf")
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    assert _attr(both).load_from == "ms_hub"
    with pytest.raises(UsageError, match="ModelScope"):
        _attr(both).source()
    assert _attr({"ms_hub_url": "org/ms"}).load_from == "ms_hub"
    assert _attr({"script_url": "dir", "file_name": "x"}).load_from == "script"
    with pytest.raises(ConfigError, match="names no data source"):
        _attr({"formatting": "alpaca"})


def test_kinds_from_entries():
    assert _attr({"file_name": "a", "ranking": True, "formatting": "sharegpt"}).kind() == "preference"
    assert _attr({"file_name": "a", "columns": {"messages": "m", "kto_tag": "label"}, "formatting": "sharegpt"}).kind() == "kto"
    pretrain = _attr({"file_name": "c4.jsonl", "columns": {"prompt": "text"}})
    assert pretrain.kind() == "text" and pretrain.adapter() == ("text", {"column": "text"})


def test_adapter_options_carry_columns_and_tags():
    attr = _attr({"file_name": "k.json", "formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"},
                  "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}})
    fmt, options = attr.adapter()
    assert fmt == "sharegpt" and options["messages"] == "messages" and options["kto_tag"] == "label"
    assert options["role_tag"] == "role" and options["observation_tag"] is None and options["system"] is None


def test_unknown_keys_are_reported_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"format \(did you mean 'formatting'\?\)") as info:
        _attr({"file_name": "a.json", "format": "sharegpt"})
    assert info.value.problems[0][0] == "d.format"
    with pytest.raises(ConfigError, match=r"columns.promt \(did you mean 'prompt'\?\)"):
        _attr({"file_name": "a.json", "columns": {"promt": "q", "response": "a"}})
    lenient = _attr({"file_name": "a.json", "format": "sharegpt"}, strict=False)
    assert lenient.formatting == "alpaca" and "unknown key format" in lenient.warnings()[0]


@pytest.mark.parametrize("entry,path", [
    ({"file_name": "a", "formatting": "xml"}, "d.formatting"),
    ({"file_name": "a", "ranking": "yes"}, "d.ranking"),
    ({"file_name": "a", "num_samples": 0}, "d.num_samples"),
    ({"file_name": "a", "columns": {"prompt": 3}}, "d.columns.prompt"),
    ({"file_name": 5}, "d.file_name"),
])
def test_invalid_values_are_located(entry, path):
    with pytest.raises(ConfigError) as info:
        _attr(entry)
    assert info.value.problems[0][0] == path


def test_multimodal_entries_are_refused_clearly():
    with pytest.raises(UsageError, match="multimodal"):
        _attr({"file_name": "m.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"}}).adapter()


@pytest.mark.parametrize("entry", [
    {"file_name": "a.json"},
    {"file_name": "g.json", "formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools"}},
    {"file_name": "p.json", "ranking": True, "formatting": "sharegpt",
     "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
    {"file_name": "k.json", "formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"},
     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
    {"hf_hub_url": "org/x", "split": "validation", "subset": "en", "num_samples": 10, "columns": {"prompt": "text"}},
])
def test_to_entry_reads_back_to_the_same_attributes(entry):
    attr = _attr(entry)
    assert attr.to_entry() == entry
    again = _attr(attr.to_entry())
    assert (again.columns, again.tags, again.kind(), again.adapter() if again.load_from == "file" else None) == (
        attr.columns, attr.tags, attr.kind(), attr.adapter() if attr.load_from == "file" else None)


# -- reading the file ------------------------------------------------------------------------------------

def test_read_by_dir_or_file_and_undefined_names(tmp_path):
    root = _registry(tmp_path, {"alpaca_en_demo": {"file_name": "a.json"}})
    assert read_dataset_info(root, "alpaca_en_demo").dataset_dir == str(root)
    assert read_dataset_info(root / "dataset_info.json", "alpaca_en_demo").name == "alpaca_en_demo"
    with pytest.raises(UsageError, match="undefined dataset 'alpaca_en'.*'alpaca_en_demo'"):
        read_dataset_info(root, "alpaca_en")
    with pytest.raises(UsageError, match="no such file"):
        read_dataset_info(tmp_path / "elsewhere", "x")


def test_malformed_dataset_info_is_located(tmp_path):
    (tmp_path / "dataset_info.json").write_text('{\n  "a": {"file_name": "x.json",}\n}')
    with pytest.raises(ConfigError, match=r"dataset_info.json:2:\d+: malformed JSON"):
        read_dataset_info(tmp_path, "a")


# -- loading through an entry ----------------------------------------------------------------------------

def test_load_with_custom_columns_and_unmapped_column_notes(tmp_path):
    rows = [{"question": "q1", "answer": "a1", "system": "ignored by LLaMA-Factory"}, {"question": "q2", "answer": ""}]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    root = _registry(tmp_path, {"qa": {"file_name": "qa.jsonl", "columns": {"prompt": "question", "response": "answer"}}})
    result = load_canonical(None, dataset_info=root, dataset="qa")
    assert (result.format, result.kind, result.detected) == ("alpaca", "sft", False)
    assert [m["role"] for m in result.dataset[0]["messages"]] == ["user", "assistant"]  # no system: unmapped
    assert [(i.row, i.field, i.kind) for i in result.rejects] == [(2, "answer", "empty_content")]
    assert any("'system' is in the data" in n for n in result.notes)


def test_entry_mapping_applies_to_an_explicit_path_and_folders(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    chat = {"dialog": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    for name in ("p1.jsonl", "p2.jsonl"):
        (folder / name).write_text(json.dumps(chat) + "\n")
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    root = _registry(tmp_path, {"chats": {"file_name": "shards", "formatting": "sharegpt",
                                          "columns": {"messages": "dialog"}, "tags": tags}})
    result = load_canonical(None, dataset_info=root, dataset="chats")
    assert len(result.dataset) == 2 and len(result.shards) == 2
    single = load_canonical(folder / "p1.jsonl", dataset_info=root, dataset="chats")
    assert len(single.dataset) == 1 and single.format == "sharegpt"
    with pytest.raises(UsageError, match="cannot be read as format 'alpaca'"):
        load_canonical(None, dataset_info=root, dataset="chats", format="alpaca")
    with pytest.raises(UsageError, match="go together"):
        load_canonical(folder, dataset_info=root)


def test_num_samples_selects_rows_like_llamafactory(tmp_path):
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"instruction": f"q{i}", "output": "a"}) + "\n" for i in range(10)))
    root = _registry(tmp_path, {"d": {"file_name": "d.jsonl", "num_samples": 4}})
    result = load_canonical(None, dataset_info=root, dataset="d")
    assert result.rows_in == 4
    import numpy as np

    expected = (np.random.RandomState(42).permutation(10)[:4] + 1).tolist()
    assert list(result.dataset["_row"]) == expected


# -- the LLaMA-Factory demo registry (skipped without ../shared) ---------------------------------------

#: rows of the demo files that LLaMA-Factory accepts but the canonical schema rejects, and why (none: the
#: schema accepts every turn order LLaMA-Factory accepts, e.g. glaive_toolcall_zh_demo rows 198 and 294
#: answer a plain gpt message whose function call is written as text with an observation)
KNOWN_REJECTS: dict[str, list[tuple[int, str, str]]] = {}


@pytest.mark.shared
def test_every_text_dataset_with_a_local_file_loads(lf_demo_dir):
    attrs = read_all(lf_demo_dir)
    local = {name: a for name, a in attrs.items() if a.load_from == "file"}
    text_only = {n: a for n, a in local.items() if not any(a.columns.get(c) for c in ("images", "videos", "audios"))}
    assert len(text_only) == 10
    for name, attr in text_only.items():
        result = load_canonical(None, dataset_info=lf_demo_dir, dataset=name)
        assert result.kind == attr.kind(), name
        assert result.rows_in == len(result.dataset) + len(result.rejects), name
        assert result.dataset.features == features(result.kind), name
        assert [(i.row, i.field, i.kind) for i in result.rejects] == KNOWN_REJECTS.get(name, []), name
        assert not result.notes, (name, result.notes)
    for name in set(local) - set(text_only):
        with pytest.raises(UsageError, match="multimodal"):
            load_canonical(None, dataset_info=lf_demo_dir, dataset=name)


@pytest.mark.shared
def test_every_demo_entry_parses_strictly(lf_demo_dir):
    raw = json.loads((lf_demo_dir / "dataset_info.json").read_text())
    attrs = read_all(lf_demo_dir, strict=True)
    assert set(attrs) == set(raw)
    for name, attr in attrs.items():
        assert DatasetAttr.from_entry(name, attr.to_entry()).columns == attr.columns, name
