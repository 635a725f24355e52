"""Fixtures of the example plugin's tests (they also run from the main suite: testpaths include plugins/).

The conformance kit's fixtures (``templates_hub_plugin``, ``templates_hub_tokenizer_dir``) come from
templates-hub's pytest plugin, which pytest loads through the ``pytest11`` entry point.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import pytest

# Same isolation as the main suite, for runs of this folder alone: a private datasets cache, offline.
_CACHE = tempfile.mkdtemp(prefix="templates_hub_example_test_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)  # no leftovers in /tmp
os.environ.setdefault("HF_DATASETS_CACHE", _CACHE)
os.environ.setdefault("HF_HOME", _CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    # never load installed entry points implicitly; the tests load this plugin on purpose
    sys._called_from_test = True  # type: ignore[attr-defined]


@pytest.fixture
def example(templates_hub_plugin) -> str:
    """The installed plugin, loaded through its entry point for one test."""
    return templates_hub_plugin("example_templates")
