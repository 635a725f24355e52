"""What TRL's command line (``trl sft|dpo|kto --config FILE``) accepts, as of TRL 0.24.0.

Each TRL script parses ``ScriptArguments`` + its trainer config (``SFTConfig`` / ``DPOConfig`` /
``KTOConfig``, which extend ``transformers.TrainingArguments``) + ``ModelConfig`` + ``DatasetMixtureConfig``,
and it silently ignores config keys none of them defines. The sets below were read from the trl 0.24.0
wheel (the version LLaMA-Factory 0.9.5's reference environment pins) and transformers 5.5.4. When TRL is
importable at export time, ``allowed_keys`` reads the installed classes instead, so the check follows the
user's own version.
"""

from __future__ import annotations

import dataclasses

from .lf_schema import TRAINING_ARGUMENTS  # transformers 5.5.4, as for LLaMA-Factory

TRL_VERSION = "0.24.0"

#: trl 0.24.0 SFTConfig fields (beyond transformers.TrainingArguments)
SFT_CONFIG: frozenset[str] = frozenset("""
    model_init_kwargs chat_template_path dataset_text_field dataset_kwargs dataset_num_proc eos_token
    pad_token max_length packing packing_strategy padding_free pad_to_multiple_of eval_packing
    completion_only_loss assistant_only_loss loss_type activation_offloading
""".split())

#: trl 0.24.0 DPOConfig fields (beyond transformers.TrainingArguments)
DPO_CONFIG: frozenset[str] = frozenset("""
    model_init_kwargs ref_model_init_kwargs model_adapter_name ref_adapter_name force_use_ref_model
    disable_dropout use_logits_to_keep dataset_num_proc pad_token label_pad_token_id max_prompt_length
    max_completion_length max_length truncation_mode padding_free precompute_ref_log_probs
    precompute_ref_batch_size tools loss_type use_liger_loss base_model_attribute_name beta
    f_divergence_type f_alpha_divergence_coef reference_free label_smoothing use_weighting rpo_alpha
    ld_alpha discopop_tau loss_weights sync_ref_model ref_model_mixup_alpha ref_model_sync_steps
    generate_during_eval padding_value
""".split())

#: trl 0.24.0 KTOConfig fields (beyond transformers.TrainingArguments)
KTO_CONFIG: frozenset[str] = frozenset("""
    max_length max_prompt_length max_completion_length beta loss_type desirable_weight
    undesirable_weight label_pad_token_id padding_value truncation_mode generate_during_eval
    is_encoder_decoder disable_dropout precompute_ref_log_probs model_init_kwargs ref_model_init_kwargs
    dataset_num_proc use_liger_loss base_model_attribute_name
""".split())

#: trl 0.24.0 ScriptArguments fields (beyond transformers.TrainingArguments)
SCRIPT_ARGUMENTS: frozenset[str] = frozenset("""
    dataset_name dataset_config dataset_train_split dataset_test_split dataset_streaming
    gradient_checkpointing_use_reentrant ignore_bias_buffers
""".split())

#: trl 0.24.0 ModelConfig fields (beyond transformers.TrainingArguments)
MODEL_CONFIG: frozenset[str] = frozenset("""
    model_name_or_path model_revision dtype trust_remote_code attn_implementation use_peft lora_r
    lora_alpha lora_dropout lora_target_modules lora_target_parameters lora_modules_to_save
    lora_task_type use_rslora use_dora load_in_8bit load_in_4bit bnb_4bit_quant_type
    use_bnb_nested_quant torch_dtype
""".split())

#: trl.scripts.utils.DatasetMixtureConfig, plus ``env`` (environment variables the CLI sets from the file)
DATASET_MIXTURE_CONFIG: frozenset[str] = frozenset({"datasets", "streaming", "test_split_size", "env"})

TRAINER_CONFIGS: dict[str, frozenset[str]] = {"sft": SFT_CONFIG, "dpo": DPO_CONFIG, "kto": KTO_CONFIG}
_CONFIG_CLASSES = {"sft": "SFTConfig", "dpo": "DPOConfig", "kto": "KTOConfig"}


def builtin_keys(trainer: str) -> frozenset[str]:
    """Every key ``trl <trainer> --config`` accepts with TRL 0.24.0 / transformers 5.5.4."""
    return (TRAINER_CONFIGS[trainer] | TRAINING_ARGUMENTS | SCRIPT_ARGUMENTS | MODEL_CONFIG
            | DATASET_MIXTURE_CONFIG)


def installed_keys(trainer: str) -> tuple[frozenset[str], str] | None:
    """The same set read from an importable TRL (``(keys, version)``), or None when TRL is absent."""
    try:
        import trl  # noqa: F401 - optional: TRL is not a dependency of templates-hub
        from trl import ModelConfig, ScriptArguments

        config_cls = getattr(trl, _CONFIG_CLASSES[trainer])
    except Exception:  # not installed, or an incompatible build that fails to import
        return None
    keys: set[str] = set(DATASET_MIXTURE_CONFIG)
    for cls in (config_cls, ScriptArguments, ModelConfig):
        keys.update(f.name for f in dataclasses.fields(cls) if f.init)
    return frozenset(keys), str(getattr(trl, "__version__", "unknown"))


def allowed_keys(trainer: str) -> tuple[frozenset[str], str]:
    """``(keys, trl_version)``: the installed TRL's keys when importable, else the built-in 0.24.0 set."""
    found = installed_keys(trainer)
    return found if found is not None else (builtin_keys(trainer), TRL_VERSION)
