"""What LLaMA-Factory 0.9.5 accepts: dataset_info.json keys, training-YAML keys, template names, dtypes.

LLaMA-Factory silently ignores unknown ``dataset_info.json`` keys (a ``"format"`` typo falls back to alpaca)
and, for a partial ``columns`` / ``tags`` block, resets every omitted key to None. Its YAML parser rejects
unknown keys, but only once training starts on a GPU machine. The exporter therefore checks everything
against the sets below, read from the ``llamafactory==0.9.5`` wheel (``hparams/*.py``, ``data/parser.py``,
``data/template.py``) together with transformers 5.5.4, the version its reference environment pins.
``tests/test_export_keys.py`` pins these sets, and the optional live test compares them with the
dataclasses of a real LLaMA-Factory 0.9.5 installation.
"""

from __future__ import annotations

from typing import Any

LLAMAFACTORY_VERSION = "0.9.5"

# ---------------------------------------------------------------------------------------------------
# dataset_info.json (data/parser.py: DatasetAttr.join, get_dataset_list)
# ---------------------------------------------------------------------------------------------------
#: keys that name where the data comes from (first match wins, in this order)
SOURCE_KEYS: tuple[str, ...] = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")
#: every top-level key of one dataset_info.json entry
ENTRY_KEYS: frozenset[str] = frozenset(
    (*SOURCE_KEYS, "formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags")
)
FORMATTINGS: tuple[str, ...] = ("alpaca", "sharegpt", "openai")
#: ``columns`` keys, in LLaMA-Factory's order, with the defaults used only when ``columns`` is absent
COLUMN_DEFAULTS: dict[str, str | None] = {
    "prompt": "instruction", "query": "input", "response": "output", "history": None, "messages": "conversations",
    "system": None, "tools": None, "images": None, "videos": None, "audios": None,
    "chosen": None, "rejected": None, "kto_tag": None,
}
COLUMN_KEYS: frozenset[str] = frozenset(COLUMN_DEFAULTS)
#: ``tags`` keys (sharegpt / openai), with the defaults used only when ``tags`` is absent
TAG_DEFAULTS: dict[str, str | None] = {
    "role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
    "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
}
TAG_KEYS: frozenset[str] = frozenset(TAG_DEFAULTS)
#: file extensions LLaMA-Factory loads from a local ``file_name`` (extras/constants.py FILEEXT2TYPE)
FILE_EXTENSIONS: tuple[str, ...] = ("arrow", "csv", "json", "jsonl", "parquet", "txt")

# ---------------------------------------------------------------------------------------------------
# Training YAML (hparams/parser.py: HfArgumentParser over these five dataclasses; unknown keys raise
# ValueError unless ALLOW_EXTRA_ARGS=1)
# ---------------------------------------------------------------------------------------------------
#: llamafactory.hparams.ModelArguments (with its base classes: quantization, processor, export, vllm, sglang, ktransformers)
MODEL_ARGUMENTS: frozenset[str] = frozenset("""
    model_name_or_path adapter_name_or_path adapter_folder cache_dir use_fast_tokenizer resize_vocab
    split_special_tokens add_tokens add_special_tokens new_special_tokens_config init_special_tokens
    model_revision low_cpu_mem_usage rope_scaling flash_attn shift_attn mixture_of_depths use_unsloth
    use_unsloth_gc enable_liger_kernel moe_aux_loss_coef disable_gradient_checkpointing use_reentrant_gc
    upcast_layernorm upcast_lmhead_output train_from_scratch infer_backend offload_folder use_kv_cache
    use_v1_kernels infer_dtype hf_hub_token ms_hub_token om_hub_token print_param_status
    trust_remote_code quantization_method quantization_bit quantization_type double_quantization
    quantization_device_map image_max_pixels image_min_pixels image_do_pan_and_scan crop_to_patches
    video_max_pixels video_min_pixels video_fps video_maxlen use_audio_in_video audio_sampling_rate
    export_dir export_size export_device export_quantization_bit export_quantization_dataset
    export_quantization_nsamples export_quantization_maxlen export_legacy_format export_hub_model_id
    use_kt kt_weight_path kt_expert_checkpoint_path kt_use_lora_experts kt_lora_expert_num
    kt_lora_expert_intermediate_size vllm_maxlen vllm_gpu_util vllm_enforce_eager vllm_max_lora_rank
    vllm_config sglang_maxlen sglang_mem_fraction sglang_tp_size sglang_config sglang_lora_backend
""".split())

