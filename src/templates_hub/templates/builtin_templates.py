"""The built-in slot templates, as declarations (data).

Each entry is a template declaration in the same form as a user's YAML file (see ``spec.py``), with
LLaMA-Factory 0.9.5's name and slots (``data/template.py``); ``builtin.py`` registers them through the
``register_templates`` hook like any plugin. ``baichuan2`` is the declaration of LLaMA-Factory releases
before 0.9.5 (0.9.5 no longer ships it). Entries named ``NAME@hf`` are not LLaMA-Factory templates: they
are declared to render exactly like the model's official Hugging Face chat template where LLaMA-Factory's
``NAME`` deliberately differs (see docs/templates.md, "Differences from the official templates").
"""

from __future__ import annotations

from typing import Any

BOS: dict[str, str] = {"special": "bos_token"}
EOS: dict[str, str] = {"special": "eos_token"}

CHATML_USER = "<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n"
CHATML_ASSISTANT = "{{content}}<|im_end|>\n"
CHATML_SYSTEM = "<|im_start|>system\n{{content}}<|im_end|>\n"
CHATML_TOOL = "<|im_start|>tool\n{{content}}<|im_end|>\n<|im_start|>assistant\n"
QWEN_OBSERVATION = "<|im_start|>user\n<tool_response>\n{{content}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
GEMMA_USER = "<start_of_turn>user\n{{content}}<end_of_turn>\n<start_of_turn>model\n"
GEMMA_OBSERVATION = "<start_of_turn>tool\n{{content}}<end_of_turn>\n<start_of_turn>model\n"
LLAMA3_USER = (
    "<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
)
LLAMA3_OBSERVATION = (
    "<|start_header_id|>ipython<|end_header_id|>\n\n{{content}}<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)

_QWEN: dict[str, Any] = {
    "user": CHATML_USER,
    "assistant": CHATML_ASSISTANT,
    "system": CHATML_SYSTEM,
    "function": CHATML_ASSISTANT,
    "observation": QWEN_OBSERVATION,
    "tool_format": "qwen",
    "stop_words": ["<|im_end|>"],
    "replace_eos": True,
}

_GEMMA: dict[str, Any] = {
    "user": GEMMA_USER,
    "assistant": "{{content}}<end_of_turn>\n",
    "system": "{{content}}\n\n",
    "observation": GEMMA_OBSERVATION,
    "prefix": [BOS],
    "fuse_system": True,
}

BUILTIN_TEMPLATES: list[dict[str, Any]] = [
    # -- generic --------------------------------------------------------------------------------------------
    {
        "name": "default",
        "description": "LLaMA-Factory's generic 'Human: / Assistant:' template with eos after every turn.",
        "user": ["Human: {{content}}", EOS, "\nAssistant:"],
        "assistant": ["{{content}}", EOS, "\n"],
        "system": ["System: {{content}}", EOS, "\n"],
        "replace_jinja_template": True,
    },
    {
        "name": "empty",
        "description": "Content only, no markers and no eos (LLaMA-Factory's fallback when nothing is set).",
        "assistant": "{{content}}",
    },
    {
        "name": "alpaca",
        "description": "Stanford Alpaca '### Instruction: / ### Response:' with its default system prompt.",
        "user": "### Instruction:\n{{content}}\n\n### Response:\n",
        "assistant": ["{{content}}", EOS, "\n\n"],
        "default_system": (
            "Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.\n\n"
        ),
        "replace_jinja_template": True,
    },
    {
        "name": "vicuna",
        "description": "Vicuna v1.1 'USER: ... ASSISTANT:' with its default system prompt.",
        "user": "USER: {{content}} ASSISTANT:",
        "default_system": (
            "A chat between a curious user and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the user's questions."
        ),
        "replace_jinja_template": True,
    },
    {
        "name": "user_assistant_tags",
        "description": "The seed notebook's '<|user|>\\n...\\n<|assistant|>\\n' + response + eos (Tulu-like tags).",
        "user": "<|user|>\n{{content}}\n<|assistant|>\n",
        "assistant": ["{{content}}", EOS],
        "system": "<|system|>\n{{content}}\n",
    },
    # -- ChatML family --------------------------------------------------------------------------------------
    {
        "name": "chatml",
        "description": "ChatML (<|im_start|>role ... <|im_end|>), eos replaced by <|im_end|>.",
        "user": CHATML_USER,
        "assistant": CHATML_ASSISTANT,
        "system": CHATML_SYSTEM,
        "observation": CHATML_TOOL,
        "stop_words": ["<|im_end|>", "<|im_start|>"],
        "replace_eos": True,
        "replace_jinja_template": True,
    },
    {
        "name": "qwen",
        "description": "Qwen / Qwen2 / Qwen2.5 (ChatML, default system 'You are Qwen...', Hermes tool calls).",
        **_QWEN,
        "default_system": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    },
    {
        "name": "qwen3",
        "description": "Qwen3 reasoning template: <think> blocks, empty CoT added to answers without one.",
        **_QWEN,
        "reasoning": True,
    },
    {
        "name": "qwen3_nothink",
        "description": "Qwen3 slots without the reasoning rules (Qwen3-Instruct-2507 and non-thinking use).",
        **_QWEN,
    },
    {
        "name": "yi",
        "description": "Yi / Yi-1.5 chat (ChatML without default system).",
        "user": CHATML_USER,
        "assistant": CHATML_ASSISTANT,
        "system": CHATML_SYSTEM,
        "stop_words": ["<|im_end|>"],
    },
    {
        "name": "intern2",
        "description": "InternLM2 / 2.5 chat (ChatML with bos and the InternLM default system).",
        "user": CHATML_USER,
        "assistant": CHATML_ASSISTANT,
        "system": CHATML_SYSTEM,
        "prefix": [BOS],
        "default_system": (
            "You are an AI assistant whose name is InternLM (书生·浦语).\n"
            "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
            "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
            "- InternLM (书生·浦语) can understand and communicate fluently in the language "
            "chosen by the user such as English and 中文."
        ),
        "stop_words": ["<|im_end|>"],
    },
    {
        "name": "smollm",
        "description": "SmolLM (ChatML, no default system).",
        "user": CHATML_USER,
        "assistant": CHATML_ASSISTANT,
        "system": CHATML_SYSTEM,
        "stop_words": ["<|im_end|>"],
    },
    {
        "name": "smollm2",
        "description": "SmolLM2 (ChatML with the SmolLM default system).",
        "user": CHATML_USER,
        "assistant": CHATML_ASSISTANT,
        "system": CHATML_SYSTEM,
        "stop_words": ["<|im_end|>"],
        "default_system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face.",
    },
    {
        "name": "phi4",
        "description": "Phi-4 (<|im_start|>role<|im_sep|> ... <|im_end|>).",
        "user": "<|im_start|>user<|im_sep|>{{content}}<|im_end|><|im_start|>assistant<|im_sep|>",
        "assistant": "{{content}}<|im_end|>",
        "system": "<|im_start|>system<|im_sep|>{{content}}<|im_end|>",
        "stop_words": ["<|im_end|>"],
        "replace_eos": True,
    },
    # -- Llama family ---------------------------------------------------------------------------------------
    {
        "name": "llama2",
        "description": "Llama-2-chat ([INST] ... [/INST], <<SYS>> fused into the first user turn).",
        "user": [BOS, "[INST] {{content}} [/INST]"],
        "system": "<<SYS>>\n{{content}}\n<</SYS>>\n\n",
        "fuse_system": True,
    },
    {
        "name": "llama3",
        "description": "Llama-3 / 3.1 / 3.2 instruct (header ids, <|eot_id|>; Llama 3.1 JSON tool calls).",
        "user": LLAMA3_USER,
        "assistant": "{{content}}<|eot_id|>",
        "system": "<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>",
        "function": "{{content}}<|eot_id|>",
        "observation": LLAMA3_OBSERVATION,
        "tool_format": "llama3",
        "prefix": [BOS],
        "stop_words": ["<|eot_id|>", "<|eom_id|>"],
        "replace_eos": True,
    },
    {
        "name": "mistral",
        "description": "Mistral-Instruct ([INST] ... [/INST], system fused into the first turn, v0.3 tool calls).",
        "user": "[INST] {{content}}[/INST]",
        "assistant": [" {{content}}", EOS],
        "system": "{{content}}\n\n",
        "function": ["[TOOL_CALLS] {{content}}", EOS],
        "observation": '[TOOL_RESULTS] {"content": {{content}}}[/TOOL_RESULTS]',
        "tool_format": "mistral",
        "prefix": [BOS],
        "fuse_system": True,
    },
    {
        "name": "zephyr",
        "description": "Zephyr (<|user|> / <|assistant|> with eos after each message, default system).",
        "user": ["<|user|>\n{{content}}", EOS, "<|assistant|>\n"],
        "system": ["<|system|>\n{{content}}", EOS],
        "default_system": "You are Zephyr, a helpful assistant.",
    },
    # -- Gemma ----------------------------------------------------------------------------------------------
    {
        "name": "gemma",
        "description": "Gemma (<start_of_turn>user/model, system fused into the first user turn).",
        **_GEMMA,
        "stop_words": ["<end_of_turn>"],
        "replace_eos": True,
    },
    {
        "name": "gemma2",
        "description": "Gemma 2 (as gemma, with efficient eos and <eos> as a stop word).",
        **_GEMMA,
        "stop_words": ["<eos>", "<end_of_turn>"],
        "efficient_eos": True,
    },
    {
        "name": "gemma3",
        "description": "Gemma 3 text (as gemma; the official template also accepts a system turn).",
        **_GEMMA,
        "stop_words": ["<end_of_turn>"],
        "replace_eos": True,
    },
    # -- Phi ------------------------------------------------------------------------------------------------
    {
        "name": "phi",
        "description": "Phi-3 / Phi-3.5 (<|user|> ... <|end|>).",
        "user": "<|user|>\n{{content}}<|end|>\n<|assistant|>\n",
        "assistant": "{{content}}<|end|>\n",
        "system": "<|system|>\n{{content}}<|end|>\n",
        "stop_words": ["<|end|>"],
        "replace_eos": True,
    },
    # -- DeepSeek -------------------------------------------------------------------------------------------
    {
        "name": "deepseek",
        "description": "DeepSeek LLM / V2 chat ('User: ... Assistant:').",
        "user": "User: {{content}}\n\nAssistant:",
        "system": "{{content}}\n\n",
        "prefix": [BOS],
    },
    {
        "name": "deepseek3",
        "description": "DeepSeek-V3 (<｜User｜> / <｜Assistant｜>).",
        "user": "<｜User｜>{{content}}<｜Assistant｜>",
        "prefix": [BOS],
    },
    {
        "name": "deepseekr1",
        "description": "DeepSeek-R1 and R1-Distill (V3 markers with the reasoning rules).",
        "user": "<｜User｜>{{content}}<｜Assistant｜>",
        "prefix": [BOS],
        "reasoning": True,
    },
    {
        "name": "deepseekcoder",
        "description": "DeepSeek-Coder instruct ('### Instruction: / ### Response:' with <|EOT|>).",
        "user": "### Instruction:\n{{content}}\n### Response:",
        "assistant": "\n{{content}}\n<|EOT|>\n",
        "prefix": [BOS],
        "default_system": (
            "You are an AI programming assistant, utilizing the DeepSeek Coder model, "
            "developed by DeepSeek Company, and you only answer questions related to computer science. "
            "For politically sensitive questions, security and privacy issues, "
            "and other non-computer science questions, you will refuse to answer.\n"
        ),
    },
    # -- GLM ------------------------------------------------------------------------------------------------
    {
        "name": "glm4",
        "description": "GLM-4 chat ([gMASK]<sop>, <|user|> / <|assistant|>, efficient eos, GLM-4 tool calls).",
        "user": "<|user|>\n{{content}}<|assistant|>",
        "assistant": "\n{{content}}",
        "system": "<|system|>\n{{content}}",
        "function": "{{content}}",
        "observation": "<|observation|>\n{{content}}<|assistant|>",
        "tool_format": "glm4",
        "prefix": "[gMASK]<sop>",
        "stop_words": ["<|user|>", "<|observation|>"],
        "efficient_eos": True,
    },
    # -- others ---------------------------------------------------------------------------------------------
    {
        "name": "falcon",
        "description": "Falcon-instruct ('User: ... Falcon:'), efficient eos.",
        "user": "User: {{content}}\nFalcon:",
        "assistant": "{{content}}\n",
        "efficient_eos": True,
    },
    {
        "name": "cohere",
        "description": "Cohere Command-R (<|START_OF_TURN_TOKEN|> role tokens).",
        "user": (
            "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{{content}}<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
        ),
        "system": "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{{content}}<|END_OF_TURN_TOKEN|>",
        "prefix": [BOS],
    },
    {
        "name": "olmo",
        "description": "OLMo (eos prefix, <|user|> / <|assistant|>).",
        "user": "<|user|>\n{{content}}<|assistant|>\n",
        "prefix": [EOS],
    },
    {
        "name": "baichuan2",
        "description": "Baichuan2-chat (<reserved_106> / <reserved_107>), efficient eos (pre-0.9.5 LLaMA-Factory).",
        "user": "<reserved_106>{{content}}<reserved_107>",
        "efficient_eos": True,
    },
    {
        "name": "starchat",
        "description": "StarChat (<|system|> / <|user|> / <|assistant|> ... <|end|>).",
        "user": "<|user|>\n{{content}}<|end|>\n<|assistant|>",
        "assistant": "{{content}}<|end|>\n",
        "system": "<|system|>\n{{content}}<|end|>\n",
        "stop_words": ["<|end|>"],
    },
    {
        "name": "solar",
        "description": "SOLAR instruct ('### User: / ### Assistant:'), efficient eos.",
        "user": "### User:\n{{content}}\n\n### Assistant:\n",
        "system": "### System:\n{{content}}\n\n",
        "efficient_eos": True,
    },
]


#: Built-ins LLaMA-Factory 0.9.5 does not ship (every other declaration above carries ``lf_name`` = its name,
#: so an exporter can tell which templates a LLaMA-Factory YAML may name).
NOT_IN_LLAMAFACTORY: frozenset[str] = frozenset({"user_assistant_tags", "baichuan2"})
for _declaration in BUILTIN_TEMPLATES:
    if _declaration["name"] not in NOT_IN_LLAMAFACTORY:
        _declaration.setdefault("lf_name", _declaration["name"])


def _variant(base: str, name: str, description: str, **changes: Any) -> dict[str, Any]:
    """A copy of built-in ``base`` with ``changes`` (a declaration, still plain data)."""
    declaration = next(d for d in BUILTIN_TEMPLATES if d["name"] == base)
    out = {k: v for k, v in declaration.items() if k not in changes and k != "lf_name"}
    # no lf_name: LLaMA-Factory has no template that renders like this (its ``base`` renders differently)
    out.update(changes, name=name, description=description)
    return {k: v for k, v in out.items() if v is not None}


#: ``NAME@hf``: the same family declared to render exactly like its official Hugging Face chat template
#: (see docs/templates.md for what differs from LLaMA-Factory's ``NAME``).
HF_VARIANTS: list[dict[str, Any]] = [
    _variant("qwen", "qwen@hf", "Qwen2.5 exactly as its official chat template (empty system kept, '\\n' before tool calls).",
             keep_empty_system=True, tool_call_separator="\n"),
    _variant("llama3", "llama3@hf", "Llama-3 exactly as its official chat template (contents trimmed, empty system kept).",
             keep_empty_system=True, strip="all"),
    _variant("llama2", "llama2@hf", "Llama-2-chat exactly as its official template (' answer ' + eos, trimmed, empty <<SYS>> kept).",
             assistant=[" {{content}} ", EOS], keep_empty_system=True, strip="messages"),
    _variant("mistral", "mistral@hf", "Mistral-7B-Instruct-v0.1 exactly as its official template (' [INST] ... [/INST]').",
             user=" [INST] {{content}} [/INST]", keep_empty_system=True, function=None, observation=None,
             tool_format=None),
    _variant("gemma", "gemma@hf", "Gemma / Gemma 2 exactly as the official gemma-2-it template (contents trimmed).",
             strip="messages", keep_empty_system=True),
    _variant("gemma3", "gemma3@hf", "Gemma 3 exactly as its official template (contents trimmed, empty system kept).",
             strip="messages", keep_empty_system=True),
    _variant("phi", "phi@hf", "Phi-3 exactly as its official template (eos after the last message, tokenizer eos kept).",
             keep_empty_system=True, replace_eos=False, suffix=[EOS]),
    _variant("phi4", "phi4@hf", "Phi-4 exactly as its official template (empty system kept).", keep_empty_system=True),
    _variant("chatml", "chatml@hf", "ChatML exactly as transformers' former default template (empty system kept).",
             keep_empty_system=True),
    _variant("deepseek", "deepseek@hf", "DeepSeek-V2-Chat exactly as its official template ('Assistant: ' + answer).",
             assistant=[" {{content}}", EOS], keep_empty_system=True),
    _variant("intern2", "intern2@hf", "InternLM2 exactly as its official template (no default system).",
             default_system="", keep_empty_system=True),
    _variant("smollm2", "smollm2@hf", "SmolLM2 exactly as its official template (its default system has no final period).",
             default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
             keep_empty_system=True),
    _variant("yi", "yi@hf", "Yi exactly as its official template (system text written raw).", system="{{content}}"),
    _variant("zephyr", "zephyr@hf", "Zephyr exactly as its official template (newline after each eos, no default system).",
             user=["<|user|>\n{{content}}", EOS, "\n<|assistant|>\n"], assistant=["{{content}}", EOS, "\n"],
             system=["<|system|>\n{{content}}", EOS, "\n"], default_system="", keep_empty_system=True),
    _variant("cohere", "cohere@hf", "Command-R exactly as its official default template (contents trimmed).",
             keep_empty_system=True, strip="messages"),
]

BUILTIN_TEMPLATES.extend(HF_VARIANTS)
