"""Loading tokenizers from what a user typed after ``--tokenizer``.

Every user-facing command loads its tokenizer here, so the error messages are the same everywhere: a
missing directory, an unreachable hub, or a tokenizer that needs ``sentencepiece`` / ``tiktoken`` (whose
absence transformers reports with misleading messages such as "tiktoken is required to read a tiktoken
file" for a SentencePiece model) become one ``TokenizerError`` that says what to install.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from .errors import TokenizerError

#: ``--tokenizer tiny``: the offline byte-level BPE tokenizer of ``templates_hub.tiny`` (tests, demos).
TINY = "tiny"

_EXTRA_HINT = "install it with `pip install 'templates-hub[tokenizers-extra]'` (or `pip install {pkg}`)"


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def _explain(spec: str, exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    for pkg in ("sentencepiece", "tiktoken", "protobuf"):
        if pkg in lowered and _missing("google.protobuf" if pkg == "protobuf" else pkg):
            return f"cannot load tokenizer {spec!r}: it needs {pkg}, which is not installed; " + _EXTRA_HINT.format(pkg=pkg)
    if "tiktoken is required" in lowered and _missing("sentencepiece"):
        # transformers falls back to its tiktoken reader when sentencepiece is missing, and says so misleadingly
        both = _missing("tiktoken")
        need = "sentencepiece (or tiktoken, for tiktoken models)" if both else "sentencepiece"
        return (f"cannot load tokenizer {spec!r}: its tokenizer.model needs {need}, which is not installed; "
                + _EXTRA_HINT.format(pkg="sentencepiece tiktoken" if both else "sentencepiece"))
    if isinstance(exc, OSError) and not Path(spec).exists():
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        reason = "HF_HUB_OFFLINE is set" if offline else "it is not a local directory and the hub lookup failed"
        return (f"cannot load tokenizer {spec!r}: {reason}. Pass a local tokenizer directory, a reachable hub id, "
                f"or `tiny` for the offline test tokenizer. ({text.splitlines()[0] if text else type(exc).__name__})")
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"cannot load tokenizer {spec!r}: {first}"


def load_tokenizer(spec: str | os.PathLike[str] | Any, *, revision: str | None = None,
                   trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """A tokenizer from a local directory, a Hugging Face hub id, or ``"tiny"``.

    A tokenizer object (anything with ``encode``) is returned unchanged, so APIs can take either.
    Raises ``TokenizerError`` with a message that says what to do when it cannot be loaded.
    """
    if not isinstance(spec, (str, os.PathLike)):
        if callable(getattr(spec, "encode", None)):
            return spec
        raise TokenizerError(f"not a tokenizer or tokenizer path: {spec!r}")
    text = os.fspath(spec)
    if text == TINY:
        from .tiny import build_tiny_tokenizer

        return build_tiny_tokenizer()
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise TokenizerError(f"cannot load tokenizer {text!r}: expected a directory (with tokenizer.json or "
                             "tokenizer_config.json), got a file")
    if path.is_dir():
        if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                                                  "vocab.json", "spiece.model")):
            raise TokenizerError(f"cannot load tokenizer {text!r}: the directory has no tokenizer files "
                                 "(tokenizer.json, tokenizer_config.json, ...)")
        source = str(path)
    else:
        if text.startswith((".", "/", "~")) or text.count("/") > 1:
            raise TokenizerError(f"cannot load tokenizer {text!r}: no such directory")
        source = text
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError, ImportError, KeyError, TypeError, RuntimeError) as exc:
        raise TokenizerError(_explain(text, exc)) from None


def tokenizer_label(tokenizer: Any) -> str:
    """A short name for messages: the tokenizer's ``name_or_path`` or its class."""
    return str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
