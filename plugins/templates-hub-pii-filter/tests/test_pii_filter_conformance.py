"""The pii filter through templates-hub's conformance kit (skipped when the plugin is not installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("templates_hub_pii_filter")

from templates_hub.testing import check_filter  # noqa: E402


def chat(user, answer="Thanks, noted."):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


@pytest.fixture
def pii(templates_hub_plugin):
    return templates_hub_plugin("pii")


def test_default_parameters_conform(pii):
    report = check_filter(
        "pii",
        keep=[chat("What is 12345 × 9?", "111105."), {"text": "Call the front desk."}],
        drop=[chat("Mail me at jane.doe@example.com"), chat("My card is 4111 1111 1111 1111"),
              {"text": "my password is hunter2"}],
    )
    report.raise_for_failures()
    assert report.plugin == "pii"
    assert {"reasons", "batch_independent", "picklable", "apply_filters", "examples"} <= set(report.checks)


def test_parameters_conform(pii):
    report = check_filter("pii", params={"detect": ["email"], "roles": ["assistant"]},
                          keep=[chat("Mail me at jane.doe@example.com")],
                          drop=[chat("Where can I write?", "Write to help@example.org.")])
    report.raise_for_failures()


def test_the_kit_would_catch_a_wrong_expectation(pii):
    report = check_filter("pii", keep=[chat("Mail me at jane.doe@example.com")])
    assert [(f.check, f.case) for f in report.failures] == [("examples", "keep[0]")]
    assert "e-mail address in messages[0] (user)" in report.failures[0].message
