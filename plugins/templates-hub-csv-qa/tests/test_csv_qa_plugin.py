"""The csv_qa plugin, loaded through its entry point and used through the CLI (skipped when not installed:
``pip install -e plugins/templates-hub-csv-qa``)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("templates_hub_csv_qa")

from templates_hub.cli import main  # noqa: E402
from templates_hub.formats import write_records  # noqa: E402
from templates_hub.io import load_canonical  # noqa: E402


@pytest.fixture
def loaded(entry_point_sandbox, monkeypatch):
    monkeypatch.delenv("TEMPLATES_HUB_LOAD_PLUGINS", raising=False)
    assert entry_point_sandbox.load_entrypoint_plugins() >= 1
    return entry_point_sandbox


@pytest.fixture
def faq(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text('question,answer,passage\nWhat is 6*7?,42,\n"Who wrote it, then?",Ann,"Ann wrote the book."\n')
    return path


def test_entry_point_registers_the_format(loaded):
    registry = loaded.get_registry("formats")
    assert registry.entry("csv_qa").plugin == "csv_qa"
    described = {d["name"]: d for d in loaded.describe_plugins()}
    assert described["csv_qa"]["distribution"] == "templates-hub-csv-qa"
    assert described["csv_qa"]["version"] == "0.1.0"
    assert described["csv_qa"]["registered"] == {"formats": ["csv_qa"]} and described["csv_qa"]["broken"] is None


def test_validate_detects_and_uses_the_plugin_format(loaded, cli_runner, faq):
    result = cli_runner.invoke(main, ["validate", str(faq)])
    assert result.exit_code == 0, result.output
    assert "format csv_qa (detected: question/answer columns)" in result.output
    result = cli_runner.invoke(main, ["validate", str(faq), "-f", "csv_qa", "-o", "context=passage", "--json"])
    assert result.exit_code == 0 and json.loads(getattr(result, "stdout", result.output))["valid"] == 2
    result = cli_runner.invoke(main, ["list", "formats", "--json"])
    rows = {r["name"]: r for r in json.loads(getattr(result, "stdout", result.output))}
    assert rows["csv_qa"]["plugin"] == "csv_qa"


def test_options_rows_and_writer(loaded, faq, tmp_path):
    result = load_canonical(faq, format="csv_qa", options={"context": "passage"})
    rows = result.dataset.to_list()
    assert rows[1]["messages"][0]["content"] == "Ann wrote the book.\n\nWho wrote it, then?"
    assert rows[0]["messages"][1]["content"] == "42"
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nq1,\n")
    result = load_canonical(bad, format="csv_qa")
    assert [(i.row, i.field, i.kind) for i in result.rejects] == [(1, "answer", "empty_content")]
    assert write_records(rows[:1], layout="csv_qa", kind="sft") == [{"question": "What is 6*7?", "answer": "42"}]


@pytest.mark.parametrize("value,expected", [
    ("", False), ("csv_qa", True), ("something_else, csv_qa", True), ("templates-hub-csv-qa", True),
    ("something_else", False),
])
def test_load_plugins_env_var_filters_entry_points(entry_point_sandbox, monkeypatch, value, expected):
    monkeypatch.setenv("TEMPLATES_HUB_LOAD_PLUGINS", value)
    entry_point_sandbox.load_entrypoint_plugins()
    assert ("csv_qa" in entry_point_sandbox.get_registry("formats")) is expected
