"""Where ../shared is, and loading its tokenizers; importable from any test module.

(Test modules must import these from here, not from ``conftest``: with the plugins' own test folders in
the same run, the module name ``conftest`` is ambiguous.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TEMPLATES_HUB_SHARED", REPO_ROOT.parent / "shared"))


def shared_tokenizer(name: str):
    """Load one of ../shared/tokenizers/NAME, skipping when absent or when its extra library is missing."""
    path = SHARED / "tokenizers" / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (ImportError, ValueError) as exc:  # sentencepiece / tiktoken missing
        pytest.skip(f"cannot load {name}: {exc}")
