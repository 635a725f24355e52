"""The supervised (SFT) preprocessor: LLaMA-Factory's ``SupervisedDatasetProcessor``, batched.

For each row: render the conversation into pieces, encode the whole batch in one call, then per turn
(prompt = source, response = target) apply the label rules and LLaMA-Factory's truncation:

- source tokens are labelled -100 (``train_on_prompt``: their own ids);
- target tokens are labelled with their ids; ``mask_history`` masks every target but the last turn's;
- a message's ``train`` field (True / False) overrides both for that message's tokens;
- an end-of-turn token (the eos or a stop word) right after trained response tokens is trained even
  when the template leaves it outside its trainable span (e.g. a Jinja ``{% generation %}`` block
  that stops before ``<|im_end|>``); slot templates always write it inside the assistant slot, as
  LLaMA-Factory does, so the rule never changes their labels;
- ``efficient_eos`` templates (glm4 ...): the first token of every later prompt is labelled with the
  eos id (LLaMA-Factory's trick to train the end of the previous answer without an eos in the input;
  with ``mask_history`` the turns are counted from the last one, as LLaMA-Factory does) and one eos closes
  the row, in both input ids and labels;
- turns are truncated in order (last turn first with ``mask_history``) with ``infer_seqlen`` until
  ``cutoff_len`` is used up.

A row left without a trained token is dropped with its reason (LLaMA-Factory would keep it with all
labels -100, which only wastes compute); ``drop_untrained: false`` keeps it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import TemplatesHubError
from ..templates.base import Piece
from .base import Preprocessor, media_features
from .encode import EncodedRow
from .seqlen import IGNORE_INDEX, infer_seqlen

_IGN = IGNORE_INDEX


def label_row(pieces: list[Piece], enc: EncodedRow, messages: list[dict[str, Any]], *, train_on_prompt: bool,
              mask_history: bool, end_ids: frozenset[int]) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Label every token of a rendered row and find its turns (rules in the module docstring).

    Returns the labels (aligned with ``enc.ids``) and one ``(start, target_start, end)`` triple per turn:
    the turn's tokens are ``ids[start:end]``, its source ``ids[start:target_start]``. A turn's target
    starts at its first trainable piece; everything before it (system, user message, headers, an empty
    thought the template put on the prompt side) is source.
    """
    ids = enc.ids
    bounds = enc.bounds
    labels: list[int] = []
    turns: list[tuple[int, int, int]] = []
    last_turn = pieces[-1].turn if pieces else 0
    n_messages = len(messages)
    cur_index: int | None = None
    start = target = 0
    in_target = False
    response_flag: bool | None = None
    prev_trained = False
    for k, p in enumerate(pieces):
        if p.turn != cur_index:
            if cur_index is not None:
                turns.append((start, target if in_target else bounds[k], bounds[k]))
            cur_index = p.turn
            start = bounds[k]
            in_target = False
            response_flag = None
        flag = None
        if p.message is not None and 0 <= p.message < n_messages:
            flag = messages[p.message].get("train")
        if not in_target and p.trainable:
            in_target = True
            target = bounds[k]
            response_flag = flag
        a, b = bounds[k], bounds[k + 1]
        if a == b:
            continue
        if in_target:
            if flag is None:
                flag = response_flag
            if flag is not None:
                trained = flag
            elif mask_history and p.turn != last_turn:
                trained = False
            else:
                trained = p.trainable
        else:
            trained = flag if flag is not None else train_on_prompt
        if trained:
            labels += ids[a:b]
        else:
            if prev_trained and ids[a] in end_ids:  # the end token a template left outside its trained span
                labels.append(ids[a])
                labels += [_IGN] * (b - a - 1)
            else:
                labels += [_IGN] * (b - a)
        prev_trained = trained
    if cur_index is not None:
        end = len(ids)
        turns.append((start, target if in_target else end, end))
    return labels, turns


def truncate_row(ids: list[int], labels: list[int], turns: list[tuple[int, int, int]], *, cutoff_len: int,
                 mask_history: bool, efficient_eos: bool, train_on_prompt: bool,
                 eos_id: int | None) -> tuple[list[int], list[int], int]:
    """LLaMA-Factory's turn-by-turn truncation; returns (input_ids, labels, trained tokens kept).

    Turns are taken in order (last first with ``mask_history``) while budget remains, each cut with
    ``infer_seqlen``. A row that fits is returned as is (no turn is cut then: ``infer_seqlen`` keeps
    both sides whole whenever they fit). The trained count leaves out the efficient_eos labels (the
    closing eos and the eos labels on later prompts), which are there whatever the content.
    """
    extra = 1 if efficient_eos else 0
    quirk = efficient_eos and not train_on_prompt
    if len(ids) + extra <= cutoff_len:
        out_labels = labels
        trained = len(labels) - labels.count(_IGN)
        if quirk and len(turns) > 1:
            out_labels = list(labels)
            first = len(turns) - 1 if mask_history else 0  # the turn LLaMA-Factory processes first
            for idx, (start, target, _) in enumerate(turns):
                if idx != first and target > start:
                    if out_labels[start] != _IGN:
                        trained -= 1
                    out_labels[start] = eos_id  # type: ignore[call-overload]
        if efficient_eos:
            return ids + [eos_id], out_labels + [eos_id], trained  # type: ignore[list-item]
        return ids, out_labels, trained
    total = extra
    order = turns[::-1] if mask_history else turns
    parts_ids: list[list[int]] = []
    parts_labels: list[list[int]] = []
    trained = 0
    for idx, (start, target, end) in enumerate(order):
        if total >= cutoff_len:
            break
        sl, tl = infer_seqlen(target - start, end - target, cutoff_len - total)
        src_labels = labels[start : start + sl]
        tgt_labels = labels[target : target + tl]
        trained += sl + tl - src_labels.count(_IGN) - tgt_labels.count(_IGN)
        if quirk and idx != 0 and sl > 0:
            if src_labels[0] != _IGN:
                trained -= 1
            src_labels[0] = eos_id  # type: ignore[call-overload]
        total += sl + tl
        parts_ids.append(ids[start : start + sl] + ids[target : target + tl])
        parts_labels.append(src_labels + tgt_labels)
    if mask_history:
        parts_ids.reverse()
        parts_labels.reverse()
    input_ids = [t for part in parts_ids for t in part]
    out = [t for part in parts_labels for t in part]
    if efficient_eos:
        input_ids.append(eos_id)  # type: ignore[arg-type]
        out.append(eos_id)  # type: ignore[arg-type]
    return input_ids, out, trained