#: llamafactory.hparams.DataArguments
DATA_ARGUMENTS: frozenset[str] = frozenset("""
    template dataset eval_dataset dataset_dir media_dir cutoff_len train_on_prompt mask_history
    streaming buffer_size mix_strategy interleave_probs overwrite_cache preprocessing_batch_size
    preprocessing_num_workers max_samples eval_num_beams ignore_pad_token_for_loss val_size
    eval_on_each_dataset packing neat_packing tool_format default_system enable_thinking
    preserve_thinking tokenized_path data_shared_file_system
""".split())

#: llamafactory.hparams.FinetuningArguments (freeze, LoRA, OFT, RLHF, GaLore, APOLLO, BAdam, SwanLab, ...)
FINETUNING_ARGUMENTS: frozenset[str] = frozenset("""
    freeze_trainable_layers freeze_trainable_modules freeze_extra_modules additional_target
    module_dropout oft_rank oft_block_size oft_target create_new_adapter lora_alpha lora_dropout
    lora_rank lora_target loraplus_lr_ratio loraplus_lr_embedding use_rslora use_dora pissa_init
    pissa_iter pissa_convert pref_beta pref_ftx pref_bco_weight pref_loss dpo_label_smoothing
    kto_chosen_weight kto_rejected_weight simpo_gamma ppo_buffer_size ppo_epochs ppo_score_norm
    ppo_target ppo_whiten_rewards ref_model ref_model_adapters ref_model_quantization_bit reward_model
    reward_model_adapters reward_model_quantization_bit reward_model_type ld_alpha use_galore
    galore_target galore_rank galore_update_interval galore_scale galore_proj_type galore_layerwise
    use_apollo apollo_target apollo_rank apollo_update_interval apollo_scale apollo_proj
    apollo_proj_type apollo_scale_type apollo_layerwise apollo_scale_front use_badam badam_mode
    badam_start_block badam_switch_mode badam_switch_interval badam_update_ratio badam_mask_mode
    badam_verbose use_swanlab swanlab_project swanlab_workspace swanlab_run_name swanlab_mode
    swanlab_api_key swanlab_logdir swanlab_lark_webhook_url swanlab_lark_secret pure_bf16 stage
    finetuning_type use_llama_pro use_adam_mini use_mca use_hyper_parallel hyper_parallel_args use_muon
    use_dft_loss use_asft_loss asft_alpha use_eaft_loss eaft_alpha freeze_vision_tower
    freeze_multi_modal_projector freeze_language_model compute_accuracy disable_shuffling
    early_stopping_steps plot_loss include_effective_tokens_per_second
""".split())

#: llamafactory.hparams.GeneratingArguments
GENERATING_ARGUMENTS: frozenset[str] = frozenset("""
    do_sample temperature top_p top_k num_beams max_length max_new_tokens repetition_penalty
    length_penalty skip_special_tokens
""".split())

#: fields LLaMA-Factory's TrainingArguments adds (Ray, FP8, profiler, overwrite_output_dir)
LF_TRAINING_ARGUMENTS: frozenset[str] = frozenset("""
    ray_num_workers ray_init_kwargs master_addr master_port fp8 fp8_backend
    fp8_enable_fsdp_float8_all_gather enable_torch_profiler profiler_output_dir profiler_wait_steps
    profiler_warmup_steps profiler_active_steps profiler_repeat profiler_record_shapes
    profiler_profile_memory profiler_with_stack profile_modules overwrite_output_dir
""".split())

