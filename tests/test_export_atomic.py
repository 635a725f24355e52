"""Atomic export: an export interrupted at any write step leaves the previous state intact."""

from __future__ import annotations

import json
import shutil

import pytest
from test_export_support import FIXTURES, run_export, snapshot

from templates_hub.errors import UsageError
from templates_hub.export import atomic
from templates_hub.export.atomic import StagedExport, list_leftovers, recover


class Interrupted(Exception):
    """Raised by the monkeypatched step counter (stands in for a crash, a full disk, Ctrl-C ...)."""


class StepCounter:
    def __init__(self, fail_at: int | None = None, exc: type[BaseException] = Interrupted):
        self.calls: list[tuple[str, str]] = []
        self.fail_at = fail_at
        self.exc = exc

    def __call__(self, kind, target):
        self.calls.append((kind, target.name))
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise self.exc(f"interrupted at step {self.fail_at}: {kind} {target.name}")


# -- the writer alone ---------------------------------------------------------------------------------------
def test_staged_files_appear_only_at_commit(tmp_path):
    with StagedExport(tmp_path, "exp") as staged:
        staged.write_text("a.txt", "new")
        staged.replace_sibling("shared.json", b"{}")
        assert not (tmp_path / "exp").exists() and not (tmp_path / "shared.json").exists()
        assert staged.staged_files() == [__import__("pathlib").Path("a.txt")]
        staged.commit()
    assert (tmp_path / "exp" / "a.txt").read_text() == "new"
    assert (tmp_path / "shared.json").read_text() == "{}"
    assert list(list_leftovers(tmp_path)) == []


def test_leaving_without_commit_discards_everything(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "old.txt").write_text("old")
    with StagedExport(tmp_path, "exp") as staged:
        staged.write_text("a.txt", "new")
    assert snapshot(tmp_path) == {"exp/old.txt": snapshot(tmp_path)["exp/old.txt"]}
    assert list(list_leftovers(tmp_path)) == []


def test_paths_must_stay_inside_the_export(tmp_path):
    with StagedExport(tmp_path, "exp") as staged:
        with pytest.raises(UsageError):
            staged.path("../escape.txt")
        with pytest.raises(UsageError):
            staged.replace_sibling("sub/file.json", b"")
    with pytest.raises(UsageError):
        StagedExport(tmp_path, "../x")


def test_a_second_export_into_the_same_directory_waits(tmp_path):
    with StagedExport(tmp_path, "a"):
        with pytest.raises(UsageError, match="another export"):
            with StagedExport(tmp_path, "b"):
                pass


def test_new_root_is_removed_again_when_nothing_was_committed(tmp_path):
    root = tmp_path / "new"
    with pytest.raises(Interrupted):
        with StagedExport(root, "exp") as staged:
            staged.write_text("a.txt", "x")
            raise Interrupted()
    assert not root.exists()


