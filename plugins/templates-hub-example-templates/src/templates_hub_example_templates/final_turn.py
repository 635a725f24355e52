"""The ``final_turn`` preprocessor: supervised rows that train only the final answer, with loss weights.

Multi-turn chat data often has earlier assistant turns that were written by an older model or edited
by hand; training on them teaches their mistakes. ``final_turn`` trains the last assistant message of
each conversation and masks the others (labels -100), like ``mask_history``, but keeps a knob for the
history: ``history_weight > 0`` trains earlier answers too, and the per-token ``loss_weights`` column
says how much each trained token counts (``final_weight`` for the final answer, ``history_weight`` for
earlier ones, 0.0 for masked tokens). A trainer that multiplies its per-token loss by this column
(``(loss * weights).sum() / weights.sum()``) down-weights the history instead of dropping it.

Rules, all per row:

- pieces of the final assistant message get ``final_weight``, pieces of earlier assistant messages
  ``history_weight``; a weight of 0 means the tokens are not trained at all;
- a message's ``train: false`` masks it, ``train: true`` trains it with its weight (or 1.0 when that is 0);
- the end-of-turn token (eos or a stop word) right after trained tokens is trained with their weight,
  for Jinja templates whose trained span stops before it;
- truncation keeps the whole final answer when it fits and cuts the *oldest* prompt tokens first, so
  the final question stays next to its answer (``infer_seqlen`` decides the split, as in LLaMA-Factory);
- a row left without a trained token is dropped with its reason.

Parameters (recipe ``preprocess.params``): ``final_weight`` (default 1.0), ``history_weight`` (default
0.0), ``weights_column`` (default ``loss_weights``; null for no column).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from templates_hub.errors import TemplatesHubError
from templates_hub.preprocess import Preprocessor, infer_seqlen

IGNORE_INDEX = -100


class FinalTurnParams(BaseModel):
    """``preprocess.params`` of the ``final_turn`` preprocessor."""

    model_config = ConfigDict(extra="forbid")

    final_weight: float = Field(default=1.0, gt=0, description="Loss weight of the final answer's tokens.")
    history_weight: float = Field(default=0.0, ge=0, description="Loss weight of earlier answers (0: masked).")
    weights_column: str | None = Field(default="loss_weights", min_length=1,
                                       description="Output column of per-token loss weights (null: none).")


class FinalTurnPreprocessor(Preprocessor):
    """SFT on the final assistant answer only; earlier answers weighted by history_weight (loss_weights column)."""

    name: ClassVar[str] = "final_turn"
    description: ClassVar[str] = ("SFT that trains the final assistant answer (earlier answers only with "
                                  "history_weight > 0) and writes per-token loss_weights")
    input_kind: ClassVar[str] = "sft"
    stage: ClassVar[str] = "sft"

    def check(self) -> None:
        if self.template is None:
            raise TemplatesHubError("the final_turn preprocessor needs a chat template (recipe `template:`)")
        if getattr(self.template, "efficient_eos", False):
            raise TemplatesHubError(
                f"the final_turn preprocessor does not support efficient_eos templates ({self.template.name!r}); "
                "use preprocessor: supervised with mask_history: true"
            )
        if self.config.packing or self.config.neat_packing:
            raise TemplatesHubError("the final_turn preprocessor does not pack rows (the loss_weights column would "
                                    "not follow the packed tokens); set preprocess.packing: false")
        try:
            self.params = FinalTurnParams.model_validate(self.config.params)
        except ValidationError as exc:
            problems = "; ".join(f"preprocess.params.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise TemplatesHubError(f"final_turn: {problems}") from None
        stop_words = tuple(getattr(self.template, "stop_words", ()) or ())
        ends: set[int] = set()
        for token in (self.template.effective_eos(self.tokens), *stop_words):
            idx = self.tokenizer.convert_tokens_to_ids(token) if token else None
            if isinstance(idx, int) and idx != getattr(self.tokenizer, "unk_token_id", None):
                ends.add(idx)
        self.end_ids = frozenset(ends)

    def features(self) -> Any:
        from datasets import Features, List, Value

        from templates_hub.preprocess.base import media_features

        feats: dict[str, Any] = {"input_ids": List(Value("int32")), "attention_mask": List(Value("int8")),
                                 "labels": List(Value("int64"))}
        if self.media:
            feats.update(media_features())
        if self.params.weights_column:
            feats[self.params.weights_column] = List(Value("float32"))
        return Features(feats)

    # -- the batch function ---------------------------------------------------------------------------------

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = self._rows(batch, ("messages", "tools", "_row"))
        options = self.options("multiturn")
        rendered: list[list[Any]] = []
        errors: dict[int, str] = {}
        for i, row in enumerate(rows):
            try:
                rendered.append(self.render(row, options))
            except TemplatesHubError as exc:
                errors[i] = f"cannot render: {exc}"
                rendered.append([])
        encoded = self.engine.encode_pieces(rendered, self.config.tokenization)
        column = self.params.weights_column
        out = self._new_output(("input_ids", "attention_mask", "labels") + ((column,) if column else ()))
        for i, row in enumerate(rows):
            if i in errors:
                ids, labels, weights, reason = [], [], [], errors[i]
            else:
                ids, labels, weights, reason = self._encode_row(row["messages"] or [], rendered[i], encoded[i])
            trained = sum(1 for label in labels if label != IGNORE_INDEX)
            if reason is None and trained == 0 and self.config.drop_untrained:
                reason = "no trained tokens left (the final answer is masked or was truncated away)"
            if reason is not None:
                ids, labels, weights, trained = [], [], [], 0
            values: dict[str, Any] = {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
            if column:
                values[column] = weights
            self._emit(out, values, row["_row"], reason, len(ids), trained)
        return out

    def _weight(self, message: dict[str, Any] | None, final: bool) -> float:
        weight = self.params.final_weight if final else self.params.history_weight
        flag = message.get("train") if message is not None else None
        if flag is False:
            return 0.0
        if flag is True and weight == 0:
            return 1.0
        return weight

    def _encode_row(self, messages: list[dict[str, Any]], pieces: list[Any], enc: Any
                    ) -> tuple[list[int], list[int], list[float], str | None]:
        assistants = [k for k, m in enumerate(messages) if m.get("role") == "assistant"]
        if not assistants:
            return [], [], [], "no assistant message to train on"
        final = assistants[-1]
        last_turn = pieces[-1].turn if pieces else 0
        ids: list[int] = []
        labels: list[int] = []
        weights: list[float] = []
        start_of_final: int | None = None
        previous = 0.0
        for k, piece in enumerate(pieces):
            toks = enc.piece_ids(k)
            if not toks:
                continue
            owner = piece.message
            is_final = owner == final if owner is not None else piece.turn == last_turn
            weight = 0.0
            if piece.trainable:
                weight = self._weight(messages[owner] if owner is not None and owner < len(messages) else None,
                                      is_final)
                if is_final and start_of_final is None:
                    start_of_final = len(ids)
            if weight > 0:
                labels += toks
                weights += [weight] * len(toks)
            else:
                piece_labels = [IGNORE_INDEX] * len(toks)
                piece_weights = [0.0] * len(toks)
                if previous > 0 and toks[0] in self.end_ids:  # end-of-turn token outside the trained span
                    piece_labels[0], piece_weights[0] = toks[0], previous
                labels += piece_labels
                weights += piece_weights
            ids += toks
            previous = weight
        return (*self._truncate(ids, labels, weights, start_of_final), None)

    def _truncate(self, ids: list[int], labels: list[int], weights: list[float], start: int | None
                  ) -> tuple[list[int], list[int], list[float]]:
        """Cut to cutoff_len: the answer keeps its head, the prompt loses its oldest tokens first."""
        cutoff = self.config.cutoff_len
        if len(ids) <= cutoff:
            return ids, labels, weights
        start = len(ids) if start is None else start
        source, target = start, len(ids) - start
        keep_source, keep_target = infer_seqlen(source, target, cutoff)
        lo, hi = source - keep_source, start + keep_target
        return ids[lo:hi], labels[lo:hi], weights[lo:hi]