#: transformers 5.5.4 TrainingArguments (the version LLaMA-Factory 0.9.5's reference environment pins; the TRL
#: key list uses it too)
TRAINING_ARGUMENTS: frozenset[str] = frozenset("""
    accelerator_config adam_beta1 adam_beta2 adam_epsilon auto_find_batch_size
    average_tokens_across_devices batch_eval_metrics bf16 bf16_full_eval data_seed dataloader_drop_last
    dataloader_num_workers dataloader_persistent_workers dataloader_pin_memory
    dataloader_prefetch_factor ddp_backend ddp_broadcast_buffers ddp_bucket_cap_mb
    ddp_find_unused_parameters ddp_timeout debug deepspeed disable_tqdm do_eval do_predict do_train
    enable_jit_checkpoint eval_accumulation_steps eval_delay eval_do_concat_batches eval_on_start
    eval_steps eval_strategy eval_use_gather_object fp16 fp16_full_eval fsdp fsdp_config
    full_determinism gradient_accumulation_steps gradient_checkpointing gradient_checkpointing_kwargs
    greater_is_better hub_always_push hub_model_id hub_private_repo hub_revision hub_strategy hub_token
    ignore_data_skip include_for_metrics include_num_input_tokens_seen label_names
    label_smoothing_factor learning_rate length_column_name liger_kernel_config load_best_model_at_end
    local_rank log_level log_level_replica log_on_each_node logging_dir logging_first_step
    logging_nan_inf_filter logging_steps logging_strategy lr_scheduler_kwargs lr_scheduler_type
    max_grad_norm max_steps metric_for_best_model neftune_noise_alpha num_train_epochs optim optim_args
    optim_target_modules output_dir parallelism_config per_device_eval_batch_size
    per_device_train_batch_size prediction_loss_only project push_to_hub remove_unused_columns report_to
    restore_callback_states_from_checkpoint resume_from_checkpoint run_name save_on_each_node
    save_only_model save_steps save_strategy save_total_limit seed skip_memory_metrics tf32
    torch_compile torch_compile_backend torch_compile_mode torch_empty_cache_steps trackio_space_id
    train_sampling_strategy use_cache use_cpu use_liger_kernel warmup_ratio warmup_steps weight_decay
""".split())

#: transformers 5.5.4 Seq2SeqTrainingArguments (LLaMA-Factory's training arguments derive from it)
SEQ2SEQ_TRAINING_ARGUMENTS: frozenset[str] = TRAINING_ARGUMENTS | frozenset(
    {"generation_config", "generation_max_length", "generation_num_beams", "predict_with_generate", "sortish_sampler"}
)

#: every key ``llamafactory-cli train`` accepts, by the dataclass that defines it
YAML_KEY_GROUPS: dict[str, frozenset[str]] = {
    "ModelArguments": MODEL_ARGUMENTS,
    "DataArguments": DATA_ARGUMENTS,
    "TrainingArguments": LF_TRAINING_ARGUMENTS | SEQ2SEQ_TRAINING_ARGUMENTS,
    "FinetuningArguments": FINETUNING_ARGUMENTS,
    "GeneratingArguments": GENERATING_ARGUMENTS,
}
YAML_KEYS: frozenset[str] = frozenset().union(*YAML_KEY_GROUPS.values())

#: training stages and what each one's data is (``dpo`` loads ranking data with LLaMA-Factory's stage "rm")
STAGES: tuple[str, ...] = ("pt", "sft", "rm", "ppo", "dpo", "kto")
FINETUNING_TYPES: tuple[str, ...] = ("lora", "freeze", "full", "oft")
#: DataArguments that LLaMA-Factory refuses outside stage sft (hparams/parser.py get_train_args)
SFT_ONLY_KEYS: tuple[str, ...] = ("neat_packing", "train_on_prompt", "mask_history", "predict_with_generate")

