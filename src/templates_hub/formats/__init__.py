"""Format adapters: raw records of many layouts <-> canonical rows.

- ``get_format(name)`` / ``make_adapter(name, options, kind)``: look up a registered adapter;
- ``detect_format(sample)``: auto-detect the layout of the first rows;
- ``write_records(rows, layout=..., kind=...)``: canonical rows -> alpaca / sharegpt / openai (or TRL
  ``preference`` / ``kto``, ``text``) records;
- ``load_canonical(...)`` / ``LoadResult`` (from ``templates_hub.io``): load a file, folder or hub id;
- ``dataset_info``: LLaMA-Factory's ``dataset_info.json`` entries (``DatasetAttr``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    KINDS,
    THOUGHT_WORDS,
    Converted,
    Detection,
    FormatAdapter,
    RowProblem,
    adapt_record,
)
from .registry import detect_format, format_names, get_format, make_adapter, write_records

if TYPE_CHECKING:  # pragma: no cover
    from ..io import LoadResult, load_canonical

_FROM_IO = ("load_canonical", "LoadResult", "Shard")


def __getattr__(name: str) -> Any:
    # io imports this package; import it lazily to keep the dependency one-way at import time
    if name in _FROM_IO:
        from .. import io

        return getattr(io, name)
    raise AttributeError(f"module 'templates_hub.formats' has no attribute {name!r}")


__all__ = [
    "KINDS", "THOUGHT_WORDS", "Converted", "Detection", "FormatAdapter", "LoadResult", "RowProblem", "adapt_record",
    "detect_format", "format_names", "get_format", "load_canonical", "make_adapter", "write_records",
]
