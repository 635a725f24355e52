"""Fixtures for the plugin's tests (they also run from the main suite: testpaths include plugins/)."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import pytest

# Same isolation as the main suite, for runs of this folder alone: a private datasets cache, offline.
_CACHE = tempfile.mkdtemp(prefix="templates_hub_csv_qa_test_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)  # no leftovers in /tmp
os.environ.setdefault("HF_DATASETS_CACHE", _CACHE)
os.environ.setdefault("HF_HOME", _CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    # never load installed entry points implicitly; the tests load them on purpose
    sys._called_from_test = True  # type: ignore[attr-defined]


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def entry_point_sandbox():
    """Undo whatever loading entry points registered, so the rest of the suite sees only built-ins."""
    from templates_hub import plugins

    before = {name for name, _ in plugins.pm.list_name_plugin()}
    broken, distributions = dict(plugins.BROKEN), dict(plugins.DISTRIBUTIONS)
    yield plugins
    for name, _ in list(plugins.pm.list_name_plugin()):
        if name not in before:
            plugins.unregister_plugin(name)
    plugins.BROKEN.clear()
    plugins.BROKEN.update(broken)
    plugins.DISTRIBUTIONS.clear()
    plugins.DISTRIBUTIONS.update(distributions)
    plugins.invalidate()
