"""Cost of the hardened Jinja sandbox, printed as a ratio against plain Jinja (not a test).

    python benchmarks/jinja_render.py [--rows 2000] [--repeat 5]

Jinja chat templates are untrusted code, so templates-hub renders them in a hardened environment
(``templates_hub.templates.sandbox``: static checks, a step budget, sizes checked before work). This
measures what that costs on real templates: the official Qwen2.5 and Llama-3 chat templates
(``../shared/tokenizers/*/tokenizer_config.json``) render the same multi-turn conversations (a quarter of
them with tools for Qwen2.5) through (1) the environment transformers' ``apply_chat_template`` renders in
(a plain ``ImmutableSandboxedEnvironment`` with its globals), the baseline, and (2) templates-hub's
hardened environment. The outputs are checked equal first. Runs are interleaved; best and median of
--repeat runs, conversations/s and the ratio.
Built-in slot templates do not use Jinja and do not pay this cost.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers.utils.chat_template_utils import _compile_jinja_template as transformers_template

from templates_hub.templates import sandbox

SHARED = Path(__file__).resolve().parents[2] / "shared"
TEMPLATES = {"Qwen2.5-Instruct": ("qwen2.5", True), "Llama-3-Instruct": ("llama-3", False)}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
WORDS = "the a of to and in is it you that he was for on are with as I his they be at one have this".split()


def conversations(count: int, with_tools: bool) -> list[dict[str, Any]]:
    """Deterministic multi-turn conversations of varied lengths, every other one with a system turn."""
    rng = random.Random(0)
    rows = []
    for i in range(count):
        messages: list[dict[str, Any]] = [{"role": "system", "content": f"You are assistant #{i}."}] if i % 2 else []
        for turn in range(rng.randint(2, 4)):
            question = " ".join(rng.choices(WORDS, k=rng.randint(5, 60)))
            messages.append({"role": "user", "content": f"{question} {i}.{turn}"})
            messages.append({"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(5, 120)))})
        rows.append({"messages": messages, "tools": TOOLS if with_tools and i % 4 == 0 else None,
                     "add_generation_prompt": False, "bos_token": "<s>", "eos_token": "</s>"})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (SHARED / "tokenizers").is_dir():
        print(f"needs the official chat templates in {SHARED / 'tokenizers'}", file=sys.stderr)
        return 2
    for label, (folder, with_tools) in TEMPLATES.items():
        source = json.loads((SHARED / "tokenizers" / folder / "tokenizer_config.json").read_text())["chat_template"]
        rows = conversations(args.rows, with_tools)
        plain = transformers_template(source)
        hardened = sandbox.compile_template(source, label)[1]
        runners: dict[str, Callable[[dict[str, Any]], str]] = {
            "transformers' own Jinja environment": lambda row, t=plain: t.render(**row),
            "templates-hub hardened sandbox": lambda row, t=hardened, n=label: sandbox.render(t, n, row)[0],
        }
        expected = [runners["transformers' own Jinja environment"](row) for row in rows]
        for name, render in runners.items():
            if [render(row) for row in rows] != expected:
                print(f"{label}: {name} renders differently", file=sys.stderr)
                return 1
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeat):
            for name, render in runners.items():
                start = time.perf_counter()
                for row in rows:
                    render(row)
                times[name].append(time.perf_counter() - start)
        base = min(times["transformers' own Jinja environment"])
        print(f"\n{label}: {args.rows:,} conversations, best (median) of {args.repeat}")
        for name, runs in times.items():
            print(f"  {name:38s} {args.rows / min(runs):8,.0f} conv/s ({args.rows / statistics.median(runs):8,.0f})"
                  f"   x{min(runs) / base:4.2f} the baseline's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
