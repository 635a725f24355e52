"""``manifest.json``: what an export was made from, so it can be audited, reproduced and compared.

The manifest records the source files' SHA-256, the row counts of every step, the resolved template
(its Jinja text and, for slot templates, the declaration), the tokenizer's name and special tokens, the
package versions and the SHA-256 of every file written. Its ``fingerprint`` hashes everything that
determines the output; an export whose fingerprint equals the existing one is "the same export" (left
alone), any other needs ``force`` to replace it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .atomic import StagedExport
    from .base import BuildOutput, ExportContext

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_PACKAGES = ("templates-hub", "datasets", "transformers", "tokenizers", "pyarrow", "jinja2")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")


def hash_sources(sources: list[str]) -> dict[str, Any]:
    """SHA-256 and size of every local source file (files inside a directory included); hub ids as given."""
    out: dict[str, Any] = {}
    for source in sources:
        path = Path(source)
        if path.is_file():
            out[str(path)] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                out[str(file)] = {"sha256": file_sha256(file), "bytes": file.stat().st_size}
        else:
            out[source] = {"hub": source}
    return out


def data_sha256(splits: Any) -> dict[str, str]:
    """SHA-256 of the canonical rows of each split (used when the source files are unknown)."""
    out: dict[str, str] = {}
    for name in sorted(splits):
        digest = hashlib.sha256()
        for batch in splits[name].iter(batch_size=1000):
            digest.update(_canonical_json(batch))
        out[name] = digest.hexdigest()
    return out


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def tokenizer_info(tokenizer: Any, spec: str | None, error: str | None = None) -> dict[str, Any] | None:
    """Name, class, size and special tokens of ``tokenizer`` (+ a hash of its vocabulary and rules)."""
    if tokenizer is None:
        if not spec:
            return None
        return {"name_or_path": spec, **({"not_loaded": error} if error else {})}
    extra = getattr(tokenizer, "extra_special_tokens", None) or []
    if isinstance(extra, dict):
        extra = list(extra.values())
    info: dict[str, Any] = {
        "name_or_path": spec or getattr(tokenizer, "name_or_path", None),
        "class": type(tokenizer).__name__,
        "size": len(tokenizer),
        "special_tokens": {
            key: getattr(tokenizer, key, None) for key in ("bos_token", "eos_token", "pad_token", "unk_token")
        },
        "extra_special_tokens": [str(t) for t in extra],
    }
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        info["sha256"] = hashlib.sha256(backend.to_str().encode("utf-8")).hexdigest()
    return info


def template_info(template: Any, spec: str | None) -> dict[str, Any] | None:
    """The resolved template: name, kind, what the recipe named, its Jinja text and slot declaration."""
    if template is None:
        return None
    info: dict[str, Any] = {
        "name": getattr(template, "name", None),
        "kind": getattr(template, "kind", type(template).__name__),
        "spec": spec,
        "lf_name": getattr(template, "lf_name", None),
    }
    try:
        info["jinja"] = template.to_jinja()
    except Exception as exc:  # a plugin template without a Jinja form is still exportable as tokens
        info["jinja"] = None
        info["jinja_error"] = f"{type(exc).__name__}: {exc}"
    try:
        from ..templates.slot import SlotTemplate
        from ..templates.spec import template_to_spec

        if isinstance(template, SlotTemplate):
            info["declaration"] = template_to_spec(template)
    except ImportError:  # pragma: no cover - templates package always ships these
        pass
    source = getattr(template, "source", None)
    if source:
        info["source"] = str(source)
    return info


def input_fingerprint(ctx: ExportContext, target: str, extra: dict[str, Any]) -> str:
    """SHA-256 of everything that decides an export's content (computed before any work)."""
    from .. import __version__

    config = ctx.config.model_dump(exclude={"force", "out_dir"})
    inputs = {
        "target": target,
        "name": ctx.name,
        "kind": ctx.kind,
        "config": config,
        "recipe": _without_export(ctx.recipe),
        "preprocess": ctx.preprocess.model_dump() if ctx.preprocess is not None else None,
        "train": ctx.train.model_dump() if ctx.train is not None else None,
        "render_options": repr(ctx.render_options) if ctx.render_options is not None else None,
        "sources": hash_sources(ctx.sources) if ctx.sources else None,
        "data": None if ctx.sources else data_sha256(ctx.splits),
        "rows": {name: len(ctx.splits[name]) for name in sorted(ctx.splits)},
        "template": template_info(ctx.template, ctx.template_spec),
        "tokenizer": tokenizer_info(ctx.try_tokenizer(), ctx.tokenizer_spec),
        "templates_hub": __version__,
        "extra": extra,
    }
    return hashlib.sha256(_canonical_json(inputs)).hexdigest()


def _without_export(recipe: dict[str, Any] | None) -> dict[str, Any] | None:
    if recipe is None:
        return None
    return {k: v for k, v in recipe.items() if k != "export"}


def build_manifest(ctx: ExportContext, target: str, fingerprint: str, staged: StagedExport,
                   output: BuildOutput) -> dict[str, Any]:
    """The manifest of a staged export (file hashes are computed from the staged files)."""
    files = {str(rel): {"sha256": file_sha256(staged.staging / rel), "bytes": (staged.staging / rel).stat().st_size}
             for rel in staged.staged_files() if str(rel) != MANIFEST_NAME}
    counts = {"prepare": ctx.report.get("counts", ctx.report) if ctx.report else {},
              "exported": {name: len(ctx.splits[name]) for name in ctx.split_names()}}
    manifest: dict[str, Any] = {
        "templates_hub_export": MANIFEST_VERSION,
        "target": target,
        "name": ctx.name,
        "kind": ctx.kind,
        "stage": ctx.stage,
        "fingerprint": fingerprint,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": hash_sources(ctx.sources) if ctx.sources else {},
        "counts": counts,
        "template": template_info(ctx.template, ctx.template_spec),
        "tokenizer": tokenizer_info(ctx.try_tokenizer(), ctx.tokenizer_spec, ctx.tokenizer_error),
        "config": ctx.config.model_dump(exclude={"force"}),
        "preprocess": ctx.preprocess.model_dump() if ctx.preprocess is not None else None,
        "versions": package_versions(),
        "commands": output.commands,
        "notes": output.notes,
        "files": files,
        "siblings": output.siblings,
    }
    for key, value in output.manifest.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    return manifest


def existing_manifest(export_dir: Path) -> dict[str, Any] | None:
    """The manifest of an earlier export in ``export_dir`` (None: absent or unreadable)."""
    path = Path(export_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "fingerprint" in data else None


def same_export_present(export_dir: Path, manifest: dict[str, Any] | None, fingerprint: str) -> bool:
    """True when ``export_dir`` holds an intact export with this fingerprint (files present, sizes equal)."""
    if manifest is None or manifest.get("fingerprint") != fingerprint:
        return False
    for rel, meta in (manifest.get("files") or {}).items():
        path = Path(export_dir) / rel
        if not path.is_file() or path.stat().st_size != meta.get("bytes"):
            return False
    return True
