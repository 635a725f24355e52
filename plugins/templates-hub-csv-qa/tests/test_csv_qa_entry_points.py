"""Entry-point loading with throwaway distributions: a broken plugin is reported by name and every
other command keeps working; TEMPLATES_HUB_LOAD_PLUGINS filters by entry-point name (runs without the
csv_qa plugin installed)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from templates_hub.cli import main

GOOD_MODULE = """
from templates_hub import hookimpl
from templates_hub.formats import Converted, FormatAdapter


class {cls}(FormatAdapter):
    name = "{fmt}"
    description = "test format"

    def convert(self, record):
        return Converted({{"messages": [], "tools": None}})


@hookimpl
def register_formats(register):
    register({cls})
"""


def _distribution(root: Path, name: str, module: str, source: str | None, entry_point: str | None = None) -> None:
    """A minimal installed distribution: NAME-1.0.dist-info with one templates_hub entry point."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[templates_hub]\n{entry_point or name} = {module}\n")
    if source is not None:
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch, entry_point_sandbox):
    _distribution(tmp_path, "th_fake_good", "th_fake_good_mod", GOOD_MODULE.format(cls="FakeGood", fmt="fake_good_fmt"))
    _distribution(tmp_path, "th_fake_other", "th_fake_other_mod", GOOD_MODULE.format(cls="FakeOther", fmt="fake_other_fmt"))
    _distribution(tmp_path, "th_fake_broken", "th_fake_missing_module_zz", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    return entry_point_sandbox


def test_broken_entry_point_is_reported_by_name_and_commands_keep_working(fake_plugins, monkeypatch, cli_runner, tmp_path):
    monkeypatch.setenv("TEMPLATES_HUB_LOAD_PLUGINS", "th_fake_good,th_fake_broken")
    fake_plugins.load_entrypoint_plugins()
    assert "No module named 'th_fake_missing_module_zz'" in fake_plugins.BROKEN["th_fake_broken"]
    result = cli_runner.invoke(main, ["plugins"])
    assert result.exit_code == 0
    described = {d["name"]: d for d in json.loads(getattr(result, "stdout", result.output))}
    assert described["th_fake_broken"]["broken"] and described["th_fake_good"]["broken"] is None
    result = cli_runner.invoke(main, ["list", "formats", "--json"])
    names = {r["name"] for r in json.loads(getattr(result, "stdout", result.output))}
    assert result.exit_code == 0 and {"fake_good_fmt", "alpaca", "sharegpt"} <= names
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n")
    assert cli_runner.invoke(main, ["validate", str(data)]).exit_code == 0


@pytest.mark.parametrize("value,loaded", [
    ("", set()),
    ("th_fake_good", {"fake_good_fmt"}),
    ("th_fake_good, th_fake_other", {"fake_good_fmt", "fake_other_fmt"}),
    ("TH-Fake-Good", {"fake_good_fmt"}),  # names compare like distribution names (PEP 503)
    ("nothing_like_it", set()),
])
def test_load_plugins_env_var(fake_plugins, monkeypatch, value, loaded):
    monkeypatch.setenv("TEMPLATES_HUB_LOAD_PLUGINS", value)
    fake_plugins.load_entrypoint_plugins()
    formats = fake_plugins.get_registry("formats")
    assert {n for n in ("fake_good_fmt", "fake_other_fmt") if n in formats} == loaded
    assert "th_fake_broken" not in fake_plugins.BROKEN  # filtered out before it is imported


def test_two_distributions_with_one_entry_point_name_are_not_silently_merged(tmp_path, monkeypatch, entry_point_sandbox):
    _distribution(tmp_path, "th_fake_one", "th_fake_one_mod", GOOD_MODULE.format(cls="One", fmt="fake_one_fmt"),
                  entry_point="th_fake_same")
    _distribution(tmp_path, "th_fake_two", "th_fake_two_mod", GOOD_MODULE.format(cls="Two", fmt="fake_two_fmt"),
                  entry_point="th_fake_same")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TEMPLATES_HUB_LOAD_PLUGINS", "th_fake_same")
    assert entry_point_sandbox.load_entrypoint_plugins() == 1
    assert entry_point_sandbox.load_entrypoint_plugins() == 0  # loading again is not a clash
    described = {d["name"]: d for d in entry_point_sandbox.describe_plugins()}
    loaded = described["th_fake_same"]["distribution"]
    other = ({"th_fake_one", "th_fake_two"} - {loaded}).pop()
    assert "already taken by distribution" in described[f"th_fake_same ({other})"]["broken"]
