"""The public names of ``templates_hub`` stay what they are, whatever was imported before.

Importing a submodule sets the package attribute of the same name to the module: ``import
templates_hub.prepare`` (which ``run`` and ``export`` do) used to turn ``templates_hub.prepare`` from
the function into a module that could not be called. A public name that is also a submodule must be a
callable module forwarding to the function. Checked in a fresh interpreter, because this process has
already imported (and cached) many of these names in some order.
"""

from __future__ import annotations

import json
import subprocess
import sys

import templates_hub

_CHECK = r"""
import importlib, json, pkgutil, types

import templates_hub as th

# every submodule first: the order in which a user's session would have replaced the lazy attributes
for info in pkgutil.walk_packages(th.__path__, "templates_hub."):
    importlib.import_module(info.name)

problems = []
forwarded = []
for name, target in th._LAZY.items():
    module_name, attr = target.split(":")
    expected = getattr(importlib.import_module(module_name), attr)
    namespace = {}
    exec(f"from templates_hub import {name} as got", namespace)
    for got in (getattr(th, name), namespace["got"]):
        if got is expected:
            continue
        if isinstance(got, types.ModuleType) and got.__name__ == f"templates_hub.{name}":
            # the submodule replaced the function: it must be callable and forward the call
            if not callable(got):
                problems.append(f"templates_hub.{name} is a module that cannot be called")
                continue
            marker = object()
            original = getattr(got, name)
            setattr(got, name, lambda *args, **kwargs: (args, kwargs, marker))
            try:
                result = got(1, key=2)
            finally:
                setattr(got, name, original)
            if result != ((1,), {"key": 2}, marker):
                problems.append(f"calling templates_hub.{name} does not forward to {target}")
            else:
                forwarded.append(name)
            continue
        problems.append(f"templates_hub.{name} is {got!r}, expected {target} ({expected!r})")

missing = [name for name in th.__all__ if not hasattr(th, name)]
print(json.dumps({"problems": problems, "forwarded": sorted(set(forwarded)), "missing": missing}))
"""


def test_public_names_survive_importing_every_submodule():
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert report["missing"] == []
    # the lazily exported functions whose names are also submodules (the case that broke) were exercised
    assert {"prepare", "run", "train"} <= set(report["forwarded"])


def test_every_lazy_name_is_public_and_resolves():
    assert set(templates_hub._LAZY) <= set(templates_hub.__all__)
    for name in templates_hub.__all__:
        assert getattr(templates_hub, name) is not None, name
