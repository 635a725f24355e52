"""Slot template -> Jinja: rendering through the produced chat template equals the slot rendering."""

from __future__ import annotations

import json

import pytest

from templates_hub.errors import TemplateError
from templates_hub.plugins import get_registry
from templates_hub.templates import RenderOptions, SpecialTokens, render_text
from templates_hub.templates.battery import battery
from templates_hub.templates.jinja_template import JinjaTemplate
from templates_hub.templates.preview import check_against
from templates_hub.templates.slot import SlotTemplate

TOK = SpecialTokens(bos_token="<s>", eos_token="</s>")
DATE = {"date_string": "26 Jul 2024"}
OPTIONS = {
    "default": RenderOptions(extra=DATE),
    "thinking_off": RenderOptions(enable_thinking=False, extra=DATE),
}
SLOT_NAMES = [e.name for e in get_registry("templates") if isinstance(e.obj, SlotTemplate)]


def trained_runs(pieces):
    """The trained text as maximal runs of consecutive trainable pieces."""
    runs, current = [], ""
    for piece in pieces:
        if piece.trainable:
            current += piece.text
        elif current:
            runs.append(current)
            current = ""
    return runs + ([current] if current else [])


@pytest.mark.parametrize("name", SLOT_NAMES)
def test_round_trip_over_the_battery(name):
    slot = get_registry("templates").get(name)
    jinja = JinjaTemplate(slot.to_jinja(), name=f"{name}.jinja")
    tagged = JinjaTemplate(slot.to_jinja(generation_tags=True), name=f"{name}.tagged.jinja")
    assert tagged.has_generation_blocks
    for label, options in OPTIONS.items():
        if label != "default" and not slot.reasoning:
            continue  # enable_thinking only changes reasoning templates
        for prompt_only in (False, True):
            results = check_against(jinja, slot, battery(), tokens=TOK, options=options,
                                    generation_prompt=prompt_only)
            for result in results:
                if result.status == "refused":  # the slot template itself refuses (glm4: parallel calls)
                    with pytest.raises(TemplateError):
                        jinja.render_text(battery(names=[result.case])[0].row(), TOK, options)
                    continue
                assert result.status == "equal", (label, prompt_only, result.case, result.diff)
        for case in battery():
            try:
                expected = trained_runs(slot.render(case.row(), TOK, options))
            except TemplateError:
                continue
            assert trained_runs(tagged.render(case.row(), TOK, options)) == expected, (label, case.name)


def test_the_generated_template_works_in_transformers(tiny_tokenizer):
    source = get_registry("templates").get("qwen3").to_jinja(generation_tags=True)
    row = battery(names=["multi_turn"])[0].row()
    out = tiny_tokenizer.apply_chat_template(row["messages"], chat_template=source, tokenize=True,
                                             return_dict=True, return_assistant_tokens_mask=True)
    trained = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    text = tiny_tokenizer.decode(trained)
    assert text == "".join(trained_runs(get_registry("templates").get("qwen3").render(row, TOK)))


def test_quotes_backslashes_and_newlines_in_slots_survive():
    slot = SlotTemplate("odd", user=("It's \\ a \"{{content}}\"\n\t",), assistant=("{{content}}'\\n'",),
                        default_system="Don't\\panic")
    jinja = JinjaTemplate(slot.to_jinja())
    row = battery(names=["multi_turn"])[0].row()
    assert jinja.render_text(row, TOK)[0] == render_text(slot.render(row, TOK))


# -- property: any well-formed conversation round-trips ------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def conversations(draw):
    messages = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(TEXT)})
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(TEXT)})
        reasoning = draw(st.one_of(st.none(), TEXT))
        if draw(st.integers(0, 3)) == 0:
            messages.append({"role": "assistant", "content": draw(TEXT), "reasoning": reasoning,
                             "tool_calls": [{"name": "f", "arguments": json.dumps({"q": draw(TEXT)})}]})
            for _ in range(draw(st.integers(1, 2))):
                messages.append({"role": "tool", "content": draw(TEXT)})
        messages.append({"role": "assistant", "content": draw(TEXT), "reasoning": reasoning})
    tools = draw(st.sampled_from([None, "[]", json.dumps([{"name": "f", "description": "d", "parameters": {}}])]))
    return {"messages": messages, "tools": tools}


@pytest.mark.parametrize("name", ["qwen3", "llama2@hf", "mistral", "default", "llama3@hf"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=conversations(), thinking=st.sampled_from([True, False, None]))
def test_random_conversations_round_trip(name, row, thinking):
    slot = get_registry("templates").get(name)
    options = RenderOptions(enable_thinking=thinking, extra=DATE)
    pieces = slot.render(row, TOK, options)
    assert [p.turn for p in pieces] == sorted(p.turn for p in pieces)  # turns never go back
    roles = {p.message: row["messages"][p.message]["role"] for p in pieces if p.message is not None}
    assert all(roles[p.message] == "assistant" for p in pieces if p.trainable and p.message is not None)
    assert _jinja(name).render_text(row, TOK, options)[0] == render_text(pieces)


_COMPILED: dict[str, JinjaTemplate] = {}


def _jinja(name: str) -> JinjaTemplate:
    if name not in _COMPILED:
        _COMPILED[name] = JinjaTemplate(get_registry("templates").get(name).to_jinja(), name=name)
    return _COMPILED[name]
