"""Slot templates reproduce LLaMA-Factory 0.9.5's elements: one piece per element, same flags and order.

Each expectation below is what LLaMA-Factory's ``Template._encode`` / ``ReasoningTemplate`` /
``Llama2Template`` produce for the same messages (read from its source, data/template.py); the
token-id equivalence itself is tested by the preprocessing tests against generated LLaMA-Factory fixtures.
"""

from __future__ import annotations

import json

import pytest

from templates_hub.errors import TemplateError
from templates_hub.templates import RenderOptions, SpecialTokens, get_template, render_text
from templates_hub.templates.slot import BOS, EOS, SlotTemplate, Token, slot_template

TOK = SpecialTokens(bos_token="<s>", eos_token="</s>")
THINK = "<think>\n\n</think>\n\n"


def msg(role: str, content: str = "", **extra):
    return {"role": role, "content": content, "tool_calls": extra.get("tool_calls"),
            "reasoning": extra.get("reasoning"), "train": extra.get("train")}


def conv(*messages, tools=None):
    return {"messages": list(messages), "tools": tools}


def shape(pieces):
    return [(p.text, p.trainable, p.turn, p.slot) for p in pieces]


ONE = conv(msg("user", "Hi"), msg("assistant", "Hello!"))
TWO = conv(msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "2+2?"), msg("assistant", "4"))


