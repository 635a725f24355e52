"""The csv_qa format through templates-hub's conformance kit (skipped when the plugin is not installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("templates_hub_csv_qa")

from templates_hub.testing import check_format  # noqa: E402

SAMPLES = [
    {"question": "What is 6*7?", "answer": "42", "passage": "", "persona": "You are terse."},
    {"question": "Who wrote it?", "answer": "Ann.", "passage": "Ann wrote the book.", "persona": None},
]
OPTIONS = {"context": "passage", "system": "persona"}


@pytest.fixture
def csv_qa(templates_hub_plugin):
    return templates_hub_plugin("csv_qa")


def test_reading_conforms(csv_qa):
    report = check_format("csv_qa", samples=SAMPLES, options=OPTIONS,
                          checks=["instantiable", "picklable", "detect", "convert"])
    report.raise_for_failures()
    assert report.plugin == "csv_qa" and report.checks == ["instantiable", "detect", "convert", "picklable"]


def test_rows_it_can_hold_round_trip(csv_qa):
    """One-turn conversations with or without a system prompt survive write -> read."""
    report = check_format("csv_qa", options={"system": "system"}, checks=["write_round_trip"])
    cases = {f.case for f in report.failures}
    assert not cases & {"single_turn", "system", "unicode", "whitespace"}, report.format()


def test_writing_never_loses_data(csv_qa):
    check_format("csv_qa", checks=["write_round_trip"]).raise_for_failures()
