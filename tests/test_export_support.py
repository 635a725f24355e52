"""Helpers shared by the export tests (no tests here): fixture rows, splits and a one-call export."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "export"
KIND_OF = {"sft": "sft", "sft_train_flags": "sft", "preference": "preference", "kto": "kto", "text": "text"}


def load_rows(name: str) -> list[dict[str, Any]]:
    """Canonical rows of ``fixtures/export/NAME.jsonl`` with their 1-based ``_row``."""
    rows = []
    for i, line in enumerate((FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines(), start=1):
        rows.append({**json.loads(line), "_row": i})
    return rows


def make_splits(name: str, validation: int = 0):
    """A DatasetDict of the fixture rows; the last ``validation`` rows form the validation split."""
    from datasets import Dataset, DatasetDict

    from templates_hub.schemas import features

    rows = load_rows(name)
    feats = features(KIND_OF[name])
    out = {"train": Dataset.from_list(rows[: len(rows) - validation] if validation else rows, features=feats)}
    if validation:
        out["validation"] = Dataset.from_list(rows[len(rows) - validation:], features=feats)
    return DatasetDict(out)


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


_TOKENIZER: list[Any] = []


def tiny() -> Any:
    """One tiny tokenizer for every test in the process (exports never modify the tokenizer they get)."""
    if not _TOKENIZER:
        from templates_hub.tiny import build_tiny_tokenizer

        _TOKENIZER.append(build_tiny_tokenizer())
    return _TOKENIZER[0]


def run_export(out_dir: Path, target: str, data: str, *, name: str | None = None, validation: int = 0,
               template: Any = "qwen", tokenizer: Any = None, model: str = "org/model", force: bool = False,
               preprocess: Any = None, train: Any = None, render_options: Any = None, **config: Any):
    """``export_dataset`` of fixture ``data`` with a tiny tokenizer unless one is given."""
    from templates_hub.export import ExportConfig, export_dataset

    cfg = ExportConfig(model_name_or_path=model, **config)
    return export_dataset(make_splits(data, validation), target=target, out_dir=out_dir, name=name or data,
                          template=template, tokenizer=tokenizer if tokenizer is not None else tiny(),
                          config=cfg, force=force, preprocess=preprocess, train=train, render_options=render_options,
                          progress=False)


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``root`` (hidden files included)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_json_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)
