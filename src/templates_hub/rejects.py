"""The rejects file: every row a step refused, with where it came from and why.

One JSON object per line: ``{"step", "source", "row", "field", "reason", "kind", "data"}`` where ``step``
is ``validate``, ``filter:<name>``, ``preprocess`` ...; ``row`` is the 1-based row / line in ``source``;
``data`` is the row as it was read (verbatim where the step had it, else the canonical row). Together
with the kept rows it makes the accounting checkable: rows in == rows out + rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from .errors import RowIssue, UsageError


def reject_record(issue: RowIssue, step: str, data: Any = None) -> dict[str, Any]:
    """The JSON object written for one rejected row."""
    return {
        "step": step,
        "source": issue.source,
        "row": issue.row,
        "field": issue.field,
        "reason": issue.reason,
        "kind": issue.kind,
        "data": issue.raw if data is None else data,
    }


class RejectsWriter:
    """Write reject records to a JSONL file (created or truncated on open; ``append=True`` adds to it)."""

    def __init__(self, path: str | Path, *, append: bool = False):
        self.path = Path(path)
        self.count = 0
        self.append = append
        self._fh: TextIO | None = None

    def __enter__(self) -> RejectsWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a" if self.append else "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write rejects file {self.path}: {exc.strerror}") from None
        return self

    def write(self, record: dict[str, Any]) -> None:
        assert self._fh is not None, "use RejectsWriter as a context manager"
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def write_issues(self, issues: Iterable[RowIssue], step: str) -> None:
        for issue in issues:
            self.write(reject_record(issue, step))

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()


def read_rejects(path: str | Path) -> list[dict[str, Any]]:
    """Read a rejects file back (tests, reports)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
