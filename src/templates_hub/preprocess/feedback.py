"""The KTO preprocessor: LLaMA-Factory's ``FeedbackDatasetProcessor``.

A KTO row is a conversation whose final assistant answer is labelled desirable (``label: true``) or
not. KTO also needs a *mismatched* pair per row to estimate the KL term: LLaMA-Factory pairs each
row's prompt with the answer of the **previous row of the same preprocessing batch**, and the first row
of a batch with the answer of the batch's last row (``kl_response = [last] + responses[:-1]``).
This preprocessor does exactly that, so the pairing depends on the batch boundaries:
``batch_size`` (default 1000, LLaMA-Factory's ``preprocessing_batch_size``) and, with ``num_proc``, the
contiguous shard each worker gets (a shard's first batch starts at the shard's first row). Keep those
two settings equal to LLaMA-Factory's to get its exact rows. A batch of one row pairs the row with
itself. Each side is truncated with ``infer_seqlen`` on its own.

Columns: ``input_ids`` (int32), ``attention_mask`` (int8), ``labels``, ``kl_input_ids``,
``kl_attention_mask``, ``kl_labels`` (int64) and ``kto_tags`` (bool).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import TemplatesHubError
from .base import Preprocessor, media_features, split_oneturn
from .seqlen import IGNORE_INDEX, infer_seqlen

KTO_COLUMNS: tuple[str, ...] = (
    "input_ids", "attention_mask", "labels", "kl_input_ids", "kl_attention_mask", "kl_labels", "kto_tags",
)


class KTOPreprocessor(Preprocessor):
    """Unpaired preference rows: the row, a KL row (prompt + previous row's answer) and kto_tags."""

    name: ClassVar[str] = "kto"
    description: ClassVar[str] = "KTO rows: input_ids/labels, kl_* (prompt + the previous row's answer), kto_tags."
    input_kind: ClassVar[str] = "kto"
    stage: ClassVar[str] = "kto"

    def check(self) -> None:
        if self.template is None:
            raise TemplatesHubError("the kto preprocessor needs a chat template (recipe `template:`)")
        self.efficient_eos = bool(getattr(self.template, "efficient_eos", False))
        if self.efficient_eos and self.eos_id is None:
            raise TemplatesHubError("efficient_eos needs a tokenizer with an eos token (run fix_tokenizer first)")

    def features(self) -> Any:
        from datasets import Features, List, Value

        feats: dict[str, Any] = {
            "input_ids": List(Value("int32")), "attention_mask": List(Value("int8")), "labels": List(Value("int64")),
            "kl_input_ids": List(Value("int64")), "kl_attention_mask": List(Value("int64")),
            "kl_labels": List(Value("int64")), "kto_tags": Value("bool"),
        }
        if self.media:
            feats.update(media_features())
        return Features(feats)

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        options = self.options("oneturn")
        rows = self._rows(batch, ("messages", "label", "tools", "_row"))
        answers = [(row["messages"] or [None])[-1] for row in rows]
        kl_answers = answers[-1:] + answers[:-1]  # LLaMA-Factory: the previous row's answer, wrapping around
        renders: list[Any] = []
        errors: dict[int, str] = {}
        for i, row in enumerate(rows):
            messages = list(row["messages"] or [])
            try:
                own = self.render({"messages": messages, "tools": row["tools"], "_row": row["_row"]}, options)
                kl = self.render({"messages": messages[:-1] + [kl_answers[i]], "tools": row["tools"],
                                  "_row": row["_row"]}, options)
            except TemplatesHubError as exc:
                errors[i] = f"cannot render: {exc}"
                own, kl = [], []
            renders += [own, kl]
        encoded = self.engine.encode_pieces(renders, self.config.tokenization)
        out = self._new_output(KTO_COLUMNS)
        cutoff = self.config.cutoff_len
        for i, row in enumerate(rows):
            if i in errors:
                self._emit(out, {c: ([] if c != "kto_tags" else bool(row["label"])) for c in KTO_COLUMNS},
                           row["_row"], errors[i], 0, 0)
                continue
            sides = []
            for k in (2 * i, 2 * i + 1):
                prompt, answer = split_oneturn(renders[k], encoded[k].ids, encoded[k].bounds)
                if self.efficient_eos:
                    answer = answer + [self.eos_id]
                sl, tl = infer_seqlen(len(prompt), len(answer), cutoff)
                sides.append((prompt[:sl] + answer[:tl], [IGNORE_INDEX] * sl + answer[:tl], tl))
            (ids, labels, tl), (kl_ids, kl_labels, _) = sides
            reason = None
            if tl == 0 and self.config.drop_untrained:
                reason = f"the answer was truncated away (cutoff_len={cutoff})"
                ids, labels, kl_ids, kl_labels = [], [], [], []
            values = {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels, "kl_input_ids": kl_ids,
                      "kl_attention_mask": [1] * len(kl_ids), "kl_labels": kl_labels, "kto_tags": bool(row["label"])}
            self._emit(out, values, row["_row"], reason, len(ids), tl if reason is None else 0)
        return out
