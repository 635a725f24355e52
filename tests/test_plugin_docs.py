"""The plugin documentation cannot drift from the code (datasette's meta-tests, and a bit more).

- every hookspec has a section in docs/plugins.md whose heading is its exact signature, built from the
  hookspec's argument names;
- every documented hook exists;
- every hook has a test of its own: a ``test_hook_<name>`` function somewhere in tests/;
- every hook section's first Python example runs as a plugin and registers components that pass the
  conformance kit.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from templates_hub import plugins

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent
HOOKS = sorted(name for name in vars(plugins.pm.hook) if not name.startswith("_"))
HEADING = re.compile(r"^## (\w+)\((.*)\)\s*$", re.MULTILINE)


def signature(hook: str) -> str:
    return f"{hook}({', '.join(getattr(plugins.pm.hook, hook).spec.argnames)})"


def section(hook: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(f"\n## {signature(hook)}\n")
    following = HEADING.search(text, start + 4)
    return text[start:following.start() if following else len(text)]


def test_the_five_hooks_are_known():
    assert HOOKS == ["register_exporters", "register_filters", "register_formats", "register_preprocessors",
                     "register_templates"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    headings = {m.group(0).strip() for m in HEADING.finditer(DOCS.read_text(encoding="utf-8"))}
    assert f"## {signature(hook)}" in headings, f"docs/plugins.md needs the heading '## {signature(hook)}'"
    text = section(hook)
    for arg in getattr(plugins.pm.hook, hook).spec.argnames:
        assert f"- `{arg}`" in text, f"{hook}: parameter {arg!r} is not described"
    assert "What `register` accepts" in text and "Example:" in text


def test_every_documented_hook_exists():
    documented = {m.group(1): m.group(2) for m in HEADING.finditer(DOCS.read_text(encoding="utf-8"))}
    assert set(documented) == set(HOOKS)
    for hook, args in documented.items():
        assert f"{hook}({args})" == signature(hook), f"stale signature for {hook} in docs/plugins.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    pattern = re.compile(rf"^\s*(?:async\s+)?def test_hook_{hook}\b", re.MULTILINE)
    files = [p for p in TESTS.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert files, f"no test_hook_{hook} function in tests/ (add one that registers an in-test plugin)"


def first_python_example(hook: str) -> str:
    match = re.search(r"Example:\n\n```python\n(.*?)```", section(hook), re.DOTALL)
    assert match, f"{hook}: the section has no runnable ```python example after 'Example:'"
    return match.group(1)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_example_runs_and_conforms(hook, isolated_plugins, monkeypatch):
    from templates_hub.testing import check_filter, check_format, check_preprocessor, check_template

    kind = hook.removeprefix("register_")
    module = types.ModuleType(f"docs_example_{hook}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # importable, like an installed plugin: picklable
    exec(compile(first_python_example(hook), f"docs/plugins.md ({hook})", "exec"), module.__dict__)  # noqa: S102
    name = isolated_plugins(module, f"docs_example_{hook}")
    registry = plugins.get_registry(kind)
    mine = [entry for entry in registry if entry.plugin == name]
    assert mine, f"the {hook} example registered nothing"
    assert name not in plugins.PROBLEMS and name not in plugins.BROKEN
    check = {"templates": check_template, "filters": check_filter, "formats": check_format,
             "preprocessors": check_preprocessor}.get(kind)
    for entry in mine:
        if check is not None:
            check(entry.name if kind != "templates" else entry.obj, plugin=name).raise_for_failures()


def test_companion_pages_exist_and_are_linked():
    text = DOCS.read_text(encoding="utf-8")
    for page in ("writing-plugins.md", "testing-plugins.md"):
        assert (ROOT / "docs" / page).is_file() and f"({page})" in text
