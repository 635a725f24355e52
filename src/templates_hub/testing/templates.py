"""Conformance checks for chat templates (slot, Jinja, or any object with ``render``).

``check_template`` renders the built-in conversation battery and checks what training relies on:

- ``renders``: every case renders into pieces (text + trainable flag) without error;
- ``picklable``: the template survives ``pickle`` (``datasets.map(num_proc=N)`` ships it to workers) and
  renders the same afterwards;
- ``prefix_stable``: the inference prompt (the conversation up to an assistant message, with the
  generation prompt) is a prefix of the full rendering, so a model trained on it sees at inference
  exactly the text it was trained on;
- ``assistant_trained``: every assistant message has trained tokens;
- ``end_of_turn_trained``: after preprocessing (the ``supervised`` preprocessor), every answer's
  end-of-turn token (eos or a stop word) is trained, otherwise the model never learns to stop;
- ``to_jinja_round_trip``: the template's Hugging Face form (``to_jinja()``, saved with a trained
  model) renders the same text, and for slot templates the same trained characters through
  ``{% generation %}`` blocks;
- ``matches_tokenizer`` (only with ``reference_tokenizer``): the rendering equals that tokenizer's own
  ``chat_template`` for every case it accepts.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Iterable
from typing import Any

from ..errors import TemplatesHubError
from .report import ConformanceReport, describe_exception, first_difference, short

TEMPLATE_CHECKS: tuple[str, ...] = (
    "renders", "picklable", "prefix_stable", "assistant_trained", "end_of_turn_trained", "to_jinja_round_trip",
    "matches_tokenizer",
)

#: battery features a template may legitimately not support (it should then refuse them with a TemplateError)
OPTIONAL_FEATURES: frozenset[str] = frozenset({
    "tools", "tool_calls", "parallel_tool_calls", "tool_call_text", "reasoning", "inline_reasoning",
})


def _resolve(template: Any, tokenizer: Any) -> tuple[Any, str | None]:
    """The template object, and the plugin that registered it when it was given by name."""
    from ..templates import get_template

    plugin = None
    if isinstance(template, str) and not template.endswith((".yaml", ".yml", ".jinja", ".j2", ".jinja2")) \
            and template != "tokenizer":
        from ..plugins import get_registry

        registry = get_registry("templates")
        if template in registry:
            plugin = registry.entry(template).plugin
    if isinstance(template, (str, os.PathLike)):
        template = get_template(template, tokenizer=tokenizer)
    return template, plugin


def _text(template: Any, row: dict[str, Any], tokens: Any, options: Any) -> str:
    from ..templates.preview import rendered_string

    return rendered_string(template, row, tokens, options)


def _trained_text(pieces: list[Any]) -> str:
    return "".join(p.text for p in pieces if p.trainable)


def check_template(template: Any, *, plugin: str | None = None, tokenizer: Any = None,
                   reference_tokenizer: Any = None, skip_features: Iterable[str] = (),
                   cases: list[str] | None = None, checks: Iterable[str] | None = None,
                   options: Any = None) -> ConformanceReport:
    """Check ``template`` (an object, a registered name, or a .yaml / .jinja path) against the battery.

    - ``tokenizer``: what to tokenize with (an object, a directory or ``"tiny"``); default: the tiny
      offline tokenizer plus the template's own special tokens. The template's special-token rules
      (``fix_tokenizer``) are applied to a copy first.
    - ``reference_tokenizer``: also compare every case with this tokenizer's own ``chat_template``.
    - ``skip_features``: battery features the template does not support (``tools``, ``reasoning``, ...).
    - ``cases``: only these battery cases; ``checks``: only these checks (``TEMPLATE_CHECKS``).
    - ``options``: ``RenderOptions`` to render with (default options otherwise).

    Returns a ``ConformanceReport``; call ``.raise_for_failures()`` to turn failures into an assertion.
    """
    from ..templates.base import Piece, RenderOptions, SpecialTokens
    from ..templates.battery import FEATURES, battery
    from .tokenizers import tokenizer_for

    wanted = set(TEMPLATE_CHECKS if checks is None else checks)
    unknown = wanted - set(TEMPLATE_CHECKS)
    if unknown:
        raise ValueError(f"unknown template check(s) {', '.join(sorted(unknown))}; known: {', '.join(TEMPLATE_CHECKS)}")
    skip = set(skip_features)
    if skip - set(FEATURES):
        raise ValueError(f"unknown battery feature(s) {', '.join(sorted(skip - set(FEATURES)))}; "
                         f"known: {', '.join(FEATURES)}")
    name = getattr(template, "name", None) or str(template)
    try:
        resolved, registered_by = _resolve(template, tokenizer)
    except TemplatesHubError as exc:
        report = ConformanceReport("template", str(name), plugin)
        report.fail("renders", f"cannot load the template: {exc}")
        return report
    report = ConformanceReport("template", str(getattr(resolved, "name", name)), plugin or registered_by)
    if not callable(getattr(resolved, "render", None)):
        report.fail("renders", f"{resolved!r} has no render(conversation, tokens, options) method")
        return report
    try:
        tok = tokenizer_for(resolved, tokenizer)
    except TemplatesHubError as exc:
        report.fail("renders", f"cannot prepare the tokenizer for this template: {exc}")
        return report
    tokens = SpecialTokens.from_tokenizer(tok)
    opts = options or RenderOptions()
    try:
        selected = battery(exclude=skip, names=cases)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    if skip:
        report.note(f"battery features skipped: {', '.join(sorted(skip))}")

    rendered: dict[str, list[Any]] = {}
    report.ran("renders")
    for case in selected:
        try:
            pieces = resolved.render(case.row(), tokens, opts)
        except Exception as exc:  # a plugin's bug must be reported, not crash the whole check
            optional = sorted(case.features & OPTIONAL_FEATURES)
            hint = (f"; if the template does not support {' / '.join(optional)} on purpose, skip those cases "
                    f"(skip_features={set(optional)!r})" if optional and isinstance(exc, TemplatesHubError) else "")
            report.fail("renders", f"render() raised {describe_exception(exc)}{hint}", case.name)
            continue
        if not isinstance(pieces, list) or not all(isinstance(p, Piece) for p in pieces):
            report.fail("renders", f"render() must return a list of templates_hub.Piece, got {type(pieces).__name__}",
                        case.name)
            continue
        if not "".join(p.text for p in pieces):
            report.fail("renders", "render() returned no text", case.name)
            continue
        rendered[case.name] = pieces
    by_name = {c.name: c for c in selected}

    if "picklable" in wanted and rendered:
        _check_pickle(report, resolved, by_name[next(iter(rendered))], rendered, tokens, opts)
    if "prefix_stable" in wanted:
        _check_prefixes(report, resolved, [by_name[n] for n in rendered], tokens, opts)
    if ("assistant_trained" in wanted or "end_of_turn_trained" in wanted) and rendered:
        label = "the tiny offline tokenizer" if tokenizer is None else \
            f"tokenizer {getattr(tok, 'name_or_path', '') or tokenizer!s}"
        _check_training(report, resolved, tok, label, [by_name[n] for n in rendered], rendered, wanted)
    if "to_jinja_round_trip" in wanted and rendered:
        _check_to_jinja(report, resolved, [by_name[n] for n in rendered], rendered, tokens, opts)
    if "matches_tokenizer" in wanted and reference_tokenizer is not None:
        _check_reference(report, resolved, reference_tokenizer, selected, opts)
    elif "matches_tokenizer" in wanted and checks is not None:
        report.note("matches_tokenizer: no reference_tokenizer given, not checked")
    return report


def _check_pickle(report: ConformanceReport, template: Any, case: Any, rendered: dict[str, list[Any]], tokens: Any,
                  options: Any) -> None:
    report.ran("picklable")
    try:
        copy = pickle.loads(pickle.dumps(template))
    except Exception as exc:
        report.fail("picklable", f"cannot be pickled ({describe_exception(exc)}); datasets.map(num_proc=N) pickles "
                                 "the template to send it to worker processes")
        return
    try:
        again = copy.render(case.row(), tokens, options)
    except Exception as exc:
        report.fail("picklable", f"the unpickled template cannot render: {describe_exception(exc)}", case.name)
        return
    if again != rendered[case.name]:
        report.fail("picklable", "the unpickled template renders different pieces", case.name)


def _check_prefixes(report: ConformanceReport, template: Any, cases: list[Any], tokens: Any, options: Any) -> None:
    report.ran("prefix_stable")
    prompt_options = dataclasses.replace(options, add_generation_prompt=True)
    for case in cases:
        row = case.row()
        try:
            full = _text(template, row, tokens, options)
        except Exception as exc:
            report.fail("prefix_stable", f"cannot render the conversation: {describe_exception(exc)}", case.name)
            continue
        for k, message in enumerate(row["messages"]):
            if message["role"] != "assistant":
                continue
            prompt_row = {**row, "messages": row["messages"][:k]}
            try:
                prompt = _text(template, prompt_row, tokens, prompt_options)
            except Exception as exc:
                report.fail("prefix_stable", f"cannot render messages[:{k}] with the generation prompt: "
                                             f"{describe_exception(exc)}", case.name)
                break
            if not full.startswith(prompt):
                at = first_difference(prompt, full)
                report.fail(
                    "prefix_stable",
                    f"the inference prompt for messages[{k}] (messages[:{k}] + generation prompt) is not a prefix of "
                    f"the full rendering: they differ at character {at} ({short(prompt[at:])} vs {short(full[at:])}); "
                    "a model trained on the full text would see a different prompt at inference",
                    case.name,
                )
                break


def _end_ids(template: Any, tokenizer: Any, tokens: Any) -> tuple[set[int], list[str]]:
    """Token ids that end an answer (the effective eos and stop words) and the strings they stand for."""
    strings = [template.effective_eos(tokens) if callable(getattr(template, "effective_eos", None)) else None]
    strings += list(getattr(template, "stop_words", None) or ())
    ids: set[int] = set()
    named: list[str] = []
    unk = getattr(tokenizer, "unk_token_id", None)
    for token in strings:
        if not token:
            continue
        idx = tokenizer.convert_tokens_to_ids(token)
        if isinstance(idx, int) and (idx != unk or token == getattr(tokenizer, "unk_token", None)):
            ids.add(idx)
            if token not in named:
                named.append(token)
    return ids, named


def _check_training(report: ConformanceReport, template: Any, tokenizer: Any, label: str, cases: list[Any],
                    rendered: dict[str, list[Any]], wanted: set[str]) -> None:
    from ..preprocess.encode import TokenizerEngine

    engine = TokenizerEngine(tokenizer)
    try:
        encoded = engine.encode_pieces([rendered[c.name] for c in cases])
    except TemplatesHubError as exc:
        for check in ("assistant_trained", "end_of_turn_trained"):
            if check in wanted:
                report.fail(check, f"the pieces cannot be tokenized: {exc}")
        return
    if "assistant_trained" in wanted:
        report.ran("assistant_trained")
        for case, enc in zip(cases, encoded, strict=True):
            _assistant_trained(report, case, rendered[case.name], enc)
    if "end_of_turn_trained" in wanted:
        _end_of_turn(report, template, tokenizer, label, cases)


def _assistant_trained(report: ConformanceReport, case: Any, pieces: list[Any], enc: Any) -> None:
    messages = case.conversation["messages"]
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    trained: dict[int | None, int] = {}
    turns: set[int] = set()
    for k, piece in enumerate(pieces):
        n = len(enc.piece_ids(k))
        if piece.trainable and n:
            trained[piece.message] = trained.get(piece.message, 0) + n
            turns.add(piece.turn)
    if any(p.message is not None for p in pieces):  # the template says which message each piece renders
        for i in assistants:
            if not trained.get(i):
                report.fail("assistant_trained", f"messages[{i}] (assistant) has no trained token", case.name)
        return
    if len(turns) < len(_responses(messages)):
        report.fail("assistant_trained", f"{len(_responses(messages))} answer(s) but trained tokens in only "
                                         f"{len(turns)} turn(s)", case.name)


def _responses(messages: list[dict[str, Any]]) -> list[int]:
    """Indexes of the assistant messages that end a response (consecutive assistant messages count once)."""
    return [i for i, m in enumerate(messages) if m["role"] == "assistant"
            and (i + 1 == len(messages) or messages[i + 1]["role"] != "assistant")]


def _end_of_turn(report: ConformanceReport, template: Any, tokenizer: Any, label: str, cases: list[Any]) -> None:
    from ..preprocess.config import PreprocessConfig
    from ..preprocess.supervised import SupervisedPreprocessor
    from ..templates.base import SpecialTokens
    from .rows import as_batch

    report.ran("end_of_turn_trained")
    ids, named = _end_ids(template, tokenizer, SpecialTokens.from_tokenizer(tokenizer))
    if not ids:
        report.fail("end_of_turn_trained", f"the template's end-of-turn token (eos or a stop word) is not a single "
                                           f"token of {label}, so the model cannot learn to stop")
        return
    config = PreprocessConfig(cutoff_len=1_000_000, drop_untrained=False, media_columns=False)
    try:
        proc = SupervisedPreprocessor(template=template, tokenizer=tokenizer, config=config, accounting=True)
        out = proc(as_batch([{**c.row(), "_row": i + 1} for i, c in enumerate(cases)]))
    except Exception as exc:
        report.fail("end_of_turn_trained", f"the supervised preprocessor cannot use this template: "
                                           f"{describe_exception(exc)}")
        return
    for case, labels, drop in zip(cases, out["labels"], out["_drop"], strict=True):
        if drop is not None:
            report.fail("end_of_turn_trained", f"the supervised preprocessor dropped the row: {drop}", case.name)
            continue
        n_end = sum(1 for label in labels if label in ids)
        expected = len(_responses(case.conversation["messages"]))
        if n_end < expected:
            report.fail("end_of_turn_trained",
                        f"{expected} answer(s) but the end-of-turn token ({' / '.join(named)}) is trained "
                        f"{n_end} time(s) with {label}: the model would not learn to stop after every answer",
                        case.name)


def _check_to_jinja(report: ConformanceReport, template: Any, cases: list[Any], rendered: dict[str, list[Any]],
                    tokens: Any, options: Any) -> None:
    from ..templates.jinja_template import JinjaTemplate

    report.ran("to_jinja_round_trip")
    to_jinja = getattr(template, "to_jinja", None)
    if not callable(to_jinja):
        report.fail("to_jinja_round_trip", "the template has no to_jinja() method, so a trained model's tokenizer "
                                           "cannot carry its chat format")
        return
    is_slot = getattr(template, "kind", None) == "slot"
    try:
        jinja = JinjaTemplate(to_jinja(), name=f"{template.name} (to_jinja)")
        tagged = JinjaTemplate(to_jinja(generation_tags=True), name=f"{template.name} (to_jinja, generation tags)") \
            if is_slot else None
    except Exception as exc:
        report.fail("to_jinja_round_trip", f"to_jinja() does not give a usable Jinja template: {describe_exception(exc)}")
        return
    for case in cases:
        row = case.row()
        expected = "".join(p.text for p in rendered[case.name])
        try:
            actual = jinja.render_text(row, tokens, options)[0]
        except Exception as exc:
            report.fail("to_jinja_round_trip", f"the Jinja form cannot render: {describe_exception(exc)}", case.name)
            continue
        if actual != expected:
            at = first_difference(expected, actual)
            report.fail("to_jinja_round_trip", f"the Jinja form renders different text from character {at}: "
                                               f"{short(actual[at:])} instead of {short(expected[at:])}", case.name)
            continue
        if tagged is None:
            continue
        try:
            trained = _trained_text(tagged.render(row, tokens, options))
        except Exception as exc:
            report.fail("to_jinja_round_trip", f"the Jinja form with generation tags cannot render: "
                                               f"{describe_exception(exc)}", case.name)
            continue
        own = _trained_text(rendered[case.name])
        if trained != own:
            at = first_difference(own, trained)
            report.fail("to_jinja_round_trip", f"the Jinja form's {{% generation %}} blocks mark different trained text "
                                               f"from character {at}: {short(trained[at:])} instead of "
                                               f"{short(own[at:])}", case.name)


def _check_reference(report: ConformanceReport, template: Any, reference_tokenizer: Any, cases: list[Any],
                     options: Any) -> None:
    from ..templates.base import SpecialTokens
    from ..templates.jinja_template import JinjaTemplate
    from ..templates.preview import check_against
    from ..tokenizer import load_tokenizer

    report.ran("matches_tokenizer")
    try:
        ref_tok = load_tokenizer(reference_tokenizer)
        reference = JinjaTemplate.from_tokenizer(ref_tok)
    except TemplatesHubError as exc:
        report.fail("matches_tokenizer", str(exc))
        return
    extra = dict(options.extra)
    extra.setdefault("date_string", "26 Jul 2024")
    opts = dataclasses.replace(options, extra=extra)
    for result in check_against(template, reference, cases, tokens=SpecialTokens.from_tokenizer(ref_tok),
                                options=opts):
        if result.status == "differs":
            at = first_difference(result.expected, result.actual)
            report.fail("matches_tokenizer", f"differs from {reference.name} at character {at}: "
                                             f"{short(result.actual[at:])} instead of {short(result.expected[at:])}",
                        result.case)
        elif result.status == "error":
            report.fail("matches_tokenizer", f"cannot render a case {reference.name} accepts: {result.message}",
                        result.case)
        elif result.status == "refused":
            report.note(f"case {result.case}: {reference.name} refuses it ({result.message}); not compared")
