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
from .schemas import (
    Conversation,
    KTOExample,
    Message,
    PreferenceExample,
    TextDocument,
    ToolCall,
    validate_row,
)
from .templates.base import ChatTemplate, Piece, RenderOptions, SpecialTokens

__version__ = "0.1.0"

#: public name -> "module:attribute", imported on first access
_LAZY: dict[str, str] = {
    "get_registry": "templates_hub.plugins:get_registry",
    "load_plugins": "templates_hub.plugins:load_plugins",
    "build_tiny_tokenizer": "templates_hub.tiny:build_tiny_tokenizer",
    "tiny_model": "templates_hub.tiny:tiny_model",
    "preprocess_dataset": "templates_hub.preprocess.api:preprocess_dataset",
    "PreprocessResult": "templates_hub.preprocess.api:PreprocessResult",
    "PreprocessConfig": "templates_hub.preprocess.config:PreprocessConfig",
    "TokenizerEngine": "templates_hub.preprocess.encode:TokenizerEngine",
    "encode_pieces": "templates_hub.preprocess.encode:encode_pieces",
    "infer_seqlen": "templates_hub.preprocess.seqlen:infer_seqlen",
    "plan_packs": "templates_hub.preprocess.packing:plan_packs",
    "collator_for": "templates_hub.collate:collator_for",
    "export": "templates_hub.export:_package",
    "export_dataset": "templates_hub.export.api:export_dataset",
    "ExportResult": "templates_hub.export.base:ExportResult",
    "load_canonical": "templates_hub.io:load_canonical",
    "LoadResult": "templates_hub.io:LoadResult",
    "write_records": "templates_hub.formats.registry:write_records",
    "detect_format": "templates_hub.formats.registry:detect_format",
    "get_format": "templates_hub.formats.registry:get_format",
    "FormatAdapter": "templates_hub.formats.base:FormatAdapter",
    "validate_file": "templates_hub.validate:validate_file",
    "ValidationReport": "templates_hub.validate:ValidationReport",
    "DatasetAttr": "templates_hub.formats.dataset_info:DatasetAttr",
    "read_dataset_info": "templates_hub.formats.dataset_info:read_dataset_info",
    "Recipe": "templates_hub.recipe:Recipe",
    "load_recipe": "templates_hub.recipe:load_recipe",
    "apply_overrides": "templates_hub.recipe:apply_overrides",
    "Filter": "templates_hub.filters.base:Filter",
    "FilterResult": "templates_hub.filters.apply:FilterResult",
    "apply_filters": "templates_hub.filters.apply:apply_filters",
    "SplitConfig": "templates_hub.split:SplitConfig",
    "SplitResult": "templates_hub.split:SplitResult",
    "split_dataset": "templates_hub.split:split_dataset",
    "PrepareResult": "templates_hub.prepare:PrepareResult",
    "prepare": "templates_hub.prepare:prepare",
    "train": "templates_hub.train:train",
    "TrainResult": "templates_hub.train.runner:TrainResult",
    "run": "templates_hub.run:run",
    "RunResult": "templates_hub.run:RunResult",
    "get_template": "templates_hub.templates:get_template",
    "fix_tokenizer": "templates_hub.templates:fix_tokenizer",
    "attach_chat_template": "templates_hub.templates:attach_chat_template",
    "SlotTemplate": "templates_hub.templates.slot:SlotTemplate",
    "JinjaTemplate": "templates_hub.templates.jinja_template:JinjaTemplate",
    "load_template_file": "templates_hub.templates.spec:load_template_file",
    "template_from_spec": "templates_hub.templates.spec:template_from_spec",
    "battery": "templates_hub.templates.battery:battery",
    "load_tokenizer": "templates_hub.tokenizer:load_tokenizer",
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
