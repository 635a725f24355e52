"""``validate``: check every row of a data source and account for each one.

``validate_file`` loads the source with ``load_canonical`` (so it checks exactly what training would
use), counts valid and invalid rows by reason, keeps every invalid row with its location, and can
write a rejects file holding each invalid row verbatim with its reason. The accounting always holds:
``valid + invalid == total``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, RowIssue, TemplatesHubError, UsageError
from .io import LoadResult, load_canonical
from .rejects import RejectsWriter

STEP = "validate"


@dataclass
class ValidationReport:
    """What ``validate_file`` found."""

    source: str
    format: str
    kind: str
    detected: bool
    evidence: str
    unit: str  # "line" or "row": what the numbers in ``issues`` count
    total: int
    valid: int
    issues: list[RowIssue]
    notes: list[str] = field(default_factory=list)
    rejects_path: str | None = None

    @property
    def invalid(self) -> int:
        return len(self.issues)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def by_reason(self) -> dict[str, int]:
        """Invalid rows per category (``bad_json``, ``turn_order``, ...), most frequent first."""
        return dict(Counter(i.kind for i in self.issues).most_common())

    @property
    def exit_code(self) -> int:
        """0 when every row is valid, 1 when some are not (usage and I/O errors exit 2 earlier)."""
        return 0 if self.ok else 1

    def location(self, issue: RowIssue) -> str:
        return f"{issue.source or self.source}:{issue.row}"

    def to_dict(self, max_errors: int | None = 20) -> dict[str, Any]:
        shown = self.issues if max_errors is None else self.issues[:max_errors]
        return {
            "source": self.source,
            "format": self.format,
            "kind": self.kind,
            "detected": self.detected,
            "evidence": self.evidence,
            "unit": self.unit,
            "rows": self.total,
            "valid": self.valid,
            "invalid": self.invalid,
            "by_reason": self.by_reason,
            "errors": [{**i.to_dict(), "unit": self.unit} for i in shown],
            "errors_shown": len(shown),
            "notes": self.notes,
            "rejects_file": self.rejects_path,
        }


def _refuse_rejects_inside(rejects: Path, source: Path) -> None:
    """The rejects file must not overwrite the data, nor land in a folder of shards (read as data next time)."""
    target, data = rejects.expanduser().resolve(), source.expanduser().resolve()
    if target == data or (data.is_dir() and data in target.parents):
        raise UsageError(f"--rejects {rejects}: {'is the data file itself' if target == data else 'is inside the data folder'}"
                         "; write the rejects somewhere else")


def _count_streaming(result: LoadResult) -> int:
    """Iterate a streamed dataset to the end (rejects are collected on the way)."""
    try:
        return sum(1 for _ in result.dataset)
    except TemplatesHubError:
        raise
    except Exception as exc:  # noqa: BLE001 - a streamed file is read only now; say which one failed
        raise DataError(f"cannot read: {type(exc).__name__}: {exc}", source=result.source) from None


def validate_file(
    source: str | os.PathLike[str] | None,
    *,
    format: str | None = None,
    kind: str | None = None,
    dataset_info: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    options: Mapping[str, Any] | None = None,
    num_proc: int | None = None,
    rejects_path: str | os.PathLike[str] | None = None,
    max_rows: int | None = None,
    streaming: bool = False,
    split: str = "train",
) -> ValidationReport:
    """Validate every row of ``source`` (see ``load_canonical`` for the arguments).

    ``streaming=True`` reads the source in constant memory (for files larger than memory). When
    ``rejects_path`` is given, every invalid row is written there verbatim with its reason (one JSON
    object per line, see ``templates_hub.rejects``), also when there are none (an empty file).
    Raises ``TemplatesHubError`` subclasses (exit status 2) when the source cannot be read at all.
    """
    if rejects_path is not None and source is not None:
        _refuse_rejects_inside(Path(rejects_path), Path(source))
    result = load_canonical(
        source, format=format, kind=kind, dataset_info=dataset_info, dataset=dataset, options=options,
        num_proc=num_proc, max_rows=max_rows, streaming=streaming, split=split,
    )
    valid = _count_streaming(result) if streaming else len(result.dataset)
    if streaming and valid + len(result.rejects) == 0:  # load_canonical checks this itself when not streaming
        raise DataError("no rows (the file holds no records)", source=result.source)
    issues = sorted(result.rejects, key=lambda i: (i.source or "", i.row))
    report = ValidationReport(
        source=result.source, format=result.format, kind=result.kind, detected=result.detected,
        evidence=result.evidence, unit=result.unit, total=valid + len(issues), valid=valid, issues=issues,
        notes=list(result.notes),
    )
    if rejects_path is not None:
        with RejectsWriter(rejects_path) as writer:
            writer.write_issues(issues, STEP)
        report.rejects_path = str(Path(rejects_path))
    return report
