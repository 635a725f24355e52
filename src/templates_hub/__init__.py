"""templates-hub: training-ready data for LLM fine-tuning, with pluggable formats, filters, chat
templates, preprocessors and exporters.

The public API is re-exported here; heavy submodules (datasets, transformers, torch) are imported
lazily on first attribute access so ``import templates_hub`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    ConfigError,
    DataError,
    PluginError,
    RowIssue,
    TemplateError,
    TemplatesHubError,
    TokenizerError,
    TrainingCheckError,
    UsageError,
)
from .hookspecs import hookimpl
from .schemas import Conversation, KTOExample, Message, PreferenceExample, TextDocument, ToolCall, validate_row
from .templates.base import ChatTemplate, Piece, RenderOptions, SpecialTokens

__version__ = "0.1.0"

#: public name -> "module:attribute", imported on first access
_LAZY: dict[str, str] = {
    "get_registry": "templates_hub.plugins:get_registry",
    "load_plugins": "templates_hub.plugins:load_plugins",
    "build_tiny_tokenizer": "templates_hub.tiny:build_tiny_tokenizer",
    "tiny_model": "templates_hub.tiny:tiny_model",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'templates_hub' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "ChatTemplate", "ConfigError", "Conversation", "DataError", "KTOExample", "Message", "Piece", "PluginError",
    "PreferenceExample", "RenderOptions", "RowIssue", "SpecialTokens", "TemplateError", "TemplatesHubError",
    "TextDocument", "TokenizerError", "ToolCall", "TrainingCheckError", "UsageError", "hookimpl", "validate_row",
    *_LAZY,
]