# -- interrupting a real LLaMA-Factory export at every step ---------------------------------------------------
@pytest.fixture
def previous_export(tmp_path):
    """An out dir with foreign dataset_info entries and an earlier export of `kto`; returns (dir, pristine copy)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}))
    (out / "dataset_info.json.bak").write_text("{}\n")
    (out / "alpaca_en_demo.json").write_text("[]")
    run_export(out, "llamafactory", "kto", name="kto")
    pristine = tmp_path / "pristine"
    shutil.copytree(out, pristine)
    return out, pristine


def _restore(out, pristine):
    shutil.rmtree(out)
    shutil.copytree(pristine, out)


def _new_export(out, **kwargs):
    return run_export(out, "llamafactory", "kto", name="kto", validation=1, force=True, **kwargs)


def _count_steps(monkeypatch, out, pristine, **kwargs):
    counter = StepCounter()
    monkeypatch.setattr(atomic.FS, "step", counter)
    _new_export(out, **kwargs)
    monkeypatch.undo()
    expected_new = snapshot(out)
    _restore(out, pristine)
    return counter.calls, expected_new


def _check_every_step(monkeypatch, out, pristine, **kwargs):
    calls, expected_new = _count_steps(monkeypatch, out, pristine, **kwargs)
    old = snapshot(pristine)
    commit_point = max(i for i, (kind, name) in enumerate(calls, start=1) if kind == "write" and name.endswith(
        atomic.JOURNAL_SUFFIX))
    assert len(calls) > 10 and commit_point < len(calls)
    for step in range(1, len(calls) + 1):
        monkeypatch.setattr(atomic.FS, "step", StepCounter(fail_at=step))
        if step <= commit_point:
            with pytest.raises(Interrupted):
                _new_export(out, **kwargs)
            assert snapshot(out) == old, f"step {step} ({calls[step - 1]}) changed the previous export"
        else:  # past the commit point only cleanup remains: the new export is in place
            _new_export(out, **kwargs)
            visible = {path for path in snapshot(out) if not path.startswith(".")}
            assert visible == set(expected_new), f"step {step} ({calls[step - 1]})"
            recover(out, "kto")  # what the next export does first: the garbage goes
            assert list(list_leftovers(out)) == [] and set(snapshot(out)) == set(expected_new)
        monkeypatch.undo()
        _restore(out, pristine)
    return calls


def test_interrupt_at_each_write_step_leaves_the_old_state(monkeypatch, previous_export):
    out, pristine = previous_export
    calls = _check_every_step(monkeypatch, out, pristine)
    kinds = {kind for kind, _ in calls}
    assert {"mkdir", "write", "rename", "remove"} <= kinds
    names = {name for _, name in calls}
    assert "train.json" in names and "validation.json" in names and "manifest.json" in names


def test_interrupt_while_saving_the_tokenized_dataset(monkeypatch, previous_export):
    out, pristine = previous_export
    calls, _ = _count_steps(monkeypatch, out, pristine, template=str(FIXTURES / "custom_template.yaml"))
    step = next(i for i, (kind, name) in enumerate(calls, start=1) if name == "tokenized")
    monkeypatch.setattr(atomic.FS, "step", StepCounter(fail_at=step))
    with pytest.raises(Interrupted):
        _new_export(out, template=str(FIXTURES / "custom_template.yaml"))
    assert snapshot(out) == snapshot(pristine)


class Killed(BaseException):
    """A hard kill: no exception handler of the export runs (we also disable the in-process rollback)."""


def test_a_killed_export_is_recovered_by_the_next_one(monkeypatch, previous_export):
    out, pristine = previous_export
    calls, expected_new = _count_steps(monkeypatch, out, pristine)
    old = snapshot(pristine)
    for step in range(1, len(calls) + 1):
        monkeypatch.setattr(atomic.FS, "step", StepCounter(fail_at=step, exc=Killed))
        monkeypatch.setattr(atomic, "_rollback", lambda swaps: None)  # the process died: nothing undoes
        monkeypatch.setattr(StagedExport, "_discard", lambda self: None)
        monkeypatch.setattr(atomic, "_remove_now", lambda path: None)
        try:
            _new_export(out)
        except Killed:
            pass
        monkeypatch.undo()
        recover(out, "kto")
        state = snapshot(out)
        assert state == old or set(state) == set(expected_new), f"step {step} ({calls[step - 1]})"
        assert list(list_leftovers(out)) == [], f"step {step} left {list(list_leftovers(out))}"
        _restore(out, pristine)


def test_a_killed_export_is_resolved_before_the_existing_export_is_judged(monkeypatch, previous_export):
    """Killed after its directory was swapped in, an export leaves a journal: the next export must undo it
    before comparing with "the existing export", not take the half-swapped directory for a finished one."""
    out, pristine = previous_export
    changed = {"hyperparameters": {"num_train_epochs": 1.0}}  # same files and dataset_info entries, new config
    calls, _ = _count_steps(monkeypatch, out, pristine, **changed)
    step = next(i for i, (kind, name) in enumerate(calls, start=1) if kind == "rename" and name == "dataset_info.json")
    monkeypatch.setattr(atomic.FS, "step", StepCounter(fail_at=step, exc=Killed))
    monkeypatch.setattr(atomic, "_rollback", lambda swaps: None)
    monkeypatch.setattr(StagedExport, "_discard", lambda self: None)
    monkeypatch.setattr(atomic, "_remove_now", lambda path: None)
    with pytest.raises(Killed):
        _new_export(out, **changed)
    monkeypatch.undo()
    assert list(list_leftovers(out))  # the journal and the old copies are still there
    with pytest.raises(UsageError, match="pass --force"):  # rolled back: the old export is there again
        run_export(out, "llamafactory", "kto", name="kto", validation=1, **changed)
    assert snapshot(out) == snapshot(pristine)


def test_file_system_errors_are_messages(monkeypatch, tmp_path):
    """A read-only directory, a full disk ...: one message naming the path, nothing left behind."""

    def refuse(kind, target):
        if kind == "write":
            raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(atomic.FS, "step", refuse)
    with pytest.raises(UsageError, match="cannot write the llamafactory export: Permission denied"):
        run_export(tmp_path / "out", "llamafactory", "sft")
    assert not (tmp_path / "out").exists()


def test_recovering_an_export_that_was_already_rolled_back_keeps_the_old_state(monkeypatch, previous_export):
    """Killed after its in-process rollback but before removing the journal: recovering again must not
    take the restored old files for new ones (and delete them)."""
    out, pristine = previous_export
    calls, _ = _count_steps(monkeypatch, out, pristine)
    step = next(i for i, (kind, name) in enumerate(calls, start=1) if kind == "rename" and name == "dataset_info.json")
    remove_now = atomic._remove_now
    monkeypatch.setattr(atomic.FS, "step", StepCounter(fail_at=step))
    monkeypatch.setattr(atomic, "_remove_now",
                        lambda path: None if path.name.endswith(atomic.JOURNAL_SUFFIX) else remove_now(path))
    with pytest.raises(Interrupted):
        _new_export(out)
    monkeypatch.undo()
    assert {p.name for p in list_leftovers(out)} == {f".kto{atomic.JOURNAL_SUFFIX}"}
    assert recover(out, "kto") == "rolled back an interrupted export"
    assert snapshot(out) == snapshot(pristine)


def test_a_journal_of_the_previous_release_is_recovered_not_swept(monkeypatch, previous_export):
    """Journals written before ``had_final`` was recorded lack the key. Reading it as unreadable swept the
    ``.old`` copies: an export killed after its directory was swapped in lost the previous export."""
    out, pristine = previous_export
    calls, _ = _count_steps(monkeypatch, out, pristine)
    old = snapshot(pristine)
    renames = [i for i, (kind, _) in enumerate(calls, start=1) if kind == "rename"]
    assert len(renames) >= 3
    for step in renames:
        monkeypatch.setattr(atomic.FS, "step", StepCounter(fail_at=step, exc=Killed))
        monkeypatch.setattr(atomic, "_rollback", lambda swaps: None)  # the process died: nothing undoes
        monkeypatch.setattr(StagedExport, "_discard", lambda self: None)
        monkeypatch.setattr(atomic, "_remove_now", lambda path: None)
        with pytest.raises(Killed):
            _new_export(out)
        monkeypatch.undo()
        journal = out / f".kto{atomic.JOURNAL_SUFFIX}"
        payload = json.loads(journal.read_text())
        for swap in payload["swaps"]:
            del swap["had_final"]  # the previous release's journal
        journal.write_text(json.dumps(payload))
        assert recover(out, "kto") == "rolled back an interrupted export", f"step {step} ({calls[step - 1]})"
        assert snapshot(out) == old, f"step {step} ({calls[step - 1]})"
        assert list(list_leftovers(out)) == []
        _restore(out, pristine)
