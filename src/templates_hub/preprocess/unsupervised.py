"""The unsupervised preprocessor: prompts and references for evaluation and generation.

LLaMA-Factory's ``UnsupervisedDatasetProcessor`` (used for PPO and ``predict_with_generate``): the
conversation is rendered in ``oneturn`` mode; ``input_ids`` is everything up to the final answer (the
prompt, ending with the assistant header) and ``labels`` are the answer's ids (the reference; + eos
for efficient_eos templates). A row that ends with a user or tool message gets an empty answer, whose
ids are the assistant slot's closing tokens, exactly as in LLaMA-Factory. Both are cut with
``infer_seqlen``. Rows are never dropped for having short labels: they are references, not targets.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import TemplatesHubError
from .base import Preprocessor, media_features, split_oneturn
from .seqlen import infer_seqlen


class UnsupervisedPreprocessor(Preprocessor):
    """Prompt-only input_ids with the reference answer as labels."""

    name: ClassVar[str] = "unsupervised"
    description: ClassVar[str] = "Evaluation / generation rows: prompt input_ids, reference answer as labels."
    input_kind: ClassVar[str] = "sft"
    stage: ClassVar[str] = "unsupervised"
    reports_trained: ClassVar[bool] = False

    def check(self) -> None:
        if self.template is None:
            raise TemplatesHubError("the unsupervised preprocessor needs a chat template (recipe `template:`)")
        self.efficient_eos = bool(getattr(self.template, "efficient_eos", False))

    def features(self) -> Any:
        from datasets import Features, List, Value

        feats: dict[str, Any] = {"input_ids": List(Value("int32")), "attention_mask": List(Value("int8")),
                                 "labels": List(Value("int64"))}
        if self.media:
            feats.update(media_features())
        return Features(feats)

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        options = self.options("oneturn")
        rows = self._rows(batch, ("messages", "tools", "_row"))
        renders: list[Any] = []
        errors: dict[int, str] = {}
        for i, row in enumerate(rows):
            messages = list(row["messages"] or [])
            if not messages or messages[-1].get("role") != "assistant":
                messages.append({"role": "assistant", "content": "", "tool_calls": None, "reasoning": None,
                                 "train": None})
            try:
                renders.append(self.render({"messages": messages, "tools": row["tools"], "_row": row["_row"]}, options))
            except TemplatesHubError as exc:
                errors[i] = f"cannot render: {exc}"
                renders.append([])
        encoded = self.engine.encode_pieces(renders, self.config.tokenization)
        out = self._new_output(("input_ids", "attention_mask", "labels"))
        for i, row in enumerate(rows):
            if i in errors:
                self._emit(out, {"input_ids": [], "attention_mask": [], "labels": []}, row["_row"], errors[i], 0, 0)
                continue
            prompt, answer = split_oneturn(renders[i], encoded[i].ids, encoded[i].bounds)
            if self.efficient_eos and self.eos_id is not None:
                answer = answer + [self.eos_id]
            sl, tl = infer_seqlen(len(prompt), len(answer), self.config.cutoff_len)
            ids, labels = prompt[:sl], answer[:tl]
            self._emit(out, {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}, row["_row"],
                       None, len(ids), len(labels))
        return out
