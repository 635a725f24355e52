"""``templates-hub new-plugin``: the package it writes installs and passes its own tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from templates_hub.errors import UsageError
from templates_hub.scaffold import PluginNames, create_plugin


def test_the_generated_package_installs_and_passes_its_own_tests(tmp_path, cli_runner):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["new-plugin", "acme-chat", "--template", "--filter", "--format",
                                      "--preprocessor", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    package = tmp_path / "templates-hub-acme-chat"
    assert f"pip install -e {package}" in result.output
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site),
         str(package)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert (site / "templates_hub_acme_chat" / "templates" / "acme_chat.yaml").is_file()  # package data shipped
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "cache")}
    env.pop("TEMPLATES_HUB_LOAD_PLUGINS", None)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package, env=env,
                           capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert "6 passed" in tests.stdout


def test_names_are_derived_and_checked():
    names = PluginNames.from_name("templates-hub-Acme-Chat")
    assert (names.name, names.distribution, names.package, names.title) == (
        "acme_chat", "templates-hub-acme-chat", "templates_hub_acme_chat", "AcmeChat")
    for bad in ("", "1abc", "acme chat", "acme--chat", "ümlaut"):
        with pytest.raises(UsageError, match="lowercase letters"):
            PluginNames.from_name(bad)


def test_taken_names_and_existing_directories_are_refused(tmp_path):
    with pytest.raises(UsageError, match="template 'chatml' is already registered by plugin"):
        create_plugin("chatml", out_dir=tmp_path)
    assert create_plugin("chatml", kinds=["filter"], out_dir=tmp_path).names.name == "chatml"  # no chatml filter
    (tmp_path / "templates-hub-busy").mkdir()
    (tmp_path / "templates-hub-busy" / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        create_plugin("busy", out_dir=tmp_path)
    with pytest.raises(UsageError, match="unknown plugin component kind"):
        create_plugin("fine", kinds=["exporter"], out_dir=tmp_path)


def test_only_the_requested_kinds_are_written(tmp_path, cli_runner):
    from templates_hub.cli import main

    result = cli_runner.invoke(main, ["new-plugin", "solo", "--filter", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "templates-hub-solo"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/templates_hub_solo/__init__.py",
                     "src/templates_hub_solo/filters.py", "tests/test_templates_hub_solo.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'solo = "templates_hub_solo"' in pyproject and "package-data" not in pyproject
    init = (root / "src/templates_hub_solo/__init__.py").read_text()
    assert "def register_filters(register)" in init and "register_templates" not in init
    compile(init, "__init__.py", "exec")
    assert cli_runner.invoke(main, ["new-plugin", "duo", "--out", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "templates-hub-duo/src/templates_hub_duo/templates/duo.yaml").is_file()  # default: template


def test_the_generated_template_conforms_and_the_kit_catches_a_broken_edit(tmp_path):
    from templates_hub.templates.spec import load_template_file
    from templates_hub.testing import check_template

    result = create_plugin("stubby", out_dir=tmp_path)
    path = result.path / "src/templates_hub_stubby/templates/stubby.yaml"
    assert check_template(load_template_file(path)).ok
    text = path.read_text(encoding="utf-8")
    broken = text.replace('assistant: ["{{content}}", {token: "<|im_end|>"}, "\\n"]', 'assistant: "{{content}}\\n"')
    assert broken != text
    path.write_text(broken, encoding="utf-8")
    report = check_template(load_template_file(path), plugin="stubby")
    assert [f.check for f in report.failures][:1] == ["end_of_turn_trained"]
    assert report.messages()[0].startswith("plugin 'stubby': template 'stubby': end_of_turn_trained [case ")

