"""The recipe's ``train:`` keys -> ``transformers.TrainingArguments``, with checked names and CPU-safe defaults.

Every key of the ``train:`` section that is not a ``TrainConfig`` field is passed to TrainingArguments.
A misspelt key would otherwise surface as a bare ``TypeError: unexpected keyword argument`` after
minutes of data preparation, so names are checked first against the installed transformers' fields,
with the closest matches and, for keys that transformers v5 removed, the key that replaced them.

Defaults are chosen for a run that must work on a laptop CPU and scale unchanged to GPUs: no
reporting integrations, keep our collator's columns, evaluate and save once per epoch, log often
enough that a short run shows a loss curve, bf16 on GPUs that support it.
"""

from __future__ import annotations

import dataclasses
import difflib
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from .config import TrainConfig

#: TrainingArguments keys that transformers v5 removed -> what to write instead.
REMOVED_KEYS: dict[str, str] = {
    "evaluation_strategy": "use eval_strategy (renamed in transformers v5)",
    "no_cuda": "use use_cpu: true (renamed in transformers v5)",
    "use_mps_device": "removed in transformers v5: MPS is used automatically (use_cpu: true to avoid it)",
    "overwrite_output_dir": "removed in transformers v5: the output directory is reused; "
    "delete it or choose another output_dir",
    "logging_dir": "removed in transformers v5: set the TENSORBOARD_LOGGING_DIR environment variable",
    "group_by_length": "use train_sampling_strategy: group_by_length (changed in transformers v5)",
    "push_to_hub_token": "use hub_token (renamed in transformers v5)",
    "warmup_ratio": "use warmup_steps with a float below 1, e.g. warmup_steps: 0.1 (merged in transformers v5)",
    "per_gpu_train_batch_size": "use per_device_train_batch_size",
    "per_gpu_eval_batch_size": "use per_device_eval_batch_size",
    "tokenizer": "the tokenizer is the recipe's tokenizer: section, not a train: key",
}


@lru_cache(maxsize=1)
def valid_keys() -> frozenset[str]:
    """Every key the ``train:`` section accepts: TrainConfig fields and TrainingArguments init fields."""
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    return frozenset(names | set(TrainConfig.model_fields))


#: the types whose values ``check_values`` checks (and converts: YAML reads ``1e-3`` as the string "1e-3")
_NUMERIC = (bool, int, float, type(None))


@lru_cache(maxsize=1)
def numeric_fields() -> dict[str, Any]:
    """TrainingArguments fields typed only with bool / int / float (/ None) -> a pydantic TypeAdapter of the type.

    TrainingArguments does not check types: ``learning_rate: "1e-3"`` or ``num_train_epochs: abc`` would
    only fail inside the optimizer or the scheduler, after the data work. Other fields (strategies, paths,
    dicts) are left to TrainingArguments, which validates them when it is built.
    """
    import types
    import typing

    from pydantic import TypeAdapter
    from transformers import TrainingArguments

    try:
        hints = typing.get_type_hints(TrainingArguments)
    except Exception:  # pragma: no cover - an unresolvable annotation in some transformers version
        return {}
    out: dict[str, Any] = {}
    for name, hint in hints.items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        members = typing.get_args(hint) if union else (hint,)
        if members and all(m in _NUMERIC for m in members):
            out[name] = TypeAdapter(hint)
    return out


