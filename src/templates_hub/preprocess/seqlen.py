"""LLaMA-Factory's truncation rule, reproduced exactly (``processor_utils.infer_seqlen``, v0.9.5).

Every preprocessor cuts prompt (source) and response (target) token lists with this rule so that a row
truncated by templates-hub has the same tokens as the row LLaMA-Factory would train on. Truncation
always keeps the *head* of each list.
"""

from __future__ import annotations

#: LLaMA-Factory's (and PyTorch's cross-entropy) label for "no loss on this token".
IGNORE_INDEX = -100


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """How many source and target tokens survive a budget of ``cutoff_len`` tokens.

    - a target that fits in half the budget is kept whole (the source is cut);
    - else a source that fits in half the budget is kept whole (the target is cut);
    - else both are cut in proportion to their lengths.

    The float expression is LLaMA-Factory's own (``int(cutoff * (target / (source + target)))``), so the
    rounding is identical too.
    """
    if target_len * 2 < cutoff_len:  # the target fits in half: keep it whole
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:  # the source fits in half: keep it whole
        max_target_len = cutoff_len - source_len
    else:  # cut both, proportionally
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    max_source_len = max(cutoff_len - new_target_len, 0)
    new_source_len = min(max_source_len, source_len)
    return new_source_len, new_target_len
