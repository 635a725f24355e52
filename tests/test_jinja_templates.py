"""Jinja templates: transformers-compatible rendering, trained spans, and the hardened sandbox."""

from __future__ import annotations

import pickle

import pytest

from templates_hub.errors import TemplateError
from templates_hub.templates import RenderOptions, SpecialTokens, get_template, render_text
from templates_hub.templates.battery import battery
from templates_hub.templates.jinja_template import JinjaTemplate, hf_messages, hf_tools
from templates_hub.templates.sandbox import Limits

TOK = SpecialTokens(bos_token="<s>", eos_token="</s>")
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
GENERATION = (
    "{% for m in messages %}{% if m.role == 'assistant' %}A: {% generation %}{{ m.content }}{{ eos_token }}"
    "{% endgeneration %}{{ '\\n' }}{% else %}U: {{ m.content }}\n{% endif %}{% endfor %}"
)
ROW = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "tools": None}


def spans(pieces):
    return [(p.text, p.turn, p.message) for p in pieces if p.trainable]


def test_generation_blocks_give_the_trained_spans():
    pieces = JinjaTemplate(GENERATION).render(ROW, TOK)
    assert render_text(pieces) == "U: Hi\nA: Hello!</s>\nU: 2+2?\nA: 4</s>\n"
    assert spans(pieces) == [("Hello!</s>", 0, 1), ("4</s>", 1, 3)]


def test_prefix_rendering_gives_the_trained_spans_of_prefix_stable_templates():
    pieces = JinjaTemplate(CHATML).render(ROW, TOK)
    assert spans(pieces) == [("Hello!<|im_end|>\n", 0, 1), ("4<|im_end|>\n", 1, 3)]
    # identical to the chatml@hf slot template, piece text and flags
    slot = get_template("chatml@hf").render(ROW, TOK)
    assert render_text(pieces) == render_text(slot)
    assert [p.text for p in slot if p.trainable] == [p.text for p in pieces if p.trainable]


def test_oneturn_trains_the_last_answer_only():
    pieces = JinjaTemplate(CHATML).render(ROW, TOK, RenderOptions(mode="oneturn"))
    assert spans(pieces) == [("4<|im_end|>\n", 0, 3)] and {p.turn for p in pieces} == {0}


def test_templates_that_rewrite_history_are_not_prefix_stable():
    # drops the content of every assistant message but the last, like reasoning templates drop old thoughts
    rewriting = ("{% for m in messages %}{{ m.role }}:{% if m.role != 'assistant' or loop.last %}{{ m.content }}"
                 "{% endif %};{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")
    with pytest.raises(TemplateError, match="not prefix-stable"):
        JinjaTemplate(rewriting, name="rewriting").render(ROW, TOK)
    # training on the last turn only needs just the last span
    pieces = JinjaTemplate(rewriting).render(ROW, TOK, RenderOptions(mask_history=True))
    assert spans(pieces) == [("4;", 0, 3)]


def test_the_tokenizer_template():
    from templates_hub.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(chat_template=CHATML)
    template = get_template("tokenizer", tokenizer=tokenizer)
    assert template.kind == "jinja" and template.name.startswith("tokenizer:")
    expected = tokenizer.apply_chat_template(ROW["messages"], tokenize=False)
    assert render_text(template.render(ROW)) == expected
    with pytest.raises(TemplateError, match="has no chat_template"):
        get_template("tokenizer", tokenizer=build_tiny_tokenizer())
    with pytest.raises(TemplateError, match="needs a tokenizer"):
        get_template("tokenizer")


@pytest.mark.parametrize("name", ["qwen", "llama3", "mistral", "glm4", "default", "qwen3", "phi@hf"])
def test_rendering_equals_transformers_apply_chat_template(tiny_tokenizer, name):
    """Our sandbox renders exactly like transformers (same globals, tojson, whitespace control)."""
    source = get_template(name).to_jinja()
    ours = JinjaTemplate(source)
    for case in battery(exclude={"parallel_tool_calls"} if name == "glm4" else set()):
        row = case.row()
        expected = tiny_tokenizer.apply_chat_template(
            hf_messages(row), tools=hf_tools(row), chat_template=source, tokenize=False, date_string="26 Jul 2024",
            bos_token="<s>", eos_token="</s>")
        assert ours.render_text(row, TOK, RenderOptions(extra={"date_string": "26 Jul 2024"}))[0] == expected, case.name