def untrained_reason(labels: list[int], cutoff_len: int) -> str:
    """Why a row has no trained token left: truncation or masking."""
    before = len(labels) - labels.count(_IGN)
    if before:
        return f"all {before} trained tokens were truncated away (cutoff_len={cutoff_len})"
    return "no trained tokens (every response is masked)"


class SupervisedPreprocessor(Preprocessor):
    """Supervised fine-tuning rows: input_ids, attention_mask, labels (prompt tokens -100)."""

    name: ClassVar[str] = "supervised"
    description: ClassVar[str] = (
        "SFT rows: prompt tokens labelled -100, multi-turn, train_on_prompt, mask_history, per-message train, "
        "efficient_eos, LLaMA-Factory truncation; packing with packing: true."
    )
    input_kind: ClassVar[str] = "sft"
    stage: ClassVar[str] = "sft"

    def check(self) -> None:
        if self.template is None:
            raise TemplatesHubError("the supervised preprocessor needs a chat template (recipe `template:`)")
        if getattr(self.template, "efficient_eos", False):
            if self.config.train_on_prompt:
                raise TemplatesHubError(
                    f"template {self.template.name!r} uses efficient_eos, which cannot be combined with "
                    "train_on_prompt (LLaMA-Factory refuses it too): set preprocess.train_on_prompt: false"
                )
            if self.eos_id is None:
                raise TemplatesHubError("efficient_eos needs a tokenizer with an eos token (run fix_tokenizer first)")
        ids: set[int] = set()
        stop_words = tuple(getattr(self.template, "stop_words", ()) or ())
        for token in (self.template.effective_eos(self.tokens), *stop_words):
            if token:
                idx = self.tokenizer.convert_tokens_to_ids(token)
                if isinstance(idx, int) and idx != getattr(self.tokenizer, "unk_token_id", None):
                    ids.add(idx)
        if self.eos_id is not None:
            ids.add(self.eos_id)
        # slot templates (LLaMA-Factory semantics) put the end token inside the assistant slot themselves;
        # the end-token rule is for Jinja / tokenizer templates whose trainable span may stop before it
        self.end_ids = frozenset(ids) if getattr(self.template, "kind", None) != "slot" else frozenset()
        self.cutoff_len = self.config.cutoff_len
        self.efficient_eos = bool(getattr(self.template, "efficient_eos", False))

    def features(self) -> Any:
        from datasets import Features, List, Value

        feats = {"input_ids": List(Value("int32")), "attention_mask": List(Value("int8")),
                 "labels": List(Value("int64"))}
        if self.media:
            feats.update(media_features())
        return Features(feats)

    def encode_rows(self, batch: dict[str, list[Any]]) -> list[tuple[list[int], list[int], int, str | None]]:
        """(input_ids, labels, trained tokens, drop reason) per row; the packer reuses this."""
        options = self.options("multiturn")
        rows = self._rows(batch, ("messages", "tools", "_row"))
        rendered: list[list[Piece] | None] = []
        errors: dict[int, str] = {}
        for i, row in enumerate(rows):
            try:
                pieces = self.render(row, options)
            except TemplatesHubError as exc:
                errors[i] = f"cannot render: {exc}"
                rendered.append(None)
                continue
            rendered.append(pieces)
        ok = [i for i, r in enumerate(rendered) if r is not None]
        encoded = self.engine.encode_pieces([rendered[i] for i in ok], self.config.tokenization)  # type: ignore[misc]
        results: list[tuple[list[int], list[int], int, str | None]] = [([], [], 0, errors.get(i)) for i in range(len(rows))]
        cfg = self.config
        cutoff = self.cutoff_len
        for i, enc in zip(ok, encoded, strict=False):
            labels, turns = label_row(rendered[i], enc, rows[i]["messages"] or [],  # type: ignore[arg-type]
                                      train_on_prompt=cfg.train_on_prompt, mask_history=cfg.mask_history,
                                      end_ids=self.end_ids)
            input_ids, out_labels, trained = truncate_row(
                enc.ids, labels, turns, cutoff_len=cutoff, mask_history=cfg.mask_history,
                efficient_eos=self.efficient_eos, train_on_prompt=cfg.train_on_prompt, eos_id=self.eos_id)
            reason = None
            if trained == 0 and cfg.drop_untrained:
                reason = untrained_reason(labels, cutoff)
            results[i] = (input_ids, out_labels, trained, reason)
        return results

    def process(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out = self._new_output(("input_ids", "attention_mask", "labels"))
        results = self.encode_rows(batch)
        row_numbers = self._row_numbers(batch, len(results))
        for (input_ids, labels, trained, reason), row in zip(results, row_numbers, strict=False):
            if reason is not None:
                input_ids, labels = [], []
            self._emit(out, {"input_ids": input_ids, "attention_mask": None, "labels": labels},
                       row, reason, len(input_ids), trained)
        return out
