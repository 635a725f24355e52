"""The Jinja sandbox's limits: what a hostile or runaway chat template can try, and what still works.

Chat templates are code from files and the Hub, rendered for millions of rows. A user relies on three
things, each tested here:

- every escape attempt, runaway loop and size bomb ends in a ``TemplateError`` that names the template and
  says what was refused, never in another exception, a hang or an out-of-memory kill;
- operations that can multiply sizes are refused *before* the work: the tests use payloads whose precheck
  message ("would build", "too large", "too long") differs from the after-the-fact one ("built a value"),
  with small ``Limits`` so that a regression would still be cheap to run;
- legitimate templates are unaffected: every official chat template in ../shared renders exactly like
  transformers, filters that take the context / environment work, and random small expressions render
  like plain ``jinja2.sandbox.ImmutableSandboxedEnvironment`` (hypothesis).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_paths import SHARED

# the environment transformers renders chat templates in (without our limits): the reference
from transformers.utils.chat_template_utils import _compile_jinja_template as transformers_template

from templates_hub.errors import TemplateError
from templates_hub.templates import RenderOptions, SpecialTokens
from templates_hub.templates.battery import battery
from templates_hub.templates.jinja_template import JinjaTemplate, hf_messages, hf_tools
from templates_hub.templates.sandbox import MAX_INT_BITS, Limits, compile_template, render

#: small enough that a regression in a precheck still runs in milliseconds
SMALL = Limits(max_steps=50_000, max_output_chars=50_000, max_value_chars=10_000, max_built_chars=200_000,
               max_seconds=30.0)
ROW = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "tools": None}


def refused(source: str, match: str, *, limits: Limits = SMALL, row: dict | None = None) -> str:
    """Render ``source`` and expect a TemplateError matching ``match``; return its message."""
    template = JinjaTemplate(source, name="evil", limits=limits)
    with pytest.raises(TemplateError, match=match) as info:
        template.render_text(row or ROW)
    message = str(info.value)
    assert message.startswith("template 'evil'"), message  # the template is named
    return message


def refused_statically(source: str, match: str) -> str:
    """``source`` is refused when it is compiled, before anything runs."""
    with pytest.raises(TemplateError, match=match) as info:
        JinjaTemplate(source, name="evil")
    message = str(info.value)
    assert "evil" in message and "Traceback" not in message
    return message


# -- sizes are checked before the work ------------------------------------------------------------------------

BEFORE_THE_WORK = [
    # repetition
    ("{{ 'a' * 10**7 }}", "repetition builds a value that is too large"),
    ("{{ 10**7 * 'a' }}", "repetition builds a value that is too large"),
    ("{{ ['a'] * 10**6 }}", "repetition builds a value that is too large"),
    ("{{ 'x' ~ 'y' * 10**7 }}", "repetition builds a value that is too large"),
    # a list of big integers or of dict views prints far longer than its item count
    ("{% set b = (2 ** 999) * (2 ** 999) * (2 ** 999) %}{{ [b] * 100 }}", "repetition builds a value that is too large"),
    ("{% set d = dict(a='x' * 500) %}{{ [d.values()] * 100 }}", "repetition builds a value that is too large"),
    # ~ knows the size of its result before building it
    ("{{ 'x' ~ ('y' * 9000) ~ ('z' * 9000) }}", r"'~' operator would build a value of 18,001 characters"),
    # printf-style %
    ("{{ '%99999999s' % 'a' }}", "'%' operator: the argument 99,999,999 is too large"),
    ("{{ '%*s' % (99999999, 'a') }}", "'%' operator: the argument 99,999,999 is too large"),
    ("{{ '%.*f' % (99999999, 1.0) }}", "'%' operator: the argument 99,999,999 is too large"),
    ("{{ ('%(a)s' * 1000) % {'a': 'x' * 5000} }}", "'%' operator would build a value of more than 10,000"),
    ("{{ ('%5000s' * 1000) % ((1,) * 1000) }}", "'%' operator would build"),
    ("{{ '%99999999s'|format('a') }}", "'format' filter: the argument 99,999,999 is too large"),
    ("{{ ('%(a)s' * 1000)|format(a='x' * 5000) }}", "'format' filter would build"),
    # str.format
    ("{{ '{:>99999999}'.format(1) }}", r"str.format\(\): the argument 99,999,999 is too large"),
    ("{{ '{:>{w}}'.format(1, w=99999999) }}", r"str.format\(\): the argument 99,999,999 is too large"),
    ("{{ '{0:{1}}'.format(1, 5) }}", "nested replacement fields in format specs are not supported"),
    ("{{ ('{0}' * 1000).format('x' * 5000) }}", r"str.format\(\) would build a value of more than 10,000"),
    ("{{ ('{}' * 3).format('x' * 4000, 'y' * 4000, 'z' * 4000) }}", r"str.format\(\) would build a value of 12,000"),
    ("{{ ('{0:>5000}' * 1000).format(1) }}", r"str.format\(\) would build"),
    ("{{ ('{a}' * 1000).format_map({'a': 'x' * 5000}) }}", r"str.format_map\(\) would build"),
    # replace chains: each step's size is known from the counts
    ("{{ ('ab' * 100)|replace('', 'x' * 1000) }}", "'replace' filter would build a value of 201,200 characters"),
    ("{{ 'ab'|replace('', 'x' * 3000)|replace('x', 'yyyy') }}", "'replace' filter would build a value of 45,002"),
    ("{{ ('ab' * 100).replace('', 'x' * 1000) }}", r"str.replace\(\) would build"),
    # widths
    ("{{ ('a' * 1000)|indent(10**8) }}", "'indent' filter: the argument 100,000,000 is too large"),
    ("{{ ('a\\n' * 1000)|indent(100) }}", "'indent' filter would build a value of 102,100 characters"),
    ("{{ ('a\\n' * 1000)|indent('x' * 100) }}", "'indent' filter would build"),
    ("{{ 'a'|center(10**8) }}", "'center' filter: the argument 100,000,000 is too large"),
    ("{{ 'a'.center(10**8) }}", r"str.center\(\): the argument 100,000,000 is too large"),
    ("{{ 'a'.ljust(10**8) }}", r"str.ljust\(\): the argument"),
    ("{{ 'a'.zfill(10**8) }}", r"str.zfill\(\): the argument"),
    ("{{ ('a' * 5000)|wordwrap(1, wrapstring='x' * 100) }}", "'wordwrap' filter would build"),
    ("{{ ('\\t' * 1000).expandtabs(1000) }}", r"str.expandtabs\(\) would build a value of 1,001,000"),
    ("{{ [1]|batch(10**8)|list }}", "'batch' filter: the argument 100,000,000 is too large"),
    # join: the total is known before the string is built
    ("{{ ['x' * 4000, 'y' * 4000, 'z' * 4000]|join(',') }}", "'join' filter would build a value of 12,002"),
    ("{{ ','.join(['x' * 4000, 'y' * 4000, 'z' * 4000]) }}", r"str.join\(\) would build a value of 12,002"),
    ("{{ range(10)|join('x' * 2000) }}", "'join' filter would build"),
    # a string split into one string object per character
    ("{{ ('\u4e2d' * 6000)|list|length }}", "'list' filter would build a value of 12,000"),
    # sum of lists
    ("{% set r = ['x' * 100] * 50 %}{{ [r, r, r]|sum(start=[]) }}", "'sum' filter would build"),
    # lipsum's paragraphs are written in a loop that counts no steps
    ("{{ lipsum(10**9) }}", r"lipsum\(\): the argument 1,000,000,000 is too large"),
    ("{{ lipsum(n=5, min=1, max=10**9) }}", r"lipsum\(\): the argument 1,000,000,000 is too large"),
    ("{{ lipsum(100, html=false, min=1, max=5000) }}", r"lipsum\(\) would build a value of 4,000,000"),
    # output collected outside the output limit: {% set %} blocks, macros, {% filter %} and {% call %} blocks
    ("{% set s = 'x' * 5000 %}{% set y %}{% for i in range(100) %}{{ s }}{% endfor %}{% endset %}{{ y|length }}",
     r"\{% set %\} block, macro or \{% filter %\} block would write 500,000 characters"),
    ("{% set s = 'x' * 5000 %}{% macro m() %}{% for i in range(100) %}{{ s }}{% endfor %}{% endmacro %}"
     "{{ m()|length }}", "block would write 500,000 characters"),
    ("{% set s = 'x' * 5000 %}{% filter upper %}{% for i in range(100) %}{{ s }}{% endfor %}{% endfilter %}",
     "block would write 500,000 characters"),
    ("{% set s = 'x' * 5000 %}{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{% for i in range(100) %}"
     "{{ s }}{% endfor %}{% endcall %}", "block would write 500,000 characters"),
    ("{% set y %}{% for i in range(2000) %}0123456789012345678901234567890123456789{% endfor %}{% endset %}",
     "block would write 80,000 characters"),
]


@pytest.mark.parametrize("source, match", BEFORE_THE_WORK, ids=[s for s, _ in BEFORE_THE_WORK])
def test_operations_that_multiply_sizes_are_refused_before_the_work(source, match):
    message = refused(source, match)
    assert "built a value" not in message  # the after-the-fact check never saw it


@pytest.mark.parametrize("source, match", [
    ("{{ 'a' * 10**9 }}", "repetition builds a value that is too large"),
    ("{{ '%999999999s' % 'a' }}", "the argument 999,999,999 is too large"),
    ("{{ '{:>999999999}'.format(1) }}", "the argument 999,999,999 is too large"),
    ("{{ ('a' * 1000)|indent(10**8) }}", "the argument 100,000,000 is too large"),
    ("{{ 'ab'|replace('', 'x' * 1000000)|replace('x', 'x' * 1000000) }}", "would build"),
    ("{{ lipsum(10**9) }}", "the argument 1,000,000,000 is too large"),
])
def test_the_default_limits_refuse_the_classic_bombs(source, match):
    refused(source, match, limits=Limits())


def test_tojson_strftime_and_translate_arguments_are_limited():
    refused("{{ messages|tojson(indent=1000) }}", r"tojson\(indent=1000\) is too large \(at most 64\)")
    refused("{{ messages|tojson(indent='x' * 1000) }}", "an indent string of 1,000 characters is too long")
    refused("{{ messages|tojson(separators=('x' * 1000, ':')) }}", "separators longer than 64 characters")
    refused("{{ strftime_now('%c' * 1000) }}", r"strftime_now\(\): a format of 2,000 characters is too long")
    refused("{{ 'x'.translate({120: 'y' * 1000}) }}", r"str.translate\(\) is not available in templates")
    refused("{{ ''.maketrans('a', 'b') }}", r"str.maketrans\(\) is not available")
    # ordinary uses still work
    text = JinjaTemplate("{{ messages|tojson(indent=2) }}|{{ strftime_now('%Y') }}").render_text(ROW)[0]
    json_text, year = text.rsplit("|", 1)
    assert json.loads(json_text) == ROW["messages"] and len(year) == 4 and year.isdigit()


# -- integers -------------------------------------------------------------------------------------------------

def test_integers_stay_small():
    refused("{{ 9 ** (9 ** 9) }}", "exponent too large")
    refused("{{ 2 ** 100000 }}", "exponent too large")
    refused("{{ (2 ** 999) ** 11 }}", "power too large")
    refused("{% set b = 2 ** 999 %}{{ b * b * b * b * b * b * b * b * b * b * b }}",
            f"product too large \\(more than {MAX_INT_BITS:,} bits\\)")
    refused("{% set ns = namespace(n=1) %}{% for i in range(20000) %}{% set ns.n = ns.n + ns.n %}{% endfor %}",
            f"'\\+' operator built an integer of more than {MAX_INT_BITS:,} bits", limits=Limits())
    # Jinja's ** is left-associative: 9**9**9 is (9**9)**9 = 9**81, a 78-digit number, as in plain Jinja
    assert JinjaTemplate("{{ 9**9**9 }}").render_text(ROW)[0] == str(9 ** 81)


# -- runaway loops, recursion and growth ------------------------------------------------------------------------

@pytest.mark.parametrize("source, match", [
    ("{% for i in range(10**9) %}{% endfor %}", "range of 1,000,000,000 items is too big"),
    ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "more than 50,000 steps"),
    ("{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}{% endfor %}{% endfor %}"
     "{% endfor %}", "more than 50,000 steps"),
    ("{% for c in 'x' * 1000 %}{% for d in 'y' * 1000 %}{% endfor %}{% endfor %}", "more than 50,000 steps"),
    ("{{ range(90000)|join(',') }}", "'join' filter read more than 10,000 items"),
    ("{{ ','.join(range(90000)|map('string')) }}", r"str.join\(\) read more than 10,000 items"),
    ("{{ range(90000)|sum }}", "'sum' filter read more than 10,000 items"),
    ("{{ range(90000)|map('string')|list|length }}", "more than 50,000 steps"),
    ("{{ cycler(*range(90000)) }}", "more than 50,000 steps"),
    ("{{ dict.fromkeys(range(90000)) }}", "more than 50,000 steps"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion too deep"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursion too deep"),
    # namespaces growing in a loop: strings double, lists and dicts grow one item at a time (quadratic work)
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "'~' operator would build a value of 16,384 characters"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
     r"'\+' operator would build a value of 16,384 characters"),
    ("{% set ns = namespace(l=[]) %}{% for i in range(90000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
     "more than 50,000 steps"),
    ("{% set ns = namespace(d={}) %}{% for i in range(90000) %}{% set ns.d = dict(ns.d, **{i|string: i}) %}"
     "{% endfor %}", "more than 50,000 steps"),
    ("{% set ns = namespace(s='') %}{% for i in range(90000) %}{% set ns.s = ns.s ~ 'x' * 900 %}{% endfor %}",
     "'~' operator would build a value of 10,800 characters"),
    ("{% set ns = namespace(l=['x' * 9000]) %}{% set ns.l = ns.l + ns.l %}", "10,000 characters / items"),
    ("{{ namespace(a='x' * 6000, b='y' * 6000) }}", "10,000 characters"),
])
def test_runaway_templates_hit_the_budget(source, match):
    refused(source, match)


def test_quadratic_list_growth_ends_on_the_step_budget_with_the_default_limits():
    # before every container built was charged, this ran until the 30 s clock
    refused("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
            "more than 5,000,000 steps", limits=Limits())


def test_a_long_conversation_collected_into_a_list_renders_with_the_default_limits():
    """Templates collect messages with ``{% set ns.l = ns.l + [m] %}``. Re-measuring the whole list at every
    iteration charged n² steps: 3,500 messages ran out of the 5,000,000-step budget as "a runaway loop"."""
    source = ("{% set ns = namespace(turns=[]) %}{% for m in messages %}{% if m.role != 'system' %}"
              "{% set ns.turns = ns.turns + [m] %}{% endif %}{% endfor %}"
              "{% for m in ns.turns %}{{ m.role[0] }}{{ m.content }};{% endfor %}")
    messages = [{"role": "system", "content": "S"}] + [
        {"role": ("user", "assistant")[i % 2], "content": str(i)} for i in range(3_500)]
    text = JinjaTemplate(source, name="collect", limits=Limits()).render_text({"messages": messages,
                                                                               "tools": None})[0]
    assert text.startswith("u0;a1;u2;") and text.endswith("a3499;") and text.count(";") == 3_500


def test_a_runaway_step_budget_message_says_how_to_raise_it():
    message = refused("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "steps")
    assert "more than 50,000 steps (a runaway loop, or a very long conversation: raise Limits.max_steps)" in message


def test_the_clock_backs_up_the_step_budget():
    refused("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
            r"ran longer than 0.01 s", limits=Limits(max_steps=100_000_000, max_seconds=0.01))


def test_strings_built_by_one_render_are_bounded():
    refused("{% for i in range(1000) %}{% set x = 'y' * 9000 %}{% endfor %}",
            "built more than 200,000 characters of strings")


def test_output_and_printed_values_are_bounded():
    refused("{% for i in range(100) %}{{ 'z' * 1000 }}{% endfor %}", "output exceeded 50,000 characters")
    big = {"messages": [{"role": "user", "content": "x" * 60_000}], "tools": None}
    refused("{{ messages }}", "an expression printed by the template built a value of more than 50,000", row=big)
    refused("{{ messages[0].content }}", "output exceeded 50,000 characters", row=big)


# -- nesting --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}",
    "{{ " + "[" * 1000 + "]" * 1000 + " }}",
    "{{ " + "not " * 1000 + "1 }}",
    "{{ " + "f(" * 1000 + ")" * 1000 + " }}",
    "{{ 1" + " + 1" * 1000 + " }}",  # parsed in a loop, nested in the tree
    "{{ 1" + " + 1" * 250 + " }}",  # Python's parser: too many nested parentheses in the compiled code
    "{{ messages" + ".a" * 300 + " }}",
    "{{ 1" + "|string" * 1000 + " }}",
    "{% if 1 %}" * 120 + "{% endif %}" * 120,  # Python: too many levels of indentation
    "{% for i in [1] %}" * 300 + "{% endfor %}" * 300,
])
def test_deep_nesting_is_a_template_error(source):
    refused_statically(source, "nested too deeply")


def test_deeply_nested_data_is_a_template_error():
    deep: list = []
    for _ in range(20_000):
        deep = [deep]
    for source in ("{{ messages }}", "{{ messages|length }}", "{{ messages|tojson }}"):
        template = compile_template(source, "deep")[1]
        with pytest.raises(TemplateError, match="recursion too deep"):
            render(template, "deep", {"messages": deep}, SMALL)


def test_many_concatenations_compile_in_linear_time():
    # the ~ rewrite used to walk the whole tree once per ~: a 30 KB template took 20 s to compile
    source = "{{ 'a' ~ 'b' }}" * 2000 + "{% for c in 'x' ~ 'y' %}{{ c ~ loop.index ~ ('p' ~ 'q')|upper }}{% endfor %}"
    assert JinjaTemplate(source).render_text(ROW)[0] == "ab" * 2000 + "x1PQy2PQ"


# -- escapes --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, match", [
    ("{{ ''.__class__ }}", "attribute '__class__' is not allowed"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "is not allowed"),
    ("{{ cycler.__init__.__globals__ }}", "attribute '__(init|globals)__' is not allowed"),
    ("{{ joiner.__init__.__globals__['os'] }}", "is not allowed"),
    ("{{ namespace.__init__ }}", "is not allowed"),
    ("{{ self._TemplateReference__context }}", "attribute '_TemplateReference__context' is not allowed"),
    ("{{ messages['__class__'] }}", "item '__class__' is not allowed"),
    ("{{ raise_exception.__globals__ }}", "is not allowed"),
    ("{{ __builtins__ }}", "the name '__builtins__' is not allowed"),
    ("{% include 'x' %}", r"\{% include %\} is not allowed \(a chat template is one self-contained file\)"),
    ("{% import 'x' as m %}", r"\{% import %\} is not allowed"),
    ("{% from 'x' import m %}", r"\{% from ... import %\} is not allowed"),
    ("{% extends 'x' %}", r"\{% extends %\} is not allowed"),
    ("ok\n{% if true %}{% include 'other.jinja' %}{% endif %}", "line 2"),
])
def test_escapes_are_refused_before_anything_runs(source, match):
    refused_statically(source, match)


@pytest.mark.parametrize("source", [
    "{{ messages|attr('__class__') }}",
    "{{ self['_' ~ 'TemplateReference__context'] }}",
    "{{ messages['__cla' ~ 'ss__'] }}",
    "{{ (cycler|attr('__in' ~ 'it__'))|attr('__glo' ~ 'bals__') }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0[__class__]}'.format('') }}",
    "{{ '{a.__class__}'.format_map({'a': ''}) }}",
    "{{ messages|map(attribute='__class__')|list }}",
    "{{ messages|selectattr('__class__')|list }}",
    "{{ messages|sort(attribute='__class__') }}",
    "{{ messages|join(attribute='__class__') }}",
    "{{ messages|sum(attribute='__class__') }}",
    "{{ messages|groupby('__class__') }}",
    "{{ messages|map('attr', '__class__')|list }}",
    "{% set x = [] %}{{ x.append(1) }}",
    "{{ messages[0].update(role='system') }}",
    "{% set ns = namespace() %}{% set ns._secret = 1 %}",
    "{{ namespace(_secret=1) }}",
])
def test_dynamic_escapes_are_stopped_at_runtime(source):
    refused(source, "unsafe|underscore")


def test_an_escape_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    static = "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
    refused_statically(static, "not allowed")
    dynamic = ("{{ ((cycler|attr('__in' ~ 'it__'))|attr('__glo' ~ 'bals__'))['os'].popen('touch "
               + str(marker) + "').read() }}")
    refused(dynamic, "unsafe")
    assert not marker.exists()


# -- every failure is a TemplateError -----------------------------------------------------------------------------

@pytest.mark.parametrize("source, match", [
    ("{{ 'a'|truncate(5, end='x' * 100) }}", "AssertionError"),  # jinja asserts length >= len(end)
    ("{{ 1 // 0 }}", "ZeroDivisionError"),
    ("{{ messages|dictsort }}", "AttributeError"),
    ("{{ '{' .format(1) }}", "ValueError"),
    ("{{ '%d' % 'x' }}", "TypeError"),
    ("{{ lipsum(1, min=10, max=5) }}", "ValueError"),
    ("{{ strftime_now(1) }}", "TypeError"),
    ("{{ nothing.at_all }}", "undefined"),
    ("{{ raise_exception('no system role') }}", "refused the conversation: no system role"),
])
def test_template_failures_are_template_errors(source, match):
    refused(source, match)


# -- what still works -------------------------------------------------------------------------------------------

DATA = {
    "messages": [{"role": "system", "content": "Be brief.", "n": 3},
                 {"role": "user", "content": "Hi there", "n": 1},
                 {"role": "assistant", "content": "Hello!", "n": 2}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"city": "str"}}}],
    "settings": {"b": 2, "a": 1, "c": 3},
}


@pytest.mark.parametrize("source", [
    # filters that take the environment or the context (pass_environment / pass_context / pass_eval_context)
    "{{ messages|map(attribute='role')|join(', ') }}",
    "{{ messages|map(attribute='content')|map('upper')|list }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|first }}",
    "{{ messages|rejectattr('role', 'in', ['system'])|list|length }}",
    "{{ messages|select('defined')|list|length }}",
    "{{ settings|dictsort }}|{{ settings|dictsort(by='value', reverse=true) }}",
    "{{ messages|join(' / ', attribute='role') }}",
    "{{ messages|sum(attribute='n') }}|{{ messages|sum(attribute='n', start=10) }}",
    "{{ [[1, 2], [3]]|sum(start=[]) }}|{{ [(1,), (2,)]|sum(start=()) }}",
    "{% for role, group in messages|groupby('role') %}{{ role }}={{ group|length }};{% endfor %}",
    "{{ messages|sort(attribute='n')|map(attribute='role')|join }}",
    "{{ messages|unique(attribute='role')|list|length }}|{{ messages|max(attribute='n') }}",
    "{{ messages|map(attribute='n')|min }}|{{ messages|batch(2)|list|length }}|{{ messages|slice(2)|list|length }}",
    "{{ settings|items|list }}|{{ settings|xmlattr }}|{{ tools|tojson }}|{{ tools|tojson(indent=2) }}",
    "{{ messages[0].content|indent(2, first=true) }}|{{ 'ab'|center(8) }}|{{ 'a b c d'|wordwrap(3) }}",
    "{{ 'Hello World'|truncate(9, leeway=0) }}|{{ 'a-b-a'|replace('a', 'x', 1) }}|{{ '%s=%d'|format('n', 3) }}",
    "{{ nothing|default('dflt') }}|{{ 'x'|list }}|{{ 3|string ~ 4 }}|{{ -3|abs }}|{{ 2.567|round(1) }}",
    # globals, statements and operators chat templates use
    "{% set ns = namespace(found=false, n=0) %}{% for m in messages %}{% if m.role == 'user' %}"
    "{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.found }} {{ ns.n }}",
    "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ loop.cycle('a', 'b') }}"
    "{% if loop.last %}!{% endif %}{% if m.role == 'user' %}{% continue %}{% endif %}-{% endfor %}",
    "{% set c = cycler('x', 'y') %}{% set j = joiner('|') %}{% for m in messages %}{{ j() }}{{ c.next() }}"
    "{% endfor %}",
    "{% macro say(m, suffix='.') %}{{ m.role }}: {{ m.content }}{{ suffix }}{% endmacro %}"
    "{% for m in messages %}{{ say(m) }}{% endfor %}",
    "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}"
    "{% set block %}a{{ 1 + 1 }}b{% endset %}{{ block }}{% filter upper %}up{% endfilter %}",
    "{{ '<|im_start|>' + messages[1].role + '\\n' + messages[1].content | trim + '<|im_end|>' }}",
    "{{ 'a' ~ 1 ~ none ~ true }}|{{ '%s and %s' % ('x', 'y') }}|{{ '{}: {name}'.format(1, name='n') }}",
    "{{ dict(a=1, b=[2]) }}|{{ dict.fromkeys(['k'], 0) }}|{{ range(3)|list }}|{{ (1, 2) * 2 }}|{{ [0] * 3 }}",
    "{{ 'x' * 3 }}|{{ 2 ** 10 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ messages|length > 2 }}|{{ 'a,b'.split(',') }}",
    "{{ messages[-1]['content'][:3] }}|{{ messages[::-1]|map(attribute='n')|list }}|{{ settings.get('z', 0) }}",
    "{{ settings.keys()|list }}|{{ settings.values()|list }}|{{ settings.items()|list }}",
    "{{ messages is sequence }}|{{ 'x' is string }}|{{ tools[0].function.name is defined }}",
])
def test_legitimate_templates_render_like_plain_jinja(source):
    ours = render(compile_template(source, "legit")[1], "legit", dict(DATA))[0]
    assert ours == transformers_template(source).render(**DATA)


def test_generation_spans_survive_the_block_limit():
    source = ("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
              "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}")
    template = JinjaTemplate(source)
    assert template.render_text(ROW) == ("HiHello!", [(2, 8)])


OFFICIAL = sorted((SHARED / "chat_templates").glob("*.jinja")) if (SHARED / "chat_templates").is_dir() else []


@pytest.mark.shared
@pytest.mark.parametrize("path", OFFICIAL or [None], ids=[p.stem for p in OFFICIAL] or ["absent"])
def test_official_chat_templates_render_like_transformers(shared_dir, tiny_tokenizer, path):
    """Every official template renders each battery conversation (tools included) exactly like transformers,
    and refuses exactly the conversations transformers refuses (e.g. a system turn, tool roles)."""
    if path is None:
        pytest.skip(f"{shared_dir / 'chat_templates'} is absent")
    source = path.read_text(encoding="utf-8")
    special = json.loads((path.parent / "special_tokens.json").read_text(encoding="utf-8")).get(path.stem, {})
    tokens = SpecialTokens(bos_token=special.get("bos_token"), eos_token=special.get("eos_token"))
    kwargs = {"bos_token": special.get("bos_token") or "", "eos_token": special.get("eos_token") or "",
              "date_string": "26 Jul 2024"}
    template = JinjaTemplate(source, name=path.stem)
    rendered = 0
    for case in battery():
        row = case.row()
        for prompt in (False, True):
            try:
                expected = tiny_tokenizer.apply_chat_template(
                    hf_messages(row), tools=hf_tools(row), chat_template=source, tokenize=False,
                    add_generation_prompt=prompt, **kwargs)
            except Exception:  # noqa: BLE001  (raise_exception(...) or the template failing on this row)
                expected = None
            options = RenderOptions(add_generation_prompt=prompt, extra={"date_string": "26 Jul 2024"})
            if expected is None:
                with pytest.raises(TemplateError, match=path.stem):
                    template.render_text(row, tokens, options)
                continue
            assert template.render_text(row, tokens, options)[0] == expected, (case.name, prompt)
            rendered += 1
    if path.stem == "command-r-rag":  # needs documents, which conversations do not carry: render it directly
        documents = [{"title": "Tall penguins", "text": "Emperor penguins are the tallest."}]
        messages = hf_messages(battery(names=["single_turn"])[0].row())
        expected = tiny_tokenizer.apply_chat_template(messages, documents=documents, chat_template=source,
                                                      tokenize=False, **kwargs)
        compiled = compile_template(source, path.stem)[1]
        variables = {"messages": messages, "documents": documents, "tools": None, "add_generation_prompt": False,
                     **kwargs}
        assert render(compiled, path.stem, variables)[0] == expected
        rendered += 1
    assert rendered > 0


# -- random expressions: the same as plain Jinja, or a TemplateError ---------------------------------------------

_TEXT = st.text(alphabet="ab %{}0\n\t-", max_size=8).map(repr)
_NUMBER = st.integers(-3, 40).map(str)
_ANYTHING = st.one_of(_TEXT, _NUMBER)
#: filters / methods without arguments, and the ones taking one number (widths, counts)
_UNARY = ["|upper", "|trim", "|title", "|reverse", "|string", "|length", "|list|join", "|list|unique|join",
          "|tojson", "|wordcount", ".upper()", ".strip()", ".split()|join(',')", ".splitlines()|join('/')",
          ".count('a')", ".format_map({})", ".format(1, 'x')", "|format(1, 'x')"]
_SIZED = ["|indent({})", "|center({})", "|truncate({}, leeway=0)", "|wordwrap({})", ".center({})", ".ljust({}, '*')",
          ".zfill({})", ".expandtabs({})", "|batch({})|map('join')|join('|')", "|list|slice({})|map('join')|join"]


def _extend(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Expressions over strings and small numbers that can grow (repetition, replace, widths, joins)."""
    return st.one_of(
        st.tuples(text, st.sampled_from(["+", "~", "%"]), _ANYTHING | text).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(text, _NUMBER).map(lambda t: f"({t[0]} * {t[1]})"),
        st.tuples(_NUMBER, text).map(lambda t: f"({t[0]} * {t[1]} ~ {t[0]})"),
        st.tuples(text, _ANYTHING, text).map(lambda t: f"({t[0]} ~ {t[1]} ~ {t[2]})"),
        st.tuples(text, st.sampled_from(_UNARY)).map(lambda t: f"({t[0]}){t[1]}"),
        st.tuples(text, st.sampled_from(_SIZED), _NUMBER).map(lambda t: f"({t[0]}){t[1].format(t[2])}"),
        st.tuples(text, _TEXT, _TEXT).map(lambda t: f"({t[0]})|replace({t[1]}, {t[2]})"),
        st.tuples(text, _TEXT, _TEXT).map(lambda t: f"({t[0]}).replace({t[1]}, {t[2]})"),
        st.tuples(text, _TEXT).map(lambda t: f"({t[1]}).join(({t[0]})|list)"),
        st.tuples(text, _TEXT, text).map(lambda t: f"[{t[0]}, {t[2]}]|join({t[1]})"),
        st.tuples(text, _ANYTHING, _ANYTHING).map(lambda t: f"({t[0]}).format({t[1]}, {t[2]})"),
        st.tuples(text, _ANYTHING).map(lambda t: f"({t[0]}) % ({t[1]},)"),
    )