def test_tojson_keeps_unicode_and_html_characters():
    template = JinjaTemplate("{{ tools | tojson }}|{{ tools | tojson(indent=2) }}")
    text = template.render_text({"messages": [], "tools": '[{"a": "<é>&"}]'})[0]
    assert text == '[{"a": "<é>&"}]|[\n  {\n    "a": "<é>&"\n  }\n]'


def test_raise_exception_is_a_template_error():
    template = JinjaTemplate("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}"
                             "{% endif %}ok", name="nosys")
    assert template.render_text(ROW)[0] == "ok"
    with pytest.raises(TemplateError, match="nosys.*refused the conversation: System role not supported"):
        template.render_text({"messages": [{"role": "system", "content": "x"}] + ROW["messages"]})


INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ messages.__class__.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ messages['__class__'] }}",
    "{{ self.__dict__ }}",
]


@pytest.mark.parametrize("source", INJECTIONS)
def test_injections_are_refused_before_anything_runs(source):
    with pytest.raises(TemplateError, match="not allowed"):
        JinjaTemplate(source, name="evil")


@pytest.mark.parametrize("source, match", [
    ("{{ messages|attr('__class__') }}", "unsafe"),
    ("{{ [1]|map(attribute='__class__')|list }}", "unsafe"),
    ("{% set x = [] %}{{ x.append(1) }}", "unsafe"),
    ("{% set ns = namespace() %}{% set ns._secret = 1 %}", "underscore"),
    ("{{ 'a' * 100000000 }}", "too large"),
    ("{{ 2 ** 100000 }}", "exponent"),
    ("{% for i in range(1000000) %}{% endfor %}", "too big"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion"),
])
def test_unsafe_operations_stop_at_runtime(source, match):
    with pytest.raises(TemplateError, match=match):
        JinjaTemplate(source, name="evil").render_text(ROW)


def test_runaway_loops_and_huge_outputs_hit_the_budget():
    loop = JinjaTemplate("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                         limits=Limits(max_steps=20_000))
    with pytest.raises(TemplateError, match="more than 20,000 steps"):
        loop.render_text(ROW)
    strings = JinjaTemplate("{% for c in 'x' * 1000 %}{% for d in 'y' * 1000 %}{% endfor %}{% endfor %}",
                            limits=Limits(max_steps=20_000))
    with pytest.raises(TemplateError, match="steps"):
        strings.render_text(ROW)
    doubling = JinjaTemplate("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                             "{% endfor %}", limits=Limits(max_value_chars=10_000))
    with pytest.raises(TemplateError, match="10,000"):
        doubling.render_text(ROW)
    output = JinjaTemplate("{% for i in range(100) %}{{ 'z' * 100 }}{% endfor %}", limits=Limits(max_output_chars=5_000))
    with pytest.raises(TemplateError, match="output exceeded 5,000"):
        output.render_text(ROW)


def test_syntax_errors_name_the_line():
    with pytest.raises(TemplateError, match="line 2"):
        JinjaTemplate("ok\n{% for %}", name="broken")


def test_undefined_values_render_empty_but_attribute_chains_fail():
    assert JinjaTemplate("[{{ nothing }}]").render_text(ROW)[0] == "[]"
    with pytest.raises(TemplateError, match="undefined"):
        JinjaTemplate("{{ nothing.at_all }}").render_text(ROW)


def test_jinja_templates_pickle_for_worker_processes():
    template = JinjaTemplate(CHATML, name="chatml-jinja")
    clone = pickle.loads(pickle.dumps(template))
    assert render_text(clone.render(ROW, TOK)) == render_text(template.render(ROW, TOK))


def test_messages_are_passed_like_transformers_does():
    row = {"messages": [{"role": "user", "content": "q", "tool_calls": None, "reasoning": None, "train": None},
                        {"role": "assistant", "content": "", "reasoning": "r", "train": True,
                         "tool_calls": [{"name": "f", "arguments": '{"x": 1}'}]}], "tools": None}
    messages = hf_messages(row)
    assert messages[0] == {"role": "user", "content": "q"}
    assert messages[1]["tool_calls"] == [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]
    assert messages[1]["reasoning_content"] == messages[1]["thinking"] == "r" and "train" not in messages[1]


def test_documents_reach_rag_templates_through_render_options():
    template = JinjaTemplate("{% for d in documents or [] %}[{{ d.title }}]{% endfor %}{{ messages[-1].content }}")
    text, _ = template.render_text(ROW, TOK, RenderOptions(extra={"documents": [{"title": "a"}, {"title": "b"}]}))
    assert text.startswith("[a][b]")
    plain, _ = template.render_text(ROW, TOK)
    assert not plain.startswith("[")
