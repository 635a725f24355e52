"""Shared test fixtures.

Tests are offline and never need ../shared: data and tokenizers from ../shared are used only by tests
marked ``shared``, which skip cleanly when the folder is absent (``shared_dir`` fixture).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Before datasets is imported anywhere: keep its cache out of the user's home and stay offline.
_CACHE = tempfile.mkdtemp(prefix="templates_hub_test_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)  # no leftovers in /tmp
os.environ.setdefault("HF_DATASETS_CACHE", _CACHE)
os.environ.setdefault("HF_HOME", _CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.pop("TEMPLATES_HUB_PLUGINS_DIR", None)

from shared_paths import REPO_ROOT, SHARED, shared_tokenizer  # noqa: E402,F401  (re-exported for fixtures)


def pytest_configure(config: pytest.Config) -> None:
    # Like datasette and llm: never load installed entry-point plugins inside the test run.
    sys._called_from_test = True  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(sys, "_called_from_test"):
        del sys._called_from_test  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (or $TEMPLATES_HUB_SHARED); skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    return SHARED


@pytest.fixture(scope="session")
def lf_demo_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "llamafactory_demo"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A byte-level BPE tokenizer with the chat special tokens of every built-in family (built offline)."""
    from templates_hub.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer) -> Path:
    """The tiny tokenizer saved to disk (for CLI commands that take --tokenizer DIR)."""
    path = tmp_path_factory.mktemp("tiny_tokenizer")
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def isolated_plugins():
    """Register in-test plugins; unregister them (and rebuild registries) afterwards."""
    from templates_hub import plugins

    names: list[str] = []

    def add(plugin: object, name: str) -> str:
        names.append(plugins.register_plugin(plugin, name=name))
        return name

    yield add
    for name in names:
        plugins.unregister_plugin(name)
