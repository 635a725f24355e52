"""The plugin manager: built-ins, entry points and single-file plugins, all through the same hooks.

Modelled on simonw/llm and datasette: ``DEFAULT_PLUGINS`` are ordinary hookimpl modules; third-party
packages declare an entry point in the ``templates_hub`` group; ``TEMPLATES_HUB_LOAD_PLUGINS=a,b``
restricts which of them load (empty string: none); ``--plugins-dir DIR`` (or ``TEMPLATES_HUB_PLUGINS_DIR``)
loads every ``*.py`` file in DIR. Entry points are never loaded under pytest (``sys._called_from_test``),
so installed plugins cannot leak into the tests.

A plugin that fails to import, or whose hook raises, is recorded in ``BROKEN`` by name and skipped;
every other plugin and command keeps working.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Coercer, Registry

DEFAULT_PLUGINS: tuple[str, ...] = (
    "templates_hub.formats.builtin",
    "templates_hub.templates.builtin",
    "templates_hub.filters.builtin",
    "templates_hub.preprocess.builtin",
    "templates_hub.export.builtin",
)

ENTRY_POINT_GROUP = "templates_hub"
KINDS: tuple[str, ...] = ("formats", "filters", "templates", "preprocessors", "exporters")

#: kind -> "module:function" turning what a plugin passes to ``register`` into a component
COERCERS: dict[str, str] = {
    "templates": "templates_hub.templates.registry:coerce_template",
    "filters": "templates_hub.filters.base:coerce_filter",
    "exporters": "templates_hub.export.base:coerce_exporter",
}

pm = pluggy.PluginManager("templates_hub")
pm.add_hookspecs(hookspecs)

#: plugin name -> reason it could not be loaded or one of its hooks failed
BROKEN: dict[str, str] = {}
#: plugin name -> non-fatal problems (name collisions, rejected registrations)
PROBLEMS: dict[str, list[str]] = {}
#: plugin name -> distribution (name, version), for entry-point plugins
DISTRIBUTIONS: dict[str, tuple[str, str]] = {}

_loaded = False
_loaded_dirs: set[str] = set()
_registries: dict[str, Registry[Any]] = {}
#: registries being built right now: a hook that looks a component up while registering (a YAML template
#: ``based_on: qwen``) sees what earlier plugins registered, instead of recursing forever
_building: dict[str, Registry[Any]] = {}


def _record_broken(name: str, exc: BaseException) -> None:
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    BROKEN[name] = detail


def load_plugins(plugins_dirs: list[str | Path] | tuple[str | Path, ...] = ()) -> None:
    """Load built-ins and entry points once (lazily), and any new ``plugins_dirs``."""
    global _loaded
    if not _loaded:
        _loaded = True  # first: a plugin that looks a component up while it is imported must not recurse here
        for module_name in DEFAULT_PLUGINS:
            if pm.has_plugin(module_name):
                continue
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # a broken built-in must not break every command
                _record_broken(module_name, exc)
                continue
            pm.register(module, name=module_name)
        if not getattr(sys, "_called_from_test", False):
            load_entrypoint_plugins()
        try:
            for env_dir in filter(None, os.environ.get("TEMPLATES_HUB_PLUGINS_DIR", "").split(os.pathsep)):
                load_plugins_dir(env_dir, option="TEMPLATES_HUB_PLUGINS_DIR")
        except PluginError:
            _loaded = False  # raise on every call until it is fixed, not only on the first
            raise
    for directory in plugins_dirs:
        load_plugins_dir(directory)


def _normalize(name: str) -> str:
    """PEP 503 name normalisation: templates_hub_csv_qa, Templates-Hub-CSV-QA ... are one name."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _allowed_by_env(*names: str) -> bool:
    """Whether ``TEMPLATES_HUB_LOAD_PLUGINS`` (entry-point or distribution names, comma separated) allows a plugin."""
    value = os.environ.get("TEMPLATES_HUB_LOAD_PLUGINS")
    if value is None:
        return True
    allowed = {_normalize(v) for v in value.split(",") if v.strip()}
    return any(_normalize(n) in allowed for n in names)


def load_entrypoint_plugins() -> int:
    """Load every ``templates_hub`` entry point, one at a time so a broken one is reported by name."""
    loaded = 0
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ep.name
        if not _allowed_by_env(ep.name, dist_name):
            continue
        if pm.has_plugin(ep.name):
            owner = DISTRIBUTIONS.get(ep.name, (None,))[0]
            if owner != dist_name:  # not this entry point loaded before: a second plugin with the same name
                BROKEN[f"{ep.name} ({dist_name})"] = (
                    f"not loaded: the plugin name {ep.name!r} is already taken by "
                    f"{f'distribution {owner!r}' if owner else 'a built-in or in-process plugin'}; "
                    "rename the entry point"
                )
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            _record_broken(ep.name, exc)
            continue
        if dist is not None:
            DISTRIBUTIONS[ep.name] = (dist_name, dist.version)
        loaded += 1
    if loaded:
        invalidate()
    return loaded