EXPRESSIONS = st.recursive(_TEXT, _extend, max_leaves=6)
#: so large that nothing these expressions build reaches them: our render must equal plain Jinja's
GENEROUS = Limits(max_output_chars=10**9, max_value_chars=10**9, max_built_chars=10**10)
#: so small that many expressions reach them: our render must then stop with a TemplateError
TINY = Limits(max_steps=2_000, max_output_chars=400, max_value_chars=200, max_built_chars=2_000)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(expression=EXPRESSIONS)
def test_random_expressions_render_like_plain_jinja_or_raise_a_template_error(expression):
    source = "{{ " + expression + " }}"
    try:
        expected: str | None = transformers_template(source).render()
    except Exception:  # noqa: BLE001  (whatever plain Jinja raises, ours must be a TemplateError)
        expected = None
    try:
        ours: str | None = JinjaTemplate(source, limits=GENEROUS).render_text({"messages": []})[0]
    except TemplateError:
        ours = None
    assert ours == expected, source  # same text, or both refuse (ours with a TemplateError, nothing else)
    try:
        small = JinjaTemplate(source, limits=TINY).render_text({"messages": []})[0]
    except TemplateError:
        return  # stopped by a limit (or refused like plain Jinja)
    assert small == expected, source
    assert len(small) <= TINY.max_output_chars
