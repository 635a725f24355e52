"""Live comparison with LLaMA-Factory 0.9.5: slot pieces encoded one by one == LLaMA-Factory's ids.

Runs only when ``TEMPLATES_HUB_LF_PYTHON`` points at the python of a LLaMA-Factory 0.9.5 virtualenv (see
the end of the reference notes). Every built-in that LLaMA-Factory 0.9.5 also ships is rendered over the
whole battery with several option sets (reasoning options for reasoning templates, oneturn, a tool_format
override); the pieces of each turn are encoded one piece at a time - exactly what LLaMA-Factory's
``_convert_elements_to_ids`` does with its elements - and must give LLaMA-Factory's (source, target) ids
for every turn. The tokenizer is the offline tiny one, saved to disk for the LLaMA-Factory process.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from templates_hub.errors import TemplateError
from templates_hub.plugins import get_registry
from templates_hub.templates import RenderOptions, SpecialTokens, fix_tokenizer
from templates_hub.templates.battery import battery
from templates_hub.templates.slot import TOOL_RESPONSE_JOINER, SlotTemplate
from templates_hub.templates.thinking import compose

LF_PYTHON = os.environ.get("TEMPLATES_HUB_LF_PYTHON")
SCRIPT = Path(__file__).parent / "fixtures" / "templates" / "lf_encode.py"
pytestmark = [
    pytest.mark.llamafactory,
    pytest.mark.slow,
    pytest.mark.skipif(not LF_PYTHON, reason="set TEMPLATES_HUB_LF_PYTHON to a LLaMA-Factory 0.9.5 python"),
]
TODAY = datetime.now().strftime("%d %b %Y")


def lf_messages(row: dict, fused: bool) -> tuple[list[dict], str] | None:
    """A canonical row as LLaMA-Factory's converters hand it to templates; None if it cannot express it."""
    system = ""
    out: list[dict] = []
    for m in row["messages"]:
        if m["role"] == "system":
            system = m["content"]
        elif m["role"] == "user":
            out.append({"role": "user", "content": m["content"]})
        elif m["role"] == "tool":
            if out and out[-1]["role"] == "observation":
                out[-1]["content"] += TOOL_RESPONSE_JOINER + m["content"]
            else:
                out.append({"role": "observation", "content": m["content"]})
        elif m.get("tool_calls"):
            calls = json.dumps([{"name": c["name"], "arguments": json.loads(c["arguments"])} for c in m["tool_calls"]],
                               ensure_ascii=False)
            text = compose(m.get("reasoning"), m["content"])
            if text and not text.startswith("<think>"):
                if fused:  # Llama2Template calls the function formatter without tool_call_words
                    return None
                calls = f"{text}<tool_call>{calls}</tool_call>"
            elif text:
                calls = text + calls
            out.append({"role": "function", "content": calls})
        else:
            out.append({"role": "assistant", "content": compose(m.get("reasoning"), m["content"])})
    return out, system


def option_sets(template: SlotTemplate) -> dict[str, dict]:
    sets = {"default": {}, "oneturn": {"mode": "oneturn"}}
    if template.reasoning:
        sets.update({
            "thinking_off": {"enable_thinking": False}, "thinking_none": {"enable_thinking": None},
            "mask_history": {"mask_history": True}, "mask_preserve": {"mask_history": True, "preserve_thinking": True},
            "oneturn_off": {"mode": "oneturn", "enable_thinking": False},
            "oneturn_preserve": {"mode": "oneturn", "preserve_thinking": True},
        })
    if template.name == "qwen":
        sets["tool_format_default"] = {"tool_format": "default"}
        sets["default_system"] = {"default_system": "Be terse."}
    return sets


def my_pairs(template: SlotTemplate, row: dict, options: RenderOptions, tokenizer) -> list[list[list[int]]]:
    tokens = SpecialTokens.from_tokenizer(tokenizer)
    pieces = template.render(row, tokens, options)
    pairs: dict[int, list[list[int]]] = {}
    for piece in pieces:
        ids = [tokenizer.convert_tokens_to_ids(piece.text)] if piece.special else \
            tokenizer.encode(piece.text, add_special_tokens=False)
        pairs.setdefault(piece.turn, [[], []])[1 if piece.trainable else 0].extend(ids)
    return [pairs[k] for k in sorted(pairs)]


def test_slot_pieces_give_llamafactory_ids(tmp_path):
    from templates_hub.tiny import build_tiny_tokenizer

    tokenizer_dir = tmp_path / "tiny"
    build_tiny_tokenizer().save_pretrained(tokenizer_dir)
    jobs, expectations = [], []
    for entry in get_registry("templates"):
        template = entry.obj
        if not isinstance(template, SlotTemplate) or template.lf_name is None:
            continue  # only templates LLaMA-Factory 0.9.5 ships (lf_name set), not NAME@hf variants
        tokenizer = build_tiny_tokenizer()
        fix_tokenizer(tokenizer, template)
        for label, opts in option_sets(template).items():
            options = RenderOptions(extra={"date_string": TODAY}, **opts)
            for case in battery():
                converted = lf_messages(case.row(), template.fuse_system)
                if converted is None:
                    continue
                messages, system = converted
                try:
                    mine = my_pairs(template, case.row(), options, tokenizer)
                except TemplateError as exc:
                    mine = f"error: {exc}"
                jobs.append({"template": template.lf_name, "messages": messages, "system": system,
                             "tools": case.row()["tools"], "mode": options.mode, "enable_thinking": options.enable_thinking,
                             "preserve_thinking": options.preserve_thinking, "mask_history": options.mask_history,
                             "tool_format": options.tool_format, "default_system": options.default_system})
                expectations.append((entry.name, label, case.name, copy.deepcopy(mine)))
    request = json.dumps({"tokenizer": str(tokenizer_dir), "jobs": jobs})
    answers_file = tmp_path / "answers.json"
    result = subprocess.run([LF_PYTHON, str(SCRIPT), str(answers_file)], input=request, capture_output=True, text=True, timeout=1200,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(answers_file.read_text(encoding="utf-8"))
    assert len(answers) == len(expectations)
    problems = []
    for (name, label, case, mine), answer in zip(expectations, answers, strict=True):
        if "error" in answer:
            if not (isinstance(mine, str) and mine.startswith("error")):
                problems.append(f"{name}/{label}/{case}: LLaMA-Factory raised {answer['error']}")
            continue
        if mine != answer["pairs"]:
            problems.append(f"{name}/{label}/{case}:\n  mine {mine}\n  LF   {answer['pairs']}")
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems[:20])
    assert len(answers) > 500
    print(f"{len(answers)} conversations compared", file=sys.stderr)