def load_plugins_dir(directory: str | Path, *, option: str = "--plugins-dir") -> None:
    """Register every ``*.py`` file in ``directory`` as a plugin named after the file."""
    path = Path(directory).expanduser().resolve()
    if str(path) in _loaded_dirs:
        return
    if not path.is_dir():
        raise PluginError(f"{option} {directory}: not a directory")
    _loaded_dirs.add(str(path))
    for file in sorted(path.glob("*.py")):
        name = file.stem
        if pm.has_plugin(name):
            BROKEN[str(file)] = f"not loaded: a plugin named {name!r} is already loaded; rename the file"
            continue
        module_name = f"templates_hub_dir_plugin_{name}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            # importable by name while it runs and afterwards: dataclasses, pickling (num_proc workers)
            # and typing look classes up through sys.modules
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            pm.register(module, name=name)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            _record_broken(name, exc)
    invalidate()


def register_plugin(plugin: object, name: str) -> str:
    """Register an in-process plugin object (tests, notebooks) and rebuild the registries."""
    load_plugins()
    result = pm.register(plugin, name=name)
    invalidate()
    return result or name


def unregister_plugin(name: str) -> None:
    if pm.has_plugin(name):
        pm.unregister(name=name)
    BROKEN.pop(name, None)
    PROBLEMS.pop(name, None)
    invalidate()


def invalidate() -> None:
    """Forget built registries so the next lookup sees newly (un)registered plugins."""
    _registries.clear()
    for name in list(PROBLEMS):
        PROBLEMS.pop(name)
    for name in [n for n, reason in BROKEN.items() if reason.startswith("hook ")]:
        BROKEN.pop(name)


def _coercer(kind: str) -> Coercer | None:
    target = COERCERS.get(kind)
    if not target:
        return None
    module_name, func = target.split(":")
    try:
        return getattr(importlib.import_module(module_name), func)
    except ImportError:
        return None


def get_registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (one of ``KINDS``), built from every loaded plugin's hook."""
    if kind not in KINDS:
        raise PluginError(f"unknown registry {kind!r}; expected one of {', '.join(KINDS)}")
    load_plugins()
    if kind in _registries:
        return _registries[kind]
    if kind in _building:
        return _building[kind]
    registry: Registry[Any] = Registry(kind, _coercer(kind))
    _building[kind] = registry
    try:
        _fill(kind, registry)
    finally:
        del _building[kind]
    _registries[kind] = registry
    return registry


def _fill(kind: str, registry: Registry[Any]) -> None:
    """Call every plugin's ``register_<kind>`` hook, one at a time, recording failures by plugin name."""
    hook = getattr(pm.hook, f"register_{kind}")
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        plugin_name = impl.plugin_name

        def register(obj: Any, name: str | None = None, *, override: bool = False, _p: str = plugin_name, **meta: Any):
            try:
                return registry.add(obj, name, plugin=_p, override=override, **meta)
            except PluginError as exc:
                PROBLEMS.setdefault(_p, []).append(str(exc))
                return None

        try:
            impl.function(**({"register": register} if "register" in impl.argnames else {}))
        except Exception as exc:
            registry.remove_plugin(plugin_name)
            BROKEN[plugin_name] = f"hook register_{kind} raised " + "".join(
                traceback.format_exception_only(type(exc), exc)
            ).strip()


def _closest_hook(name: str) -> str:
    close = difflib.get_close_matches(name, [f"register_{kind}" for kind in KINDS], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def plugin_names(include_defaults: bool = False) -> list[str]:
    load_plugins()
    names = [name for name, plugin in pm.list_name_plugin() if plugin is not None]
    if not include_defaults:
        names = [n for n in names if n not in DEFAULT_PLUGINS]
    return names


def describe_plugins(include_defaults: bool = False) -> list[dict[str, Any]]:
    """What ``templates-hub plugins`` prints: one dict per plugin, broken ones included (built-ins too:
    a broken built-in explains missing components even without ``include_defaults``)."""
    load_plugins()
    registries = {kind: get_registry(kind) for kind in KINDS}
    out: list[dict[str, Any]] = []
    names = [n for n in plugin_names(True) if include_defaults or n not in DEFAULT_PLUGINS or n in BROKEN]
    for name in names:
        plugin = pm.get_plugin(name)
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        registered: dict[str, list[str]] = {}
        overrides: list[dict[str, str]] = []
        for kind, registry in registries.items():
            mine = [e for e in registry.entries.values() if e.plugin == name]
            if mine:
                registered[kind] = sorted(e.name for e in mine)
            overrides += [
                {"kind": kind, "name": e.name, "replaces": e.overrides} for e in mine if e.overrides is not None
            ]
        dist = DISTRIBUTIONS.get(name)
        unknown = [h for h in hooks if not getattr(pm.hook, h).has_spec()]  # a misspelt hook is never called
        problems = [f"{h} is not a templates-hub hook{_closest_hook(h)}; it is never called" for h in unknown]
        out.append(
            {
                "name": name,
                "version": dist[1] if dist else None,
                "distribution": dist[0] if dist else None,
                "hooks": hooks,
                "registered": registered,
                "overrides": overrides,
                "problems": problems + PROBLEMS.get(name, []),
                "broken": BROKEN.get(name),
            }
        )
    loaded = {d["name"] for d in out}
    for name, reason in sorted(BROKEN.items()):
        if name not in loaded:
            out.append({"name": name, "version": None, "distribution": None, "hooks": [], "registered": {},
                        "overrides": [], "problems": [], "broken": reason})
    return out