# ---------------------------------------------------------------------------------------------------
# Templates (data/template.py: the 121 register_template names of v0.9.5)
# ---------------------------------------------------------------------------------------------------
TEMPLATE_NAMES: frozenset[str] = frozenset("""
    alpaca bailing bailing_v2 breeze chatglm3 chatml chatml_de cohere cpm4 dbrx deepseek deepseek3
    deepseekr1 hy3 deepseekcoder default dots_ocr empty ernie ernie_nothink ernie_vl exaone falcon
    falcon_h1 fewshot gemma gemma2 gemma3 gemma3n gemma4 gemma4n glm4 glm4_moe glm4v glm4_5v glm_ocr
    glm4_7 glmz1 gpt_oss granite3 granite3_vision granite4 index hunyuan hunyuan_small intern2 intern_vl
    intern_s1 keye_vl kimi_vl lfm2 lfm2_vl llama2 llama2_zh llama3 llama4 mllama moonlight llava
    llava_next llava_next_llama3 llava_next_mistral llava_next_qwen llava_next_yi llava_next_video
    llava_next_video_mistral llava_next_video_yi mimo mimo_v2 mimo_vl minicpm_v minicpm_v_4_6 minicpm_o
    minimax1 minimax2 ministral mistral mistral_small ministral3 olmo openchat openchat-3.6 opencoder
    paligemma paligemma_chat phi phi_small phi4 phi4_mini pixtral qwen qwen3 qwen3_nothink qwen2_audio
    qwen2_omni qwen3_omni qwen3_omni_nothink qwen2_vl qwen3_vl qwen3_vl_nothink qwen3_5 qwen3_5_nothink
    qwen3_6 sailor seed_coder seed_oss smollm smollm2 solar starchat telechat2 vicuna video_llava
    xuanyuan yi yi_vl youtu youtu_vl yuan zephyr aeva
""".split())

# ---------------------------------------------------------------------------------------------------
# tokenized_path (data/loader.py: save_to_disk of a DatasetDict "train" / "validation"). Features observed
# by running LLaMA-Factory 0.9.5 (datasets 4.0.0) on its demo data; the collators read exactly these
# columns, and the pairwise / KTO collators index images / videos / audios unconditionally.
# ---------------------------------------------------------------------------------------------------
_INT32, _INT8, _INT64 = "int32", "int8", "int64"
_MEDIA = {"images": "null", "videos": "null", "audios": "null"}


def tokenized_features_spec(stage: str, *, packing: bool = False, neat_packing: bool = False) -> dict[str, Any]:
    """Column -> dtype (``"int32"`` = a list of int32; ``"bool"`` / ``"null"`` = a scalar) LLaMA-Factory writes.

    ``stage`` is a training stage (``sft``, ``dpo``, ``kto``, ``pt``). Packed SFT adds ``position_ids``;
    neat packing stores its segment ids in ``attention_mask`` as int64 (they can exceed 127).
    """
    if stage == "sft":
        if neat_packing:
            return {"input_ids": _INT64, "attention_mask": _INT64, "position_ids": _INT64, "labels": _INT64, **_MEDIA}
        spec = {"input_ids": _INT32, "attention_mask": _INT8}
        if packing:
            spec["position_ids"] = _INT64
        return {**spec, "labels": _INT64, **_MEDIA}
    if stage in ("dpo", "rm"):
        return {f"{side}_{col}": _INT64 for side in ("chosen", "rejected")
                for col in ("input_ids", "attention_mask", "labels")} | _MEDIA
    if stage == "kto":
        return {"input_ids": _INT32, "attention_mask": _INT8, "labels": _INT64, "kl_input_ids": _INT64,
                "kl_attention_mask": _INT64, "kl_labels": _INT64, "kto_tags": "bool", **_MEDIA}
    if stage == "pt":
        return {"input_ids": _INT32, "attention_mask": _INT8}
    raise ValueError(f"no tokenized layout for stage {stage!r}")


def tokenized_features(stage: str, *, packing: bool = False, neat_packing: bool = False, extra: Any = None):
    """The ``datasets.Features`` of ``tokenized_features_spec`` (``extra``: features of additional columns)."""
    from datasets import Features, List, Value

    features = {}
    for column, dtype in tokenized_features_spec(stage, packing=packing, neat_packing=neat_packing).items():
        features[column] = Value(dtype) if dtype in ("bool", "null") else List(Value(dtype))
    for column, feature in (extra or {}).items():
        features.setdefault(column, feature)
    return Features(features)
