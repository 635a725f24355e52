"""What a conformance check returns: one report per component, one failure per broken promise.

Every message names the plugin, the component and (when there is one) the battery case, so a failure
read in a CI log, in ``templates-hub plugins --check`` or in a pytest assertion says exactly where to
look: ``plugin 'acme': template 'acme_chat': prefix_stable [case multi_turn]: ...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ConformanceError(AssertionError):
    """Raised by ``ConformanceReport.raise_for_failures`` (an ``AssertionError``, so pytest shows the message
    as a test failure, not as an error in the test code)."""

    def __init__(self, report: ConformanceReport):
        self.report = report
        super().__init__(report.format())


@dataclass(frozen=True)
class Failure:
    """One check that failed: ``check`` is its name, ``case`` the battery case (or sample) it failed on."""

    check: str
    message: str
    case: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "case": self.case, "message": self.message}


@dataclass
class ConformanceReport:
    """The outcome of checking one component (a template, filter, preprocessor or format).

    ``checks`` lists the checks that ran (in order), ``failures`` what went wrong, ``notes`` what was
    skipped and why (a case the component declares unsupported, a reference template refusing a case).
    """

    kind: str
    component: str
    plugin: str | None = None
    checks: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def label(self) -> str:
        """``plugin 'p': template 'x'`` (the prefix of every message)."""
        who = f"{self.kind} {self.component!r}"
        if self.kind == "plugin" or not self.plugin:
            return who
        return f"plugin {self.plugin!r}: {who}"

    def ran(self, check: str) -> None:
        if check not in self.checks:
            self.checks.append(check)

    def fail(self, check: str, message: str, case: str | None = None) -> None:
        self.ran(check)
        self.failures.append(Failure(check, message, case))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def failed(self, check: str) -> bool:
        return any(f.check == check for f in self.failures)

    def messages(self) -> list[str]:
        """One complete line per failure."""
        out = []
        for f in self.failures:
            where = f" [case {f.case}]" if f.case else ""
            out.append(f"{self.label}: {f.check}{where}: {f.message}")
        return out

    def format(self) -> str:
        if self.ok:
            return f"{self.label}: ok ({len(self.checks)} checks: {', '.join(self.checks)})"
        lines = self.messages()
        return f"{self.label}: {len(lines)} conformance failure(s)\n" + "\n".join(f"  - {line}" for line in lines)

    def raise_for_failures(self) -> ConformanceReport:
        """Raise ``ConformanceError`` listing every failure; return the report when there is none."""
        if self.failures:
            raise ConformanceError(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "component": self.component, "plugin": self.plugin, "ok": self.ok,
                "checks": list(self.checks), "failures": [f.to_dict() for f in self.failures],
                "notes": list(self.notes)}


def short(text: str, limit: int = 40) -> str:
    """``repr`` of at most ``limit`` characters of ``text`` (for diffs inside one-line messages)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def first_difference(a: str, b: str) -> int:
    """Index of the first character where ``a`` and ``b`` differ (the shorter length when one is a prefix)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
