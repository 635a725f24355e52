"""The exporter contract: what built-in and plugin exporters receive and return.

An exporter turns prepared canonical rows (a ``DatasetDict`` with ``train`` and optionally
``validation``) into the files one training tool reads. It is registered through the
``register_exporters`` hook, like every other component::

    from templates_hub import hookimpl
    from templates_hub.export.base import BaseExporter, BuildOutput
    from templates_hub.export.records import write_split

    class MyExporter(BaseExporter):
        name = "mytool"
        description = "Files for mytool"
        kinds = ("sft",)

        def build(self, ctx, staged):
            write_split(ctx, staged, "train", "data/train.jsonl", layout="openai")
            return BuildOutput(commands=[f"mytool train {ctx.export_dir / 'data'}"])

    @hookimpl
    def register_exporters(register):
        register(MyExporter())      # or the class: it is instantiated without arguments

``BaseExporter.export`` does the parts every exporter shares: it refuses to overwrite a different
export without ``force``, stages every file in a temporary directory next to the destination (see
``atomic``), writes ``manifest.json`` and swaps everything in at once. A plugin that wants none of that
may implement the ``Exporter`` protocol directly (a ``name`` and an ``export(ctx) -> ExportResult``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from ..errors import PluginError, UsageError
from .config import DEFAULT_STAGE, STAGE_KINDS, ExportConfig

if TYPE_CHECKING:  # pragma: no cover
    from datasets import DatasetDict

    from ..preprocess.config import PreprocessConfig
    from ..templates.base import ChatTemplate, RenderOptions
    from ..train.config import TrainConfig
    from .atomic import StagedExport


@dataclass
class ExportContext:
    """Everything an exporter needs, already resolved (``templates_hub.export.export`` builds it from a recipe).

    - ``splits``: canonical rows (``schemas.features(kind)``), ``train`` and optionally ``validation``;
    - ``template`` / ``template_spec``: the chat template and what the recipe named it (a registered name,
      a file path or ``tokenizer``): exporters use the spec to tell a built-in from a custom template;
    - ``tokenizer`` / ``tokenizer_spec``: loaded lazily by ``get_tokenizer`` when an exporter needs one;
    - ``render_options``: the recipe's template options (default_system, tool_format, thinking);
    - ``report``: what ``prepare`` counted per step (written to the manifest);
    - ``sources``: input files, hashed into the manifest (and into the fingerprint that tells whether an
      existing export is "the same").
    """

    splits: DatasetDict
    kind: str
    config: ExportConfig
    out_dir: Path
    name: str
    template: ChatTemplate | None = None
    template_spec: str | None = None
    tokenizer: Any = None
    tokenizer_spec: str | None = None
    preprocess: PreprocessConfig | None = None
    render_options: RenderOptions | None = None
    train: TrainConfig | None = None
    report: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    recipe: dict[str, Any] | None = None
    force: bool = False
    progress: bool = True
    #: why ``try_tokenizer`` returned None (recorded in the manifest)
    tokenizer_error: str | None = None
    #: notes raised while the exporter built its files (e.g. by ``model_name_or_path``); ``BaseExporter``
    #: adds them to the export's notes, which the CLI prints and manifest.json keeps
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir).expanduser().absolute()
        if self.preprocess is None:
            from ..preprocess.config import PreprocessConfig

            self.preprocess = PreprocessConfig()

    # -- derived values -------------------------------------------------------------------------------
    @property
    def export_dir(self) -> Path:
        """The directory this export owns once committed: ``out_dir / name``."""
        return self.out_dir / self.name

    @property
    def stage(self) -> str:
        """The training stage: the config's, else the default for the data kind (sft, dpo, kto, pt)."""
        stage = self.config.stage or DEFAULT_STAGE[self.kind]
        if self.kind not in STAGE_KINDS.get(stage, ()):
            raise UsageError(
                f"export.stage {stage!r} cannot train on {self.kind} rows; {self.kind} rows train with stage "
                f"{DEFAULT_STAGE[self.kind]!r}"
            )
        return stage

    def split_names(self) -> list[str]:
        """The non-empty splits to export, train first."""
        names = [s for s in ("train", "validation") if s in self.splits and len(self.splits[s]) > 0]
        if "train" not in names:
            raise UsageError(f"export {self.name!r}: the train split is empty: nothing to export")
        return names

    def get_tokenizer(self) -> Any:
        """The tokenizer (loaded from ``tokenizer_spec`` on first use); None when the recipe names none."""
        if self.tokenizer is None and self.tokenizer_spec:
            from ..tokenizer import load_tokenizer

            self.tokenizer = load_tokenizer(self.tokenizer_spec)
        return self.tokenizer

    def try_tokenizer(self) -> Any:
        """Like ``get_tokenizer`` but None when it cannot be loaded (offline hub id, missing extra): for
        exporters that only describe the tokenizer and hand tokenization to the training tool."""
        from ..errors import TokenizerError

        if self.tokenizer_error is not None:
            return None
        try:
            return self.get_tokenizer()
        except TokenizerError as exc:
            self.tokenizer_error = str(exc)
            return None

    def model_name_or_path(self) -> str:
        """The model the training config names: export.model_name_or_path > train.model > the tokenizer.

        ``train.model`` counts only when it names weights: ``tiny-random`` and a model config JSON are random
        models that only templates-hub's runner builds, which no other training tool can load.
        """
        if self.config.model_name_or_path:
            return self.config.model_name_or_path
        model = getattr(self.train, "model", None) if self.train is not None else None
        if model and model != "tiny-random" and not str(model).endswith(".json"):
            return str(model)
        if self.tokenizer_spec and self.tokenizer_spec != "tiny":
            self.note(_tokenizer_as_model_note(str(self.tokenizer_spec), model))
            return str(self.tokenizer_spec)
        raise UsageError(
            f"export {self.name!r}: the training config needs a model: set export.model_name_or_path "
            "(or train.model, or a real `tokenizer:` in the recipe)"
        )

    def note(self, text: str) -> None:
        """Add a note for the user (once): printed after the export and kept in manifest.json."""
        if text not in self.notes:
            self.notes.append(text)


