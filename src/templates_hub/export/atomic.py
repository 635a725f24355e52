"""Atomic export: build everything in a staging directory, then swap it in with renames.

An export owns one directory ``ROOT/NAME`` and may replace a few sibling files in ``ROOT`` (LLaMA-Factory's
shared ``dataset_info.json`` and its ``.bak`` backup). Writing those in place would leave a half-written
export (or a ``dataset_info.json`` pointing at missing files) whenever the process is interrupted, so:

1. every file is written inside ``ROOT/.NAME.staging-TOKEN/`` (or as ``ROOT/.FILE.staging-TOKEN``);
2. a journal ``ROOT/.NAME.export-journal.json`` lists the planned swaps;
3. each destination is renamed aside (``.old-TOKEN``) and its staged replacement renamed into place;
4. the journal is marked committed, the old copies are deleted, the journal is removed.

An exception at any step rolls every swap back in reverse order, so the previous export and the
previous ``dataset_info.json`` are intact. A hard kill (power loss, SIGKILL) leaves the journal behind:
the next export to the same place finds it and rolls back (or finishes the cleanup of) the interrupted
one before doing anything else. Renames are atomic because staging lives in the same directory as the
destination (same file system).

Every file-system mutation goes through ``FS`` so that tests can interrupt the export at each step.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

JOURNAL_SUFFIX = ".export-journal.json"


class _FileSystem:
    """The mutating operations an export performs, one method per step (tests monkeypatch ``step``)."""

    def step(self, kind: str, target: Path) -> None:
        """Called before every mutation; a test replaces it to raise at the N-th step."""

    def mkdir(self, path: Path) -> None:
        self.step("mkdir", path)
        path.mkdir(parents=True, exist_ok=True)

    def write_bytes(self, path: Path, data: bytes) -> None:
        self.step("write", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def write_with(self, path: Path, writer: Callable[[Path], Any]) -> Any:
        """Let ``writer`` produce ``path`` (a file or a directory), e.g. ``Dataset.to_json`` or ``save_to_disk``."""
        self.step("write", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return writer(path)

    def copy_file(self, src: Path, dst: Path) -> None:
        self.step("copy", dst)
        shutil.copy2(src, dst)

    def rename(self, src: Path, dst: Path) -> None:
        self.step("rename", dst)
        os.replace(src, dst)

    def remove(self, path: Path) -> None:
        self.step("remove", path)
        _remove_now(path)


def _remove_now(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


#: the operations every export goes through (replace attributes in tests, never the object)
FS = _FileSystem()


@dataclass
class _Swap:
    staged: Path
    final: Path
    old: Path
    had_final: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"staged": self.staged.name, "final": self.final.name, "old": self.old.name,
                "had_final": self.had_final}


@dataclass
class StagedExport:
    """One export being built under ``root / name``; use as a context manager, then ``commit()``.

    Leaving the ``with`` block without a commit (an exception, or simply not calling ``commit``)
    deletes the staging files and leaves the destination untouched.
    """

    root: Path
    name: str
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    committed: bool = False
    _swaps: list[_Swap] = field(default_factory=list)
    _lock_fd: int | None = None
    _created_root: bool = False

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.name or "/" in self.name or "\\" in self.name or self.name in {".", ".."}:
            raise UsageError(f"export name {self.name!r} must be a plain directory name")

    # -- paths ------------------------------------------------------------------------------------
    @property
    def final(self) -> Path:
        """The export's own directory once committed."""
        return self.root / self.name

    @property
    def staging(self) -> Path:
        return self.root / f".{self.name}.staging-{self.token}"

    @property
    def journal(self) -> Path:
        return self.root / f".{self.name}{JOURNAL_SUFFIX}"

    def path(self, relative: str | os.PathLike[str]) -> Path:
        """Where ``relative`` (inside the export directory) is staged."""
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts:
            raise UsageError(f"{relative}: export files must stay inside the export directory")
        return self.staging / rel

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> StagedExport:
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} is a file; export into a directory")
        if not self.root.exists():
            FS.mkdir(self.root)
            self._created_root = True
        self._lock()
        try:
            recover(self.root, self.name)
            FS.mkdir(self.staging)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.committed:
                self._discard()
        finally:
            self._unlock()

    def _lock(self) -> None:
        self._lock_fd = _lock(self.root)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _discard(self) -> None:
        for swap in self._swaps:
            _remove_now(swap.staged)
        _remove_now(self.staging)
        if self._created_root:
            with contextlib.suppress(OSError):
                self.root.rmdir()  # only if still empty

    # -- writing ----------------------------------------------------------------------------------
    def write_bytes(self, relative: str, data: bytes) -> Path:
        target = self.path(relative)
        FS.write_bytes(target, data)
        return target

    def write_text(self, relative: str, text: str) -> Path:
        return self.write_bytes(relative, text.encode("utf-8"))

    def write_json(self, relative: str, obj: Any) -> Path:
        return self.write_text(relative, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

    def write_with(self, relative: str, writer: Callable[[Path], Any]) -> Path:
        """Let ``writer(path)`` create ``relative`` (datasets' ``to_json`` / ``save_to_disk``)."""
        target = self.path(relative)
        FS.write_with(target, writer)
        return target

    def replace_sibling(self, filename: str, data: bytes) -> Path:
        """Stage new content for ``root / filename`` (outside the export directory), swapped in at commit."""
        if "/" in filename or "\\" in filename:
            raise UsageError(f"{filename}: sibling files must be directly inside {self.root}")
        staged = self.root / f".{self.name}~{filename}.staging-{self.token}"
        FS.write_bytes(staged, data)
        old = self.root / f".{self.name}~{filename}.old-{self.token}"
        self._swaps.append(_Swap(staged, self.root / filename, old))
        return staged

    def staged_files(self) -> list[Path]:
        """Every file of the export directory, relative to it (sorted)."""
        return sorted(p.relative_to(self.staging) for p in self.staging.rglob("*") if p.is_file())

    # -- commit -----------------------------------------------------------------------------------
    def commit(self) -> None:
        """Swap the staged directory and sibling files into place; roll everything back on error."""
        if self.committed:
            return
        swaps = [_Swap(self.staging, self.final, self.root / f".{self.name}.old-{self.token}"), *self._swaps]
        for swap in swaps:
            swap.had_final = _exists(swap.final)
        FS.write_bytes(self.journal, _journal_bytes(self.token, swaps, "swapping"))
        try:
            for swap in swaps:
                if swap.had_final:
                    FS.rename(swap.final, swap.old)
                FS.rename(swap.staged, swap.final)
            FS.write_bytes(self.journal, _journal_bytes(self.token, swaps, "committed"))
        except BaseException:
            _rollback(swaps)
            _remove_now(self.journal)
            raise
        self.committed = True
        # Past the commit point: failures below only leave garbage that the next export cleans up.
        with contextlib.suppress(Exception):
            for swap in swaps:
                if swap.had_final:
                    FS.remove(swap.old)
            FS.remove(self.journal)


def _journal_bytes(token: str, swaps: list[_Swap], state: str) -> bytes:
    payload = {"token": token, "state": state, "swaps": [s.to_json() for s in swaps]}
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _rollback(swaps: list[_Swap]) -> None:
    """Undo swaps in reverse order, from the file system and ``had_final`` alone (also after a crash).

    Idempotent, so that a crash during a rollback (or before the journal is removed) is rolled back
    again safely: a swap whose staged copy is gone was either applied (the new content is at ``final``)
    or already undone (``final`` is the previous content again, and no ``old`` copy is left).
    """
    for swap in reversed(swaps):
        if not _exists(swap.staged):
            if swap.had_final and not _exists(swap.old):
                continue  # already undone
            if _exists(swap.final):
                os.replace(swap.final, swap.staged)  # move the new content back out of the way
        if _exists(swap.old):
            os.replace(swap.old, swap.final)
        _remove_now(swap.staged)


def _lock(root: Path) -> int | None:
    """Serialise exports into ``root`` (advisory ``flock`` on the directory); the descriptor holds the lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return None
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"{root}: another export into this directory is running; wait for it to finish") from None
    return fd


def recover_interrupted(root: Path, name: str) -> str | None:
    """``recover`` under the directory lock, when an interrupted export of ``root / name`` left a journal.

    Exporters call it before they look at the existing export: until the journal is resolved, the
    directory may show the half-swapped state of the killed export instead of the committed one.
    """
    if not (Path(root) / f".{name}{JOURNAL_SUFFIX}").exists():
        return None
    fd = _lock(Path(root))
    try:
        return recover(Path(root), name)
    finally:
        if fd is not None:
            os.close(fd)


def recover(root: Path, name: str) -> str | None:
    """Finish or undo an export of ``root / name`` that was killed half-way; return what was done."""
    journal = Path(root) / f".{name}{JOURNAL_SUFFIX}"
    if not journal.exists():
        _sweep(Path(root), name)
        return None
    try:
        payload = json.loads(journal.read_text(encoding="utf-8"))
        swaps = [_journal_swap(root, s) for s in payload["swaps"]]
        state = payload["state"]
    except (OSError, ValueError, KeyError, TypeError):
        # The journal was being written when the process died: either before any swap (the staged copies are
        # garbage) or when marking it committed (every swap done: the old copies are garbage); _sweep deletes both.
        _remove_now(journal)
        _sweep(Path(root), name)
        return "discarded an unreadable journal"
    if state == "committed":
        for swap in swaps:
            _remove_now(swap.old)
        outcome = "finished the cleanup of an interrupted export"
    else:
        _rollback(swaps)
        outcome = "rolled back an interrupted export"
    _remove_now(journal)
    _sweep(Path(root), name)
    return outcome


def _journal_swap(root: Path, entry: dict[str, Any]) -> _Swap:
    """One swap of a journal entry.

    Journals of the previous release lack ``had_final``; it is then read from the file system: the
    destination existed before the export exactly when its ``old`` copy is there (the only case this
    misjudges, a kill between a finished rollback and the journal's removal, is how that release
    recovered too). Refusing such a journal as unreadable would sweep the ``old`` copies, i.e. delete
    the previous export.
    """
    old = root / entry["old"]
    had_final = entry["had_final"] if "had_final" in entry else _exists(old)
    return _Swap(root / entry["staged"], root / entry["final"], old, bool(had_final))


def _sweep(root: Path, name: str) -> None:
    """Delete leftovers of earlier interrupted exports of ``name`` (never anyone else's files).

    Only called when no journal exists, i.e. when no swap is in progress: staged and ``.old`` copies
    are then garbage by construction.
    """
    if not root.is_dir():
        return
    for pattern in (f".{name}.staging-*", f".{name}.old-*", f".{name}~*.staging-*", f".{name}~*.old-*"):
        for leftover in root.glob(pattern):
            _remove_now(leftover)


def list_leftovers(root: Path) -> Iterator[Path]:
    """Hidden staging / old / journal files in ``root`` (for diagnostics and tests)."""
    if not Path(root).is_dir():
        return iter(())
    return (p for p in Path(root).iterdir() if p.name.startswith(".") and (
        ".staging-" in p.name or ".old-" in p.name or p.name.endswith(JOURNAL_SUFFIX)))
