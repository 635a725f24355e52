"""Checking whole plugins: every component a plugin registered, plus how it registered them.

``check_plugin(name)`` runs the component checks (templates, filters, preprocessors, formats) on what
plugin ``name`` registered and adds plugin-level failures: a plugin that failed to load, a hook that
raised, a name registered by several plugins without ``override=True``. ``check_plugins`` does it for
every installed plugin (``templates-hub plugins --check``). ``installed_plugin(name)`` loads one
installed entry-point plugin for the duration of a test: under pytest, entry points are never loaded
implicitly, so a plugin's own tests load it on purpose.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .report import ConformanceReport

#: registry kind -> the kind word used in reports
SINGULAR = {"templates": "template", "filters": "filter", "preprocessors": "preprocessor", "formats": "format",
            "exporters": "exporter"}


def _plugin_report(name: str) -> ConformanceReport:
    """Plugin-level problems: broken loading, a hook that raised, name collisions."""
    from .. import plugins

    registries = {kind: plugins.get_registry(kind) for kind in plugins.KINDS}  # building them records problems
    report = ConformanceReport("plugin", name, name)
    report.ran("loads")
    broken = plugins.BROKEN.get(name)
    if broken:
        report.fail("loads", broken)
    report.ran("registers")
    problems = list(plugins.PROBLEMS.get(name, []))
    for problem in problems:
        report.fail("registers", problem)
    for kind, registry in registries.items():
        what = SINGULAR[kind]
        for component, owners in registry.conflicts.items():
            if name not in owners:
                continue
            others = ", ".join(repr(p) for p in owners if p != name)
            if owners[0] == name:
                report.note(f"{what} {component!r} is also registered by plugin {others} without override=True: "
                            "the name cannot be used until one of them renames it")
            elif not any(repr(component) in p for p in problems):
                report.fail("registers", f"{what} {component!r} is also registered by plugin {others}; rename it, "
                                         "or pass override=True to register() to replace it on purpose")
        for entry in registry.entries.values():
            if entry.plugin == name and entry.overrides is not None:
                report.note(f"overrides {what} {entry.name!r} of plugin {entry.overrides!r} (override=True)")
    return report


def plugin_components(name: str) -> dict[str, list[Any]]:
    """``{registry kind: [entries]}`` that plugin ``name`` registered (conflicting names left out)."""
    from .. import plugins

    plugins.load_plugins()
    out: dict[str, list[Any]] = {}
    for kind in plugins.KINDS:
        registry = plugins.get_registry(kind)
        out[kind] = [e for e in registry if e.plugin == name and e.name not in registry.conflicts]
    return out


def check_plugin(name: str, *, tokenizer: Any = None, skip_features: Iterable[str] = (), template: Any = None,
                 on_component: Callable[[str, str], None] | None = None) -> list[ConformanceReport]:
    """Conformance reports for plugin ``name``: one for the plugin itself, one per component it registered.

    ``tokenizer`` is used for templates and preprocessors (default: the tiny offline tokenizer);
    ``skip_features`` leaves battery features out of the template checks; ``template`` is the template
    preprocessors are checked with (default: the plugin's own first template, else ``chatml``);
    ``on_component(kind, name)`` is called before each component is checked (progress display).
    """
    from .filters import check_filter
    from .formats import check_format
    from .preprocessors import check_preprocessor
    from .rows import no_progress_bars
    from .templates import check_template

    own = plugin_components(name)
    reports = [_plugin_report(name)]
    notify = on_component or (lambda kind, component: None)
    skip = tuple(skip_features)
    with no_progress_bars():
        for entry in own["templates"]:
            notify("template", entry.name)
            reports.append(check_template(entry.obj, plugin=name, tokenizer=tokenizer, skip_features=skip))
        for entry in own["filters"]:
            notify("filter", entry.name)
            reports.append(check_filter(entry.name, plugin=name, tokenizer=tokenizer))
        for entry in own["formats"]:
            notify("format", entry.name)
            reports.append(check_format(entry.name, plugin=name))
        default_template = template or (own["templates"][0].obj if own["templates"] else "chatml")
        for entry in own["preprocessors"]:
            notify("preprocessor", entry.name)
            needs_template = getattr(entry.obj, "input_kind", "sft") != "text"
            reports.append(check_preprocessor(entry.name, plugin=name, tokenizer=tokenizer,
                                              template=default_template if needs_template else None))
    for entry in own["exporters"]:
        report = ConformanceReport("exporter", entry.name, name)
        report.note("exporters have no conformance checks yet; test them by exporting a recipe")
        reports.append(report)
    return reports


def plugin_names(include_builtins: bool = False) -> list[str]:
    """Every loaded plugin (and every plugin that failed to load), built-ins only when asked."""
    from .. import plugins

    names = plugins.plugin_names(include_defaults=include_builtins)
    for broken in plugins.BROKEN:
        if broken not in names and (include_builtins or broken not in plugins.DEFAULT_PLUGINS):
            names.append(broken)
    return names


def check_plugins(names: Iterable[str] | None = None, *, include_builtins: bool = False, tokenizer: Any = None,
                  skip_features: Iterable[str] = ()) -> dict[str, list[ConformanceReport]]:
    """``{plugin name: reports}`` for ``names`` (default: every installed plugin)."""
    selected = list(names) if names is not None else plugin_names(include_builtins)
    skip = tuple(skip_features)
    return {name: check_plugin(name, tokenizer=tokenizer, skip_features=skip) for name in selected}


def _entry_point(name: str) -> importlib.metadata.EntryPoint:
    from ..plugins import ENTRY_POINT_GROUP

    found = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        if name in (ep.name, dist_name):
            found.append(ep)
    if not found:
        raise LookupError(f"no installed templates_hub entry point is named {name!r} (is the plugin installed? "
                          "pip install -e path/to/plugin)")
    return found[0]


@contextlib.contextmanager
def installed_plugin(name: str) -> Iterator[str]:
    """Load the installed plugin whose entry point (or distribution) is ``name``; unload it afterwards.

    Yields the plugin's registered name. A plugin that was already loaded stays loaded afterwards.
    Raises ``LookupError`` when no such entry point is installed, and the plugin's own exception when it
    fails to import.
    """
    from .. import plugins

    plugins.load_plugins()
    ep = _entry_point(name)
    if plugins.pm.has_plugin(ep.name):
        yield ep.name
        return
    module = ep.load()
    plugins.register_plugin(module, ep.name)
    dist = getattr(ep, "dist", None)
    if dist is not None:
        plugins.DISTRIBUTIONS[ep.name] = (dist.metadata["Name"], dist.version)
    try:
        yield ep.name
    finally:
        plugins.unregister_plugin(ep.name)
        plugins.DISTRIBUTIONS.pop(ep.name, None)
