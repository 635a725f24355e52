"""pytest plugin (``pytest11`` entry point) exposing the conformance kit's fixtures to plugin test suites.

Kept import-light: pytest loads it in every session of an environment where templates-hub is installed,
so nothing heavy (datasets, transformers) is imported until a fixture is used.

Fixtures:

- ``templates_hub_plugin``: ``templates_hub_plugin("my_plugin")`` loads the installed entry-point
  plugin of that name (entry point or distribution name) for the test and unloads it afterwards;
  returns its registered name. Use it because templates-hub's own test suite never loads entry points
  implicitly, and a plugin's tests must not depend on which other plugins happen to be installed.
- ``templates_hub_tokenizer``: a fresh copy of the tiny offline tokenizer (byte-level BPE with the chat
  special tokens of every major template family).
- ``templates_hub_tokenizer_dir``: the same tokenizer saved to a directory, for CLI commands that take
  ``--tokenizer DIR`` (``--tokenizer tiny`` works too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def templates_hub_plugin() -> Iterator[Callable[[str], str]]:
    """Load installed plugins by name for one test: ``name = templates_hub_plugin("my_plugin")``."""
    import contextlib

    from templates_hub.testing.plugins import installed_plugin

    with contextlib.ExitStack() as stack:

        def load(name: str) -> str:
            try:
                return stack.enter_context(installed_plugin(name))
            except LookupError as exc:
                pytest.fail(str(exc), pytrace=False)

        yield load


@pytest.fixture
def templates_hub_tokenizer() -> Any:
    """A fresh copy of the tiny offline tokenizer (tests may add tokens to it)."""
    from templates_hub.testing.tokenizers import tiny_tokenizer

    return tiny_tokenizer()


@pytest.fixture(scope="session")
def templates_hub_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny offline tokenizer saved to a directory (``--tokenizer DIR`` for CLI tests)."""
    from templates_hub.testing.tokenizers import tiny_tokenizer

    path = tmp_path_factory.mktemp("templates_hub_tokenizer")
    tiny_tokenizer().save_pretrained(path)
    return path