def _tokenizer_as_model_note(tokenizer_spec: str, model: Any) -> str:
    """Why the training config names the tokenizer as the model, and how to name the real model.

    A tokenizer folder usually holds no weights (the demo's does not), so the training tool would fail
    on it long after the export looked fine; a hub id of an instruct model is often right, but the user
    should know the exporter guessed.
    """
    if model == "tiny-random":
        why = " (train.model 'tiny-random' is a random model only templates-hub's runner builds)"
    elif model:
        why = f" (train.model {model} is a model config: random weights only templates-hub's runner builds)"
    else:
        why = ""
    text = (f"the training config names the tokenizer {tokenizer_spec} as the model to train, because the recipe "
            f"has no usable train.model{why}.")
    folder = Path(tokenizer_spec).expanduser()
    if folder.is_dir() and not (folder / "config.json").is_file():
        text += f" {folder} has no config.json: it holds no model, so training with this config would fail."
    return text + " Set export.model_name_or_path or train.model to the model to fine-tune."


@dataclass
class BuildOutput:
    """What ``BaseExporter.build`` staged, besides the data files it wrote itself."""

    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: manifest additions (e.g. ``{"template": {...}, "counts": {...}}``), merged into manifest.json
    manifest: dict[str, Any] = field(default_factory=dict)
    #: files outside the export directory that were replaced (e.g. dataset_info.json), relative to out_dir
    siblings: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    """What an export wrote and how to train on it."""

    target: str
    out_dir: Path
    export_dir: Path
    files: list[Path]
    commands: list[str]
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: True when an identical export was already there and nothing was rewritten
    unchanged: bool = False

    def summary(self) -> str:
        """Human-readable lines: what was written and the command(s) to train with."""
        lines = [f"{self.target} export {'unchanged' if self.unchanged else 'written'}: {self.export_dir}"]
        for path in self.files:
            lines.append(f"  {_relative(path, self.out_dir)}")
        lines += [f"note: {n}" for n in self.notes]
        if self.commands:
            lines.append("train with:")
            lines += [f"  {c}" for c in self.commands]
        return "\n".join(lines)


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return str(path)


@runtime_checkable
class Exporter(Protocol):
    """The minimal interface the registry accepts."""

    name: str

    def export(self, ctx: ExportContext) -> ExportResult: ...


