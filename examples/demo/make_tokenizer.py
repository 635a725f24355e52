"""Train the demo tokenizer: a small byte-level BPE on the project's own demo data, saved to tokenizer/.

The offline demo (``templates-hub run examples/demo/recipe.yaml``) cannot download a tokenizer, so the
repository ships this one (a few hundred KB). It is trained on ``alpaca_demo.jsonl`` plus a small
built-in corpus, with the special tokens of every chat-template family templates-hub ships registered
as single tokens, so any built-in template can be tried with it. Its ``chat_template`` is ChatML, the
format the demo recipe trains.

Training is deterministic: running this script again writes byte-identical files (a test checks it).

    python examples/demo/make_tokenizer.py            # rewrite examples/demo/tokenizer/
    python examples/demo/make_tokenizer.py --out /tmp/tok --vocab-size 4000
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "alpaca_demo.jsonl"
DEFAULT_OUT = HERE / "tokenizer"
VOCAB_SIZE = 3000
#: The demo trains ChatML (templates-hub's ``chatml`` template); the saved tokenizer carries it as Jinja.
TEMPLATE = "chatml"


def texts(path: Path) -> Iterator[str]:
    """Every string field of every JSON line (instruction, input, output, ...), in file order."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            for value in row.values():
                if isinstance(value, str) and value:
                    yield value


def build(data: Path, vocab_size: int = VOCAB_SIZE):
    """The demo tokenizer (a ``PreTrainedTokenizerFast``) trained on ``data``."""
    from templates_hub.templates import get_template
    from templates_hub.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(
        texts(data),
        vocab_size=vocab_size,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = get_template(TEMPLATE, tokenizer=tokenizer).to_jinja()
    tokenizer.model_max_length = 1024  # the demo model's positions (tiny_model.json)
    return tokenizer


def save(tokenizer, out: Path) -> list[Path]:
    """Save and return the written files (sorted)."""
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    return sorted(p for p in out.iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSON lines to train on")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory to save the tokenizer to")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE, help="BPE vocabulary size (upper bound)")
    args = parser.parse_args(argv)
    tokenizer = build(args.data, args.vocab_size)
    files = save(tokenizer, args.out)
    total = sum(p.stat().st_size for p in files)
    print(f"{len(tokenizer)} tokens -> {args.out} ({total / 1024:.0f} KB: {', '.join(p.name for p in files)})")


if __name__ == "__main__":
    main()
