"""Template commands: ``render``, ``check-template`` and ``template to-jinja / show``.

Thin layers over ``templates_hub.templates`` (``get_template``, ``preview.render_samples``,
``preview.check_against``, ``SlotTemplate.to_jinja``) and ``templates_hub.tokenizer.load_tokenizer``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import TemplateError, UsageError
from . import main

_KINDS = ("sft", "preference", "kto", "text")


def parse_rows(spec: str | None) -> tuple[int, int | None]:
    """``"0:3"`` -> (0, 3); ``"5"`` -> (5, 6); ``"2:"`` -> (2, None); None -> (0, 3). Indexes are 0-based."""
    if spec is None:
        return 0, 3
    try:
        if ":" in spec:
            start_text, _, stop_text = spec.partition(":")
            start = int(start_text) if start_text.strip() else 0
            stop = int(stop_text) if stop_text.strip() else None
        else:
            start = int(spec)
            stop = start + 1
    except ValueError:
        raise UsageError(f"--rows {spec!r}: expected START:STOP (0-based, e.g. 0:3), or one index") from None
    if start < 0 or (stop is not None and stop <= start):
        raise UsageError(f"--rows {spec!r}: expected 0 <= START < STOP")
    return start, stop


def _render_options(enable_thinking: str, preserve_thinking: bool, mask_history: bool, default_system: str | None,
                    tool_format: str | None, date_string: str | None, generation_prompt: bool = False) -> Any:
    from ..templates import RenderOptions

    thinking = {"on": True, "off": False, "none": None}[enable_thinking]
    extra = {"date_string": date_string} if date_string else {}
    return RenderOptions(enable_thinking=thinking, preserve_thinking=preserve_thinking, mask_history=mask_history,
                         default_system=default_system, tool_format=tool_format, extra=extra,
                         add_generation_prompt=generation_prompt)


def _render_option_flags(func: Any) -> Any:
    """The options every rendering command shares (LLaMA-Factory's data arguments of the same names)."""
    options = [
        click.option("--enable-thinking", type=click.Choice(["on", "off", "none"]), default="on", show_default=True,
                     help="Reasoning templates: 'on' trains an empty thought on answers without one, 'off' strips "
                          "thoughts and masks the empty one, 'none' keeps thoughts and masks the empty one."),
        click.option("--preserve-thinking", is_flag=True, help="Reasoning templates: keep history chain-of-thought."),
        click.option("--mask-history", is_flag=True, help="Train on the last turn only (changes reasoning templates' CoT)."),
        click.option("--default-system", metavar="TEXT", help="Replace the template's default system prompt."),
        click.option("--tool-format", metavar="NAME", help="Override the template's tool format (default, qwen, llama3, glm4, mistral)."),
        click.option("--date-string", metavar="DATE", help="Date written by templates that show one (e.g. '26 Jul 2024')."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _tokens(tokenizer: Any, template: Any) -> Any:
    from ..templates import SpecialTokens, fix_tokenizer

    fix_tokenizer(tokenizer, template)  # LLaMA-Factory fixes eos / pad / stop words before it encodes
    return SpecialTokens.from_tokenizer(tokenizer)


@main.command("render")
@click.argument("data")
@click.option("--template", "-t", "template_spec", required=True, metavar="T",
              help="A template name (`templates-hub list templates`), a .yaml / .jinja file, or 'tokenizer'.")
@click.option("--tokenizer", "tokenizer_spec", required=True, metavar="DIR",
              help="Tokenizer directory, hub id, or 'tiny' (its bos/eos fill the template's special tokens).")
@click.option("--format", "-f", "format_name", metavar="FORMAT", help="Input format (default: detected).")
@click.option("--kind", "-k", type=click.Choice(_KINDS), help="Row kind (default: decided by the format and data).")
@click.option("--rows", "rows_spec", metavar="START:STOP", help="Rows to show, 0-based, STOP excluded [default: 0:3].")
@click.option("--ids", is_flag=True,
              help="Also show the token ids, listed under 'trained' / 'masked' (label -100) per span.")
@click.option("--tokenization", type=click.Choice(["segments", "whole"]), default="segments", show_default=True,
              help="segments: each piece encoded alone (LLaMA-Factory's ids); whole: the text encoded once.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines (one per row) instead of coloured text.")
@_render_option_flags
def render_command(data: str, template_spec: str, tokenizer_spec: str, format_name: str | None, kind: str | None,
                   rows_spec: str | None, ids: bool, tokenization: str, as_json: bool, enable_thinking: str,
                   preserve_thinking: bool, mask_history: bool, default_system: str | None, tool_format: str | None,
                   date_string: str | None) -> None:
    """Show how a template renders rows of DATA: trained text in green, masked text dimmed.

    DATA is any file `validate` reads (alpaca, sharegpt, openai, preference, kto, text). Per-message
    `train` flags are applied; train_on_prompt and truncation are preprocessing settings and are not.

    \b
    Example:
      templates-hub render data.json --template qwen --tokenizer ./qwen2.5 --rows 0:2 --ids
    """
    from ..io import load_canonical
    from ..templates import get_template
    from ..templates.preview import encode_samples, render_samples
    from ..tokenizer import load_tokenizer

    start, stop = parse_rows(rows_spec)
    tokenizer = load_tokenizer(tokenizer_spec)
    template = get_template(template_spec, tokenizer=tokenizer)
    tokens = _tokens(tokenizer, template)
    options = _render_options(enable_thinking, preserve_thinking, mask_history, default_system, tool_format,
                              date_string)
    loaded = load_canonical(data, format=format_name, kind=kind, max_rows=stop)
    dataset = loaded.dataset
    total = len(dataset)
    if start >= total:
        raise UsageError(f"--rows {rows_spec}: {data} has only {total} valid row(s)")
    console = None
    if not as_json:
        from rich.console import Console

        console = Console(highlight=False)
        how = "detected" if loaded.detected else "given"
        console.print(f"[bold]{data}[/bold]: format {loaded.format} ({how}), kind {loaded.kind}, "
                      f"template {template.name}, tokenizer {tokenizer_spec}", style="cyan", soft_wrap=_plain(console))
        if loaded.rejects:
            console.print(f"{len(loaded.rejects)} row(s) could not be read (see `templates-hub validate {data}`)",
                          style="yellow")
    for index in range(start, min(stop if stop is not None else total, total)):
        row = dataset[index]
        samples = render_samples(template, row, kind=loaded.kind, tokens=tokens, options=options)
        if ids:
            encode_samples(samples, tokenizer, mode=tokenization)
        if as_json:
            click.echo(json.dumps({"index": index, "row": row.get("_row"), "samples": [s.to_dict() for s in samples]},
                                  ensure_ascii=False))
        else:
            _print_samples(console, index, row.get("_row"), samples, tokenizer if ids else None)


def _spans(sample: Any) -> list[tuple[bool, str, list[int]]]:
    """Consecutive pieces with the same trained flag, merged: (trained, text, token ids)."""
    spans: list[tuple[bool, str, list[int]]] = []
    for k, piece in enumerate(sample.pieces):
        ids = list(sample.ids[sample.bounds[k]:sample.bounds[k + 1]]) if sample.ids is not None else []
        if spans and spans[-1][0] == piece.trainable:
            trained, text, previous = spans[-1]
            spans[-1] = (trained, text + piece.text, previous + ids)
        else:
            spans.append((piece.trainable, piece.text, ids))
    return spans


def _plain(console: Any) -> bool:
    """Whether colour cannot carry the trained / masked distinction (piped output, NO_COLOR, dumb terminal)."""
    return not console.is_terminal or console.no_color or console.color_system is None


def _print_samples(console: Any, index: int, source_row: Any, samples: list[Any], tokenizer: Any) -> None:
    """Each sample's text (trained green, masked dimmed) and, with --ids, its ids per trained / masked span.

    Colour alone cannot survive a pipe, so the ids are always listed under ``trained`` / ``masked``
    labels, and plain output (not a colour terminal) also lists the text span by span, each as a JSON
    string (newlines and trailing spaces visible).
    """
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    plain = _plain(console)
    where = f"row {index}" + (f" (line/row {source_row} of the file)" if source_row is not None else "")
    for sample in samples:
        console.print(Rule(where + (f" - {sample.label}" if sample.label else ""), style="blue"))
        text = Text()
        for piece in sample.pieces:
            style = "green" if piece.trainable else "grey50"
            if piece.special:
                style += " bold"
            text.append(piece.text, style=style)
        console.print(text, soft_wrap=plain)  # plain: the exact text, not re-wrapped at the console width
        spans = _spans(sample)
        if plain:
            console.print("spans (trained = in the loss, masked = label -100):")
            for trained, span_text, _ in spans:
                console.print(Text(f"  {'trained' if trained else 'masked':8}", style="green" if trained else "grey50")
                              .append(json.dumps(span_text, ensure_ascii=False)), soft_wrap=True)
        if sample.ids is not None:
            trained_count = sum(1 for label in sample.labels if label != -100)
            console.print(f"{len(sample.ids)} tokens, {trained_count} trained", style="cyan")
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column()
            for trained, _, ids in spans:
                if not ids:
                    continue
                style = "green" if trained else "grey50"
                label, line = f"  {'trained' if trained else 'masked'}", " ".join(map(str, ids))
                if plain:  # one line per span: greppable, and no continuation line without its label
                    console.print(Text(f"{label:9} ", style=style).append(line, style=style), soft_wrap=True)
                else:
                    grid.add_row(Text(label, style=style), Text(line, style=style))
            if grid.row_count:
                console.print(grid)
    legend = Text("legend: ", style="bold").append("trained", style="green").append(" (in the loss)  ")
    console.print(legend.append("masked", style="grey50").append(" (label -100)"))


def _has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries a chat template (a string, or named templates with at least one)."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        return any(template.values())
    if isinstance(template, list):
        return any(isinstance(t, dict) and t.get("template") for t in template)
    return bool(template)


@main.command("check-template")
@click.argument("template_spec", metavar="T")
@click.option("--tokenizer", "tokenizer_spec", required=True, metavar="DIR",
              help="Tokenizer directory or hub id whose own chat_template is the reference.")
@click.option("--case", "cases", multiple=True, metavar="NAME", help="Only these battery cases (repeatable).")
@click.option("--skip", "skip", multiple=True, metavar="FEATURE",
              help="Skip cases exercising FEATURE (tools, tool_calls, reasoning, system, ...; repeatable).")
@click.option("--generation-prompt", is_flag=True, help="Compare inference prompts (cut before the last answer).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every case.")
@_render_option_flags
def check_template_command(template_spec: str, tokenizer_spec: str, cases: tuple[str, ...], skip: tuple[str, ...],
                           generation_prompt: bool, as_json: bool, enable_thinking: str, preserve_thinking: bool,
                           mask_history: bool, default_system: str | None, tool_format: str | None,
                           date_string: str | None) -> None:
    """Render the built-in battery with template T and with the tokenizer's own chat_template.

    Prints a diff per differing case and exits with status 1 when any case differs or T fails. Cases
    the tokenizer's template refuses (for instance a system turn it does not support) are reported and
    not counted as failures.

    \b
    Example:
      templates-hub check-template qwen --tokenizer ./qwen2.5 --skip reasoning
    """
    from ..templates import SpecialTokens, get_template
    from ..templates.battery import FEATURES, battery
    from ..templates.jinja_template import JinjaTemplate
    from ..templates.preview import check_against
    from ..tokenizer import load_tokenizer

    unknown = set(skip) - set(FEATURES)
    if unknown:
        raise UsageError(f"--skip: unknown feature(s) {', '.join(sorted(unknown))}; known: {', '.join(FEATURES)}")
    known_cases = [case.name for case in battery()]
    unknown = set(cases) - set(known_cases)
    if unknown:
        raise UsageError(f"--case: unknown battery case(s) {', '.join(sorted(unknown))}; known: {', '.join(known_cases)}")
    selected = battery(exclude=set(skip), names=list(cases) if cases else None)
    if not selected:
        raise UsageError(f"--skip {', '.join(skip)} excludes every case selected with --case: nothing to compare")
    tokenizer = load_tokenizer(tokenizer_spec)
    if not _has_chat_template(tokenizer):
        raise UsageError(
            f"--tokenizer {tokenizer_spec}: this tokenizer has no chat_template. check-template compares template "
            f"{template_spec} against the tokenizer's own chat_template, so pass a tokenizer that has one (the "
            "model's instruct / chat release usually does); to look at a template alone, use `templates-hub render`"
        )
    reference = JinjaTemplate.from_tokenizer(tokenizer)
    template = get_template(template_spec, tokenizer=tokenizer)
    tokens = SpecialTokens.from_tokenizer(tokenizer)
    options = _render_options(enable_thinking, preserve_thinking, mask_history, default_system, tool_format,
                              date_string or "26 Jul 2024")
    results = check_against(template, reference, selected, tokens=tokens, options=options,
                            generation_prompt=generation_prompt)
    failed = [r for r in results if r.status in ("differs", "error")]
    if as_json:
        click.echo(json.dumps({
            "template": template.name, "reference": reference.name, "ok": not failed,
            "cases": [{"case": r.case, "status": r.status, "message": r.message, "expected": r.expected,
                       "actual": r.actual} for r in results],
        }, ensure_ascii=False, indent=2))
    else:
        for r in results:
            colour = {"equal": "green", "differs": "red", "error": "red", "refused": "yellow"}[r.status]
            click.secho(f"{r.status:8} {r.case}", fg=colour, nl=not r.message)
            if r.message:
                click.echo(f"  ({r.message})")
            for line in r.diff:
                fg = "red" if line.startswith("-") else "green" if line.startswith("+") else None
                click.secho("    " + line, fg=fg)
        counts = {s: sum(1 for r in results if r.status == s) for s in ("equal", "differs", "error", "refused")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        click.secho(f"{template.name} vs {reference.name}: {summary}", bold=True, fg="red" if failed else "green")
    if failed:
        raise SystemExit(1)


@main.group("template")
def template_group() -> None:
    """Inspect and convert templates (`to-jinja`, `show`)."""


@template_group.command("to-jinja")
@click.argument("name")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the template to this file.")
@click.option("--generation-tags", is_flag=True,
              help="Wrap answers in {% generation %} so return_assistant_tokens_mask marks them.")
def to_jinja_command(name: str, out_path: str | None, generation_tags: bool) -> None:
    """Print the Hugging Face chat template (Jinja) equivalent to slot template NAME.

    Save it as chat_template.jinja next to a trained model's tokenizer so inference uses the format
    the model was trained with.
    """
    from ..templates import get_template

    template = get_template(name)
    to_jinja = getattr(template, "to_jinja", None)
    if to_jinja is None:
        raise TemplateError(f"template {name!r} cannot be converted to Jinja")
    text = to_jinja(generation_tags=generation_tags) if getattr(template, "kind", "") == "slot" else to_jinja()
    if out_path:
        Path(out_path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_path}", err=True)
    else:
        click.echo(text, nl=False)


@template_group.command("show")
@click.argument("name")
def show_command(name: str) -> None:
    """Print slot template NAME as a YAML declaration (copy it to a file to make your own template)."""
    import yaml

    from ..templates import get_template
    from ..templates.slot import SlotTemplate
    from ..templates.spec import template_to_spec

    template = get_template(name)
    if not isinstance(template, SlotTemplate):
        raise TemplateError(f"template {name!r} is a {getattr(template, 'kind', 'custom')} template, not a slot template")
    declaration = template_to_spec(template)
    lf_name = declaration.pop("lf_name", None)
    if lf_name:
        # an edited copy is no longer LLaMA-Factory's template, so exporters must not name it as such
        click.echo(f"# LLaMA-Factory's {lf_name!r} (lf_name not copied: set it only if you keep the slots unchanged)")
    click.echo(yaml.safe_dump(declaration, allow_unicode=True, sort_keys=False, width=1000), nl=False)
