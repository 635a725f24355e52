"""The example plugin's components pass templates-hub's conformance kit (``templates_hub.testing``)."""

from __future__ import annotations

import pytest

pytest.importorskip("templates_hub_example_templates")

from click.testing import CliRunner  # noqa: E402

from templates_hub.cli import main  # noqa: E402
from templates_hub.testing import check_plugin, check_preprocessor, check_template  # noqa: E402


@pytest.mark.parametrize("name", ["acme", "acme_jinja"])
def test_templates_conform(example, name):
    report = check_template(name).raise_for_failures()
    assert report.plugin == "example_templates"
    assert {"renders", "prefix_stable", "end_of_turn_trained", "to_jinja_round_trip"} <= set(report.checks)


@pytest.mark.parametrize("template", ["acme", "acme_jinja"])
def test_final_turn_conforms_with_each_template(example, template):
    report = check_preprocessor("final_turn", template=template, params={"history_weight": 0.5})
    report.raise_for_failures()
    assert "cutoff" in report.checks and "preprocess_dataset" in report.checks


def test_the_whole_plugin_conforms_and_plugins_check_says_so(example):
    reports = check_plugin(example)
    assert [r.messages() for r in reports if not r.ok] == []
    assert sorted((r.kind, r.component) for r in reports) == [
        ("plugin", "example_templates"), ("preprocessor", "final_turn"), ("template", "acme"),
        ("template", "acme_jinja")]
    result = CliRunner().invoke(main, ["plugins", "--check", "--plugin", example])
    assert result.exit_code == 0, result.output
    assert "ok   example_templates: template acme, template acme_jinja, preprocessor final_turn" in result.output