class BaseExporter:
    """Shared machinery; subclasses set ``name`` / ``description`` / ``kinds`` and implement ``build``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: canonical row kinds this exporter can write
    kinds: ClassVar[tuple[str, ...]] = ("sft", "preference", "kto", "text")
    #: option names accepted in ``export.options`` (anything else is a usage error)
    option_names: ClassVar[tuple[str, ...]] = ()

    def build(self, ctx: ExportContext, staged: StagedExport) -> BuildOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_intact(self, ctx: ExportContext, manifest: dict[str, Any]) -> bool:
        """Whether what an earlier identical export wrote outside its directory is still in place."""
        return True

    def fingerprint_inputs(self, ctx: ExportContext) -> dict[str, Any]:
        """Extra inputs that make two exports different (beyond data, config, template and tokenizer)."""
        return {}

    def check(self, ctx: ExportContext) -> None:
        """Refuse what this exporter cannot do before any work starts."""
        if ctx.kind not in self.kinds:
            raise UsageError(
                f"the {self.name} exporter cannot write {ctx.kind} rows (it writes: {', '.join(self.kinds)})"
            )
        unknown = sorted(set(ctx.config.options) - set(self.option_names))
        if unknown:
            known = ", ".join(self.option_names) or "(none)"
            raise UsageError(f"export.options: the {self.name} exporter has no option {', '.join(map(repr, unknown))}; "
                             f"known: {known}")
        ctx.stage  # noqa: B018 - validates the stage against the kind

    def export(self, ctx: ExportContext) -> ExportResult:
        """Check, then write the export atomically (``_write``); a file-system failure is a UsageError."""
        try:
            return self._write(ctx)
        except OSError as exc:  # read-only directory, a file in the way, a full disk ...
            where = exc.filename or ctx.export_dir
            reason = exc.strerror or str(exc)
            raise UsageError(f"{where}: cannot write the {self.name} export: {reason}") from None

    def _write(self, ctx: ExportContext) -> ExportResult:
        from .atomic import StagedExport, recover_interrupted
        from .manifest import build_manifest, existing_manifest, input_fingerprint, same_export_present

        self.check(ctx)
        if ctx.out_dir.is_dir():
            recover_interrupted(ctx.out_dir, ctx.name)  # a killed export's half-swapped files are not "the export"
        fingerprint = input_fingerprint(ctx, self.name, self.fingerprint_inputs(ctx))
        previous = existing_manifest(ctx.export_dir)
        same = previous is not None and previous.get("fingerprint") == fingerprint
        if same and not ctx.force and same_export_present(ctx.export_dir, previous, fingerprint) \
                and self.is_intact(ctx, previous):
            files = [ctx.export_dir / f for f in sorted(previous.get("files", {}))]
            files += [ctx.export_dir / "manifest.json"] + [ctx.out_dir / s for s in previous.get("siblings", [])]
            return ExportResult(self.name, ctx.out_dir, ctx.export_dir, sorted(files),
                                list(previous.get("commands", [])), previous,
                                notes=[*previous.get("notes", []),
                                       "an identical export is already there (use force to rewrite it)"],
                                unchanged=True)
        if ctx.export_dir.exists() and not ctx.force and not same:
            if previous is None:
                raise UsageError(
                    f"{ctx.export_dir} exists and is not a templates-hub export; export to another --out or --name "
                    "(recipe: export.out_dir / export.dataset_name), or pass --force (export.force: true) to "
                    "replace it"
                )
            raise UsageError(
                f"{ctx.export_dir} holds a different export (made {previous.get('created', 'earlier')}, "
                f"fingerprint {str(previous.get('fingerprint'))[:12]}); to keep it, export to another --out or "
                "--name (recipe: export.out_dir / export.dataset_name); to replace it, pass --force "
                "(export.force: true)"
            )
        from ..prepare import progress_bars

        with StagedExport(ctx.out_dir, ctx.name) as staged, progress_bars(ctx.progress):
            output = self.build(ctx, staged)
            output.notes = [*ctx.notes, *(n for n in output.notes if n not in ctx.notes)]
            manifest = build_manifest(ctx, self.name, fingerprint, staged, output)
            staged.write_json("manifest.json", manifest)
            staged.commit()
        files = [ctx.export_dir / f for f in sorted(manifest["files"])] + [ctx.out_dir / s for s in output.siblings]
        files.append(ctx.export_dir / "manifest.json")
        return ExportResult(self.name, ctx.out_dir, ctx.export_dir, sorted(set(files)), output.commands, manifest,
                            notes=output.notes)


def coerce_exporter(obj: Any, name: str | None) -> tuple[str, Any]:
    """``plugins.COERCERS["exporters"]``: accept an exporter instance or class (instantiated here)."""
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as exc:
            raise PluginError(f"cannot register exporter {obj.__name__}: it must be constructible without "
                              f"arguments ({exc})") from None
    if not callable(getattr(obj, "export", None)):
        raise PluginError(f"cannot register {obj!r} as an exporter: it has no export(ctx) method")
    resolved = name or getattr(obj, "name", None)
    if not isinstance(resolved, str) or not resolved:
        raise PluginError(f"cannot tell the name of exporter {obj!r}: set a `name` attribute or pass name=...")
    return resolved, obj
