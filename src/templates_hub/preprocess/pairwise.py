"""The pairwise preprocessor (DPO / ORPO / SimPO / reward models): LLaMA-Factory's ``PairwiseDatasetProcessor``.

Each preference row (a prompt and two answers) is rendered twice in ``oneturn`` mode, prompt + chosen
and prompt + rejected; both renders of the batch are encoded in one call. The prompt is cut to
``infer_seqlen(prompt, max(chosen, rejected), cutoff_len)`` and both answers to the same target length,
so chosen and rejected rows share one prompt. Columns: ``chosen_/rejected_ input_ids, attention_mask,
labels`` (prompt labels -100), all int64 like LLaMA-Factory's (datasets only narrows ``input_ids`` and
``attention_mask`` by exact column name).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import TemplatesHubError
from .base import Preprocessor, media_features, split_oneturn
from .seqlen import IGNORE_INDEX, infer_seqlen

PAIR_COLUMNS: tuple[str, ...] = (
    "chosen_input_ids", "chosen_attention_mask", "chosen_labels",
    "rejected_input_ids", "rejected_attention_mask", "rejected_labels",
)


class PairwisePreprocessor(Preprocessor):
    """Preference pairs: chosen_* and rejected_* input_ids / attention_mask / labels."""

    name: ClassVar[str] = "pairwise"
    description: ClassVar[str] = "DPO / ORPO / SimPO / reward-model pairs: chosen_* and rejected_* columns."
    input_kind: ClassVar[str] = "preference"
    stage: ClassVar[str] = "pairwise"
    token_columns: ClassVar[tuple[str, ...]] = ("chosen_input_ids", "rejected_input_ids")

    def check(self) -> None:
        if self.template is None:
            raise TemplatesHubError("the pairwise preprocessor needs a chat template (recipe `template:`)")
        self.efficient_eos = bool(getattr(self.template, "efficient_eos", False))
        if self.efficient_eos and self.eos_id is None:
            raise TemplatesHubError("efficient_eos needs a tokenizer with an eos token (run fix_tokenizer first)")

    def features(self) -> Any:
        from datasets import Features, List, Value

        feats: dict[str, Any] = {c: List(Value("int64")) for c in PAIR_COLUMNS}
        if self.media:
            feats.update(media_features())
        return Features(feats)

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        options = self.options("oneturn")
        rows = self._rows(batch, ("messages", "chosen", "rejected", "tools", "_row"))
        renders: list[Any] = []
        errors: dict[int, str] = {}
        for i, row in enumerate(rows):
            prompt = list(row["messages"] or [])
            try:
                pair = [self.render({"messages": prompt + [row[side]], "tools": row["tools"], "_row": row["_row"]},
                                    options) for side in ("chosen", "rejected")]
            except TemplatesHubError as exc:
                errors[i] = f"cannot render: {exc}"
                pair = [[], []]
            renders.extend(pair)
        encoded = self.engine.encode_pieces(renders, self.config.tokenization)
        out = self._new_output(PAIR_COLUMNS)
        cutoff = self.config.cutoff_len
        for i, row in enumerate(rows):
            if i in errors:
                self._emit(out, {c: [] for c in PAIR_COLUMNS}, row["_row"], errors[i], 0, 0)
                continue
            c_enc, r_enc = encoded[2 * i], encoded[2 * i + 1]
            prompt, chosen = split_oneturn(renders[2 * i], c_enc.ids, c_enc.bounds)
            _, rejected = split_oneturn(renders[2 * i + 1], r_enc.ids, r_enc.bounds)
            if self.efficient_eos:
                chosen = chosen + [self.eos_id]
                rejected = rejected + [self.eos_id]
            sl, tl = infer_seqlen(len(prompt), max(len(chosen), len(rejected)), cutoff)
            prompt, chosen, rejected = prompt[:sl], chosen[:tl], rejected[:tl]
            trained = len(chosen) + len(rejected)
            reason = None
            if not (chosen and rejected) and self.config.drop_untrained:
                reason = f"the chosen or rejected answer was truncated away (cutoff_len={cutoff})"
            values: dict[str, Any] = {c: [] for c in PAIR_COLUMNS}
            if reason is None:
                masked = [IGNORE_INDEX] * sl
                for side, answer in (("chosen", chosen), ("rejected", rejected)):
                    ids = prompt + answer
                    values[f"{side}_input_ids"] = ids
                    values[f"{side}_attention_mask"] = [1] * len(ids)
                    values[f"{side}_labels"] = masked + answer
            tokens = len(values["chosen_input_ids"]) + len(values["rejected_input_ids"])
            self._emit(out, values, row["_row"], reason, tokens, trained if reason is None else 0)
        return out
