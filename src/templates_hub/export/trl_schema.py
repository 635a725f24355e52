"""What TRL's command line (``trl sft|dpo|kto --config FILE``) accepts, as of TRL 1.16.0.

Each TRL script parses ``ScriptArguments`` + its trainer config (``SFTConfig`` / ``DPOConfig`` /
``KTOConfig``, which extend ``transformers.TrainingArguments``) + ``ModelConfig`` + ``DatasetMixtureConfig``.
TRL 1.x passes config keys none of them defines on to ``accelerate launch``, which stops with
``unrecognized arguments``, so an unknown key must be caught at export time. The sets below were read from
trl 1.16.0 with transformers 5.24.0 (the versions ``tests/test_export_trl_live.py`` runs, venv from
``scripts/make_trl_venv.sh``). When TRL is importable at export time, ``allowed_keys`` reads the installed
classes instead, so the check follows the user's own version.
"""

from __future__ import annotations

import dataclasses

TRL_VERSION = "1.16.0"
TRANSFORMERS_VERSION = "5.24.0"

#: transformers 5.24.0 ``TrainingArguments`` fields (no ``warmup_ratio``: ``warmup_steps`` < 1 is a ratio)
TRAINING_ARGUMENTS: frozenset[str] = frozenset("""
    accelerator_config activation_checkpointing activation_checkpointing_kwargs adam_beta1 adam_beta2
    adam_epsilon auto_find_batch_size average_tokens_across_devices batch_eval_metrics bf16 bf16_full_eval
    data_seed dataloader_drop_last dataloader_in_order dataloader_multiprocessing_context
    dataloader_num_workers dataloader_persistent_workers dataloader_pin_memory dataloader_prefetch_factor
    ddp_backend ddp_broadcast_buffers ddp_bucket_cap_mb ddp_find_unused_parameters ddp_static_graph
    ddp_timeout debug deepspeed disable_tqdm do_eval do_predict do_train enable_jit_checkpoint
    eval_accumulation_steps eval_delay eval_do_concat_batches eval_on_start eval_steps eval_strategy
    eval_use_gather_object fp16 fp16_full_eval fsdp fsdp_config full_determinism gradient_accumulation_steps
    gradient_checkpointing gradient_checkpointing_kwargs greater_is_better hub_always_push hub_model_id
    hub_private_repo hub_revision hub_strategy hub_token ignore_data_skip include_for_metrics
    include_num_input_tokens_seen label_names label_smoothing_factor learning_rate length_column_name
    liger_kernel_config load_best_model_at_end local_rank log_level log_level_replica log_on_each_node
    logging_first_step logging_nan_inf_filter logging_steps logging_strategy lr_scheduler_kwargs
    lr_scheduler_type max_grad_norm max_steps metric_for_best_model neftune_noise_alpha num_train_epochs optim
    optim_args optim_target_modules output_dir parallelism_config per_device_eval_batch_size
    per_device_train_batch_size prediction_loss_only project push_to_hub remove_unused_columns report_to
    restore_callback_states_from_checkpoint resume_from_checkpoint run_name save_on_each_node save_only_model
    save_steps save_strategy save_total_limit seed skip_memory_metrics tf32 torch_compile
    torch_compile_backend torch_compile_mode torch_empty_cache_steps trackio_bucket_id trackio_space_id
    trackio_static_space_id train_sampling_strategy use_cache use_cpu use_liger_kernel warmup_steps
    weight_decay
""".split())

#: trl 1.16.0 SFTConfig fields (beyond transformers.TrainingArguments)
SFT_CONFIG: frozenset[str] = frozenset("""
    activation_offloading assistant_only_loss chat_template_path completion_only_loss dataset_kwargs
    dataset_num_proc dataset_text_field eos_token eval_packing loss_type max_length model_init_kwargs packing
    packing_strategy pad_to_multiple_of pad_token padding_free router_aux_loss_coef shuffle_dataset
    truncation_mode trust_remote_code
""".split())

#: trl 1.16.0 DPOConfig fields (beyond transformers.TrainingArguments; ``max_prompt_length`` and
#: ``max_completion_length`` are gone since TRL 0.x: ``max_length`` bounds the whole sequence)
DPO_CONFIG: frozenset[str] = frozenset("""
    activation_offloading beta dataset_num_proc disable_dropout discopop_tau f_alpha_divergence_coef
    f_divergence_type label_smoothing ld_alpha loss_type loss_weights max_length model_init_kwargs
    pad_to_multiple_of pad_token padding_free precompute_ref_batch_size precompute_ref_log_probs
    ref_model_mixup_alpha ref_model_sync_steps router_aux_loss_coef sync_ref_model truncation_mode
    trust_remote_code use_weighting
""".split())

#: trl 1.16.0 KTOConfig fields (beyond transformers.TrainingArguments)
KTO_CONFIG: frozenset[str] = frozenset("""
    activation_offloading beta dataset_num_proc desirable_weight disable_dropout loss_type max_length
    model_init_kwargs pad_to_multiple_of precompute_ref_batch_size precompute_ref_log_probs
    ref_model_mixup_alpha ref_model_sync_steps router_aux_loss_coef sync_ref_model trust_remote_code
    undesirable_weight
""".split())

#: trl 1.16.0 ScriptArguments fields (beyond transformers.TrainingArguments)
SCRIPT_ARGUMENTS: frozenset[str] = frozenset("""
    dataset_config dataset_name dataset_streaming dataset_test_split dataset_train_split ignore_bias_buffers
""".split())

#: trl 1.16.0 ModelConfig fields (beyond transformers.TrainingArguments)
MODEL_CONFIG: frozenset[str] = frozenset("""
    attn_implementation bnb_4bit_quant_storage bnb_4bit_quant_type dtype load_in_4bit load_in_8bit lora_alpha
    lora_dropout lora_modules_to_save lora_r lora_target_modules lora_target_parameters lora_task_type
    model_name_or_path model_revision use_bnb_nested_quant use_dora use_peft use_rslora
""".split())

#: trl.scripts.utils.DatasetMixtureConfig, plus ``env`` (environment variables the CLI sets from the file)
DATASET_MIXTURE_CONFIG: frozenset[str] = frozenset({"datasets", "streaming", "test_split_size", "env"})

TRAINER_CONFIGS: dict[str, frozenset[str]] = {"sft": SFT_CONFIG, "dpo": DPO_CONFIG, "kto": KTO_CONFIG}
_CONFIG_CLASSES = {"sft": "SFTConfig", "dpo": "DPOConfig", "kto": "KTOConfig"}


def builtin_keys(trainer: str) -> frozenset[str]:
    """Every key ``trl <trainer> --config`` accepts with TRL 1.16.0 / transformers 5.24.0."""
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
    """``(keys, trl_version)``: the installed TRL's keys when importable, else the built-in 1.16.0 set."""
    found = installed_keys(trainer)
    return found if found is not None else (builtin_keys(trainer), TRL_VERSION)
