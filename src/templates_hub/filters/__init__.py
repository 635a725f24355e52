"""Row filters: named, parameterised batch functions chained over a dataset (see ``base`` for the contract).

``apply_filters(dataset, specs, tokenizer=None, num_proc=None) -> FilterResult(kept, rejects, counts)``.
Built-ins live in ``length``, ``content``, ``dedup`` and ``tools``; plugins register more through the
``register_filters`` hook.
"""

from __future__ import annotations

from .apply import FilterChain, FilterResult, apply_filters, materialize
from .base import (
    POSITION_COLUMN,
    Filter,
    FilterSpec,
    FunctionFilter,
    build_filter,
    coerce_filter,
    get_filter_class,
)

__all__ = [
    "POSITION_COLUMN",
    "Filter",
    "FilterChain",
    "FilterResult",
    "FilterSpec",
    "FunctionFilter",
    "apply_filters",
    "build_filter",
    "coerce_filter",
    "get_filter_class",
    "materialize",
]
