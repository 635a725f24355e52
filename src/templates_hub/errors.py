"""Error types.

Every error a user can cause (bad data, bad recipe, bad template, a broken plugin) is a
``TemplatesHubError``: the CLI prints its message and exits with a status code instead of a
traceback. Messages name the file, the row or line, and the field whenever those are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TemplatesHubError(Exception):
    """Base class of every error caused by input (data, recipe, template, plugin)."""

    exit_code: int = 2


class UsageError(TemplatesHubError):
    """A command was called with arguments that cannot work (missing file, bad option)."""


class ConfigError(TemplatesHubError):
    """A recipe, YAML template or other configuration file is invalid.

    ``problems`` holds one ``(path, message)`` pair per problem, where ``path`` is a YAML path such as
    ``filters[2].min``.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None, source: str | None = None):
        self.problems = problems or []
        self.source = source
        super().__init__(message)


class DataError(TemplatesHubError):
    """Input data cannot be read at all (not a per-row problem: those are ``RowIssue``)."""

    def __init__(self, message: str, source: str | None = None, row: int | None = None, field: str | None = None):
        self.source = source
        self.row = row
        self.field = field
        loc = ":".join(str(p) for p in (source, row) if p is not None)
        if field:
            loc = f"{loc}: {field}" if loc else field
        super().__init__(f"{loc}: {message}" if loc else message)


class TemplateError(TemplatesHubError):
    """A chat template is invalid, unsafe, or cannot render a conversation."""


class TokenizerError(TemplatesHubError):
    """A tokenizer cannot be loaded or lacks what a template needs."""


class PluginError(TemplatesHubError):
    """A plugin failed to load, or a registry lookup failed (unknown or conflicting name)."""


class TrainingCheckError(TemplatesHubError):
    """A check run before training failed; the message says how to fix it."""


@dataclass
class RowIssue:
    """One problem found in one input row.

    ``row`` is 1-based: the line number for JSONL / text files, the position in the array for JSON arrays
    and the row index + 1 for columnar files (csv counts the header as line 1, so its data rows start at 2
    when ``line`` is used).
    """

    row: int
    field: str
    reason: str
    source: str | None = None
    kind: str = "invalid"  # short machine-readable category, e.g. "bad_json", "turn_order"
    raw: Any = field(default=None, repr=False)

    def location(self) -> str:
        loc = f"{self.source}:{self.row}" if self.source else f"row {self.row}"
        return f"{loc}: {self.field}" if self.field else loc

    def __str__(self) -> str:
        return f"{self.location()}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "row": self.row, "field": self.field, "reason": self.reason, "kind": self.kind}
