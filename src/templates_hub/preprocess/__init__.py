"""Preprocessing: canonical rows -> token ids, labels and packed sequences (LLaMA-Factory's columns).

``preprocess_dataset`` is the entry point; the registered preprocessors (``supervised``, ``pairwise``,
``kto``, ``pretrain``, ``unsupervised``) are picklable batch functions usable with ``datasets.map``
and Ray Data; ``TokenizerEngine`` / ``encode_pieces`` is the batched tokenization engine.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EncodedRow", "PreprocessConfig", "PreprocessResult", "Preprocessor", "TokenizerEngine", "encode_pieces",
    "infer_seqlen", "plan_packs", "preprocess_dataset",
]

_NAMES = {
    "EncodedRow": ".encode", "TokenizerEngine": ".encode", "encode_pieces": ".encode",
    "PreprocessConfig": ".config", "PreprocessResult": ".api", "preprocess_dataset": ".api",
    "Preprocessor": ".base", "infer_seqlen": ".seqlen", "plan_packs": ".packing",
}


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'templates_hub.preprocess' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