def check_values(extra: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """``extra`` with the values of numeric TrainingArguments fields checked and converted (``"1e-3"`` ->
    0.001); ConfigError naming every ``train.KEY`` whose value is not a number of the right kind."""
    from pydantic import ValidationError

    typed = numeric_fields()
    values = dict(extra)
    problems: list[tuple[str, str]] = []
    for key, value in extra.items():
        if key in typed:
            try:
                values[key] = typed[key].validate_python(value)
            except ValidationError as exc:
                problems.append((f"train.{key}", f"{value!r} is not valid ({exc.errors()[0]['msg'].lower()})"))
    if problems:
        details = "".join(f"\n  {path}: {reason}" for path, reason in problems)
        raise ConfigError(f"{source + ': ' if source else ''}bad value(s) in the train: section:{details}",
                          problems=problems, source=source)
    return values


def check_keys(extra: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Raise ConfigError naming each unknown ``train.KEY`` with close matches and the list of valid keys;
    then ``check_values``: returns the values with numbers given as strings converted."""
    keys = valid_keys()
    problems: list[tuple[str, str]] = []
    for key in extra:
        if key in keys:
            continue
        if key in REMOVED_KEYS:
            problems.append((f"train.{key}", REMOVED_KEYS[key]))
            continue
        close = difflib.get_close_matches(key, sorted(keys), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        problems.append((f"train.{key}", f"not a TrainingArguments or train: key{hint}"))
    if problems:
        listing = ", ".join(sorted(keys))
        where = f"{source}: " if source else ""
        details = "".join(f"\n  {path}: {reason}" for path, reason in problems)
        raise ConfigError(
            f"{where}unknown key(s) in the train: section:{details}\n"
            f"Valid keys (TrainingArguments of the installed transformers, plus templates-hub's own): {listing}",
            problems=problems,
            source=source,
        )
    return check_values(extra, source=source)


def accelerator() -> str:
    """``cuda``, ``xpu``, ``mps`` or ``cpu``: what the Trainer will train on."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_arguments(*, has_eval: bool, progress: bool, device: str) -> dict[str, Any]:
    """The defaults templates-hub applies under the user's keys (the user always wins)."""
    import torch

    defaults: dict[str, Any] = {
        "report_to": "none",
        "remove_unused_columns": False,  # our collator reads labels / position_ids the model signature may not list
        "label_names": ["labels"],  # a peft wrapper hides the signature Trainer uses to find them
        "save_strategy": "epoch",
        "save_total_limit": 2,
        "eval_strategy": "epoch" if has_eval else "no",
        "logging_steps": 0.05,  # a ratio of the total steps: ~20 points on any run length
        "logging_first_step": True,  # the first loss, for the summary's first -> last comparison
        "disable_tqdm": not progress,
        "ddp_find_unused_parameters": False,
        "include_num_input_tokens_seen": "non_padding",  # tokens/s in the summary
    }
    if device == "cpu":
        defaults["use_cpu"] = True
        defaults["dataloader_pin_memory"] = False
    if device == "cuda" and torch.cuda.is_bf16_supported():
        defaults["bf16"] = True
    return defaults


def build_training_arguments(
    config: TrainConfig,
    *,
    has_eval: bool,
    progress: bool = True,
    source: str | None = None,
    device: str | None = None,
) -> Any:
    """Check the ``train:`` keys and build ``TrainingArguments`` (user keys over templates-hub's defaults)."""
    from transformers import TrainingArguments

    user = check_keys(config.training_arguments(), source=source)
    device = device or accelerator()
    kwargs = default_arguments(has_eval=has_eval, progress=progress, device=device)
    if "fp16" in user or "bf16" in user:
        kwargs.pop("bf16", None)
    if user.get("save_strategy") in ("no", "steps") and "save_total_limit" not in user:
        kwargs.pop("save_total_limit", None)
    if not has_eval and user.get("eval_strategy", "no") != "no":
        raise ConfigError(
            f"train.eval_strategy is {user['eval_strategy']!r} but there is no validation split: add a split: section "
            "(validation_size) or set eval_strategy: no",
            problems=[("train.eval_strategy", "no validation split to evaluate on")],
            source=source,
        )
    kwargs.update(user)
    kwargs["output_dir"] = config.output_dir
    try:
        return TrainingArguments(**kwargs)
    except (TypeError, ValueError) as exc:  # a value TrainingArguments rejects (bad strategy name, bf16 on CPU...)
        raise ConfigError(
            f"{source + ': ' if source else ''}train: TrainingArguments rejected the settings: {exc}",
            problems=[("train", str(exc))],
            source=source,
        ) from None