def test_qwen_pieces_are_lf_elements():
    pieces = get_template("qwen").render(conv(msg("system", "Be nice."), *ONE["messages"]), TOK)
    assert shape(pieces) == [
        ("<|im_start|>system\nBe nice.<|im_end|>\n", False, 0, "system"),
        ("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False, 0, "user"),
        ("Hello!<|im_end|>\n", True, 0, "assistant"),
    ]
    assert [p.message for p in pieces] == [0, 1, 2]


def test_default_template_elements_and_eos_pieces():
    pieces = get_template("default").render(ONE, TOK)
    assert shape(pieces) == [
        ("Human: Hi", False, 0, "user"), ("</s>", False, 0, "user"), ("\nAssistant:", False, 0, "user"),
        ("Hello!", True, 0, "assistant"), ("</s>", True, 0, "assistant"), ("\n", True, 0, "assistant"),
    ]
    assert [p.special for p in pieces] == [False, True, False, False, True, False]


def test_default_system_is_injected_when_missing_or_empty():
    qwen = get_template("qwen")
    default = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    assert qwen.render(ONE, TOK)[0].text == default
    assert qwen.render(ONE, TOK)[0].message is None  # the default system belongs to no message
    empty_system = conv(msg("system", ""), *ONE["messages"])
    assert qwen.render(empty_system, TOK)[0].text == default
    override = qwen.render(ONE, TOK, RenderOptions(default_system="Be brief."))
    assert override[0].text == "<|im_start|>system\nBe brief.<|im_end|>\n"
    alpaca = render_text(get_template("alpaca").render(ONE, TOK))
    assert alpaca.startswith("Below is an instruction that describes a task.")
    assert get_template("llama3").render(ONE, TOK)[1].slot == "user"  # no default system, no system piece


def test_keep_empty_system_renders_the_empty_message():
    pieces = get_template("qwen@hf").render(conv(msg("system", ""), *ONE["messages"]), TOK)
    assert pieces[0].text == "<|im_start|>system\n<|im_end|>\n" and pieces[0].message == 0


def test_efficient_eos_templates_have_no_eos_piece():
    glm4 = get_template("glm4")
    assert glm4.efficient_eos
    pieces = glm4.render(TWO, TOK)
    assert shape(pieces) == [
        ("[gMASK]<sop>", False, 0, "prefix"),
        ("<|user|>\nHi<|assistant|>", False, 0, "user"),
        ("\nHello!", True, 0, "assistant"),
        ("<|user|>\n2+2?<|assistant|>", False, 1, "user"),
        ("\n4", True, 1, "assistant"),
    ]
    assert "</s>" not in render_text(pieces)


def test_replace_eos_uses_the_first_stop_word():
    template = slot_template("mine", assistant=["{{content}}", EOS], stop_words=["<|end|>", "<|x|>"], replace_eos=True)
    assert template.effective_eos(TOK) == "<|end|>"
    assert template.render(ONE, TOK)[-1].text == "<|end|>"
    plain = slot_template("plain", assistant=["{{content}}", EOS])
    assert plain.effective_eos(TOK) == "</s>"
    assert plain.effective_eos(SpecialTokens()) == "<|endoftext|>"  # what fix_tokenizer adds


def test_bos_is_skipped_when_the_tokenizer_has_none():
    llama3 = get_template("llama3")
    assert llama3.render(ONE, SpecialTokens(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"))[0].text == \
        "<|begin_of_text|>"
    assert llama3.render(ONE, SpecialTokens(eos_token="<|eot_id|>"))[0].slot == "user"


def test_llama2_fuses_system_into_first_user_turn():
    pieces = get_template("llama2").render(conv(msg("system", "Be nice."), *TWO["messages"]), TOK)
    assert shape(pieces) == [
        ("<s>", False, 0, "user"), ("[INST] <<SYS>>\nBe nice.\n<</SYS>>\n\nHi [/INST]", False, 0, "user"),
        ("Hello!", True, 0, "assistant"), ("</s>", True, 0, "assistant"),
        ("<s>", False, 1, "user"), ("[INST] 2+2? [/INST]", False, 1, "user"),
        ("4", True, 1, "assistant"), ("</s>", True, 1, "assistant"),
    ]


def test_mistral_fuses_system_and_tools_after_bos_prefix():
    tools = json.dumps([{"name": "f", "description": "d", "parameters": {}}])
    pieces = get_template("mistral").render(conv(msg("system", "S"), *ONE["messages"], tools=tools), TOK)
    assert pieces[0].text == "<s>" and pieces[0].slot == "prefix"
    assert pieces[1].text == ('[INST] S[AVAILABLE_TOOLS] [{"type": "function", "function": {"name": "f", '
                              '"description": "d", "parameters": {}}}][/AVAILABLE_TOOLS]\n\nHi[/INST]')


def test_multiturn_turns_and_trainable_flags():
    pieces = get_template("chatml").render(TWO, TOK)
    assert [(p.turn, p.trainable) for p in pieces] == [(0, False), (0, True), (1, False), (1, True)]


def test_oneturn_puts_history_in_the_prompt():
    pieces = get_template("chatml").render(TWO, TOK, RenderOptions(mode="oneturn"))
    assert [(p.turn, p.trainable) for p in pieces] == [(0, False), (0, False), (0, False), (0, True)]


# -- reasoning templates (LLaMA-Factory's ReasoningTemplate) ----------------------------------------------


COT = conv(msg("user", "Q1"), msg("assistant", "A1", reasoning="R1"), msg("user", "Q2"), msg("assistant", "A2"))


def thoughts(pieces):
    return [(p.text, p.trainable, p.turn) for p in pieces if p.slot == "thought"]


def test_qwen3_adds_a_trained_empty_cot_to_every_turn_without_one():
    pieces = get_template("qwen3").render(COT, TOK)
    assert thoughts(pieces) == [(THINK, True, 1)]
    assert "<think>\nR1\n</think>\n\nA1<|im_end|>\n" in render_text(pieces)  # turn 0 keeps its own CoT
    text = render_text(pieces)
    assert text.endswith("<|im_start|>assistant\n" + THINK + "A2<|im_end|>\n")


def test_qwen3_enable_thinking_false_strips_cot_and_masks_the_empty_one():
    pieces = get_template("qwen3").render(COT, TOK, RenderOptions(enable_thinking=False))
    assert thoughts(pieces) == [(THINK, False, 0), (THINK, False, 1)]
    assert "R1" not in render_text(pieces)
    # the masked empty CoT closes the prompt, right before the answer
    index = next(i for i, p in enumerate(pieces) if p.slot == "thought")
    assert pieces[index - 1].slot == "user" and pieces[index + 1].slot == "assistant"


def test_qwen3_enable_thinking_none_keeps_cot_but_masks_the_empty_one():
    pieces = get_template("qwen3").render(COT, TOK, RenderOptions(enable_thinking=None))
    assert thoughts(pieces) == [(THINK, False, 1)]
    assert "R1" in render_text(pieces)


def test_qwen3_mask_history_keeps_only_the_last_turns_cot():
    pieces = get_template("qwen3").render(COT, TOK, RenderOptions(mask_history=True))
    assert thoughts(pieces) == [(THINK, True, 1)]
    assert "R1" not in render_text(pieces)  # history CoT discarded
    no_cot = conv(msg("user", "Q1"), msg("assistant", "A1"), msg("user", "Q2"), msg("assistant", "A2"))
    assert thoughts(get_template("qwen3").render(no_cot, TOK, RenderOptions(mask_history=True))) == [(THINK, True, 1)]
    assert len(thoughts(get_template("qwen3").render(no_cot, TOK))) == 2


def test_qwen3_mask_history_with_preserve_thinking_keeps_history():
    pieces = get_template("qwen3").render(COT, TOK, RenderOptions(mask_history=True, preserve_thinking=True))
    assert "R1" in render_text(pieces)
    assert thoughts(pieces) == [(THINK, True, 1)]


def test_qwen3_oneturn_strips_history_cot_unless_preserved():
    last_cot = conv(msg("user", "Q1"), msg("assistant", "A1", reasoning="R1"), msg("user", "Q2"),
                    msg("assistant", "A2", reasoning="R2"))
    pieces = get_template("qwen3").render(last_cot, TOK, RenderOptions(mode="oneturn"))
    text = render_text(pieces)
    assert "R1" not in text and "<think>\nR2\n</think>\n\nA2" in text and thoughts(pieces) == []
    kept = render_text(get_template("qwen3").render(last_cot, TOK, RenderOptions(mode="oneturn", preserve_thinking=True)))
    assert "R1" in kept


def test_reasoning_field_renders_like_inline_cot():
    separate = conv(msg("user", "Q"), msg("assistant", "A", reasoning="because"))
    inline = conv(msg("user", "Q"), msg("assistant", "<think>\nbecause\n</think>\n\nA"))
    for name in ("qwen3", "qwen", "deepseekr1"):
        assert get_template(name).render(separate, TOK) == get_template(name).render(inline, TOK)


def test_generation_prompt_adds_the_empty_thought_when_thinking_is_off():
    prompt = conv(msg("user", "Q"))
    on = get_template("qwen3").render(prompt, TOK, RenderOptions(add_generation_prompt=True))
    assert render_text(on) == "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    off = get_template("qwen3").render(prompt, TOK, RenderOptions(add_generation_prompt=True, enable_thinking=False))
    assert render_text(off).endswith("<|im_start|>assistant\n" + THINK) and not any(p.trainable for p in off)
    assert render_text(get_template("qwen").render(prompt, TOK, RenderOptions(add_generation_prompt=True))).endswith(
        "<|im_start|>assistant\n")


# -- tools ----------------------------------------------------------------------------------------------


TOOLS = json.dumps([{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City."}},
                                    "required": ["city"]}}}])
CALL = conv(msg("user", "Weather in Berlin?"),
            msg("assistant", "", tool_calls=[{"name": "get_weather", "arguments": '{"city":"Berlin"}'}]),
            msg("tool", '{"t": 21}'), msg("tool", '{"t": 22}'), msg("assistant", "21 or 22."), tools=TOOLS)


def test_qwen_tool_call_and_merged_tool_results():
    pieces = get_template("qwen").render(CALL, TOK)
    system = pieces[0].text
    assert "# Tools" in system and '<tools>\n{"type": "function", "function": {"name": "get_weather"' in system
    function = next(p for p in pieces if p.slot == "function")
    assert function.text == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Berlin"}}\n</tool_call><|im_end|>\n'
    assert function.trainable and function.message == 1
    observation = next(p for p in pieces if p.slot == "observation")
    assert observation.text == ("<|im_start|>user\n<tool_response>\n{\"t\": 21}\n</tool_response>\n<tool_response>\n"
                                "{\"t\": 22}\n</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert observation.message == 2 and not observation.trainable and observation.turn == 1


def test_default_tool_format_action_lines():
    pieces = get_template("chatml").render(CALL, TOK)
    assert "> Tool Name: get_weather\nTool Description: Weather.\nTool Args:\n  - city (string, required): City.\n" \
        in pieces[0].text
    function = next(p for p in pieces if p.slot == "function")
    assert function.text == 'Action: get_weather\nAction Input: {"city": "Berlin"}<|im_end|>\n'


def test_llama3_tool_prompt_uses_the_date_string():
    pieces = get_template("llama3").render(CALL, TOK, RenderOptions(extra={"date_string": "26 Jul 2024"}))
    assert "Today Date: 26 Jul 2024\n" in pieces[1].text
    function = next(p for p in pieces if p.slot == "function")
    assert function.text == '{"name": "get_weather", "parameters": {"city": "Berlin"}}<|eot_id|>'


def test_glm4_refuses_parallel_calls():
    parallel = conv(msg("user", "x"), msg("assistant", "", tool_calls=[{"name": "a", "arguments": "{}"},
                                                                       {"name": "b", "arguments": "{}"}]),
                    msg("tool", "1"), msg("assistant", "done"))
    with pytest.raises(TemplateError, match="parallel"):
        get_template("glm4").render(parallel, TOK)
    function = next(p for p in get_template("glm4").render(CALL, TOK) if p.slot == "function")
    assert function.text == 'get_weather\n{"city": "Berlin"}'


def test_tool_format_option_replaces_function_slot_like_lf():
    pieces = get_template("qwen").render(CALL, TOK, RenderOptions(tool_format="default"))
    function = [p for p in pieces if p.slot == "function"]
    # LF's data_args.tool_format: FunctionFormatter(["{{content}}", {"eos_token"}]) - eos, not the qwen slot
    assert [p.text for p in function] == ['Action: get_weather\nAction Input: {"city": "Berlin"}', "<|im_end|>"]
    assert "You have access to the following tools" in pieces[0].text


def test_empty_tools_list_still_renders_the_system_slot():
    pieces = get_template("qwen3").render(conv(*ONE["messages"], tools="[]"), TOK)
    assert pieces[0].text == "<|im_start|>system\n<|im_end|>\n"  # LF: `if system or tools` on the JSON text


def test_assistant_text_before_tool_calls():
    with_text = conv(msg("user", "x"), msg("assistant", "Let me look.", tool_calls=[{"name": "f", "arguments": "{}"}]),
                     msg("tool", "1"), msg("assistant", "done"))
    lf = next(p for p in get_template("qwen").render(with_text, TOK) if p.slot == "function")
    assert lf.text.startswith("Let me look.<tool_call>")
    hf = next(p for p in get_template("qwen@hf").render(with_text, TOK) if p.slot == "function")
    assert hf.text.startswith("Let me look.\n<tool_call>")


def test_invalid_tools_json_is_a_template_error():
    with pytest.raises(TemplateError, match="tools: not valid JSON"):
        get_template("qwen").render(conv(*ONE["messages"], tools="[{"), TOK)


# -- structure errors, elements, placeholders --------------------------------------------------------------


def test_turns_must_alternate():
    bad = {"messages": [msg("user", "a"), msg("user", "b"), msg("assistant", "c")], "_row": 7}
    with pytest.raises(TemplateError, match=r"row 7: messages\[1\]\.role"):
        get_template("qwen").render(bad, TOK)
    with pytest.raises(TemplateError, match="only allowed first"):
        get_template("qwen").render(conv(msg("user", "a"), msg("system", "s"), msg("assistant", "c")), TOK)


def test_token_elements_are_special_pieces_and_idx_is_substituted():
    template = slot_template("glmish", prefix=[Token("[gMASK]"), Token("sop")],
                             user=["[Round {{idx}}]\n\n问：{{content}}\n\n答："], efficient_eos=True)
    pieces = template.render(TWO, TOK)
    assert [(p.text, p.special) for p in pieces[:2]] == [("[gMASK]", True), ("sop", True)]
    assert pieces[2].text == "[Round 0]\n\n问：Hi\n\n答：" and pieces[4].text.startswith("[Round 1]")


def test_slots_need_a_content_placeholder():
    with pytest.raises(TemplateError, match="placeholder"):
        SlotTemplate("bad", user=("no placeholder",))
    with pytest.raises(TemplateError, match="prefix"):
        SlotTemplate("bad", prefix=("{{content}}",))
    with pytest.raises(TemplateError, match="stop word"):
        SlotTemplate("bad", replace_eos=True)


def test_suffix_strip_and_bos_elements_of_hf_variants():
    phi = get_template("phi@hf").render(ONE, SpecialTokens(bos_token="<s>", eos_token="<|endoftext|>"))
    assert phi[-1].text == "<|endoftext|>" and phi[-1].slot == "suffix" and phi[-1].trainable
    gen = get_template("phi@hf").render(conv(msg("user", "Q")), TOK, RenderOptions(add_generation_prompt=True))
    assert all(p.slot != "suffix" for p in gen)
    llama3 = get_template("llama3@hf").render(conv(msg("user", "  padded \n"), msg("assistant", " x ")), TOK)
    assert "\n\npadded<|eot_id|>" in render_text(llama3) and render_text(llama3).endswith("\n\nx<|eot_id|>")
    assert BOS.name == "bos_token"


def test_rendering_does_not_mutate_the_row():
    row = json.loads(json.dumps(COT))
    get_template("qwen3").render(row, TOK, RenderOptions(enable_thinking=False, mask_history=True))
    assert row == COT
