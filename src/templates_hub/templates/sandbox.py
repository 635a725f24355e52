"""A hardened Jinja environment for chat templates, which are untrusted code from files and the Hub.

It renders like transformers' ``apply_chat_template`` (``ImmutableSandboxedEnvironment`` with
``trim_blocks`` / ``lstrip_blocks``, the ``loopcontrols`` extension, a ``{% generation %}`` tag and the
globals ``raise_exception``, ``strftime_now``, ``dict``, ``namespace`` and the ``tojson`` filter with
transformers' semantics) and adds what a batch tool rendering millions of rows needs:

- a **static check** before anything runs: attribute or item access to names starting with ``_``, names
  starting with ``__`` and ``{% include %}`` / ``{% import %}`` / ``{% extends %}`` are rejected, so
  ``{{ ''.__class__.__mro__ }}`` never executes; the compile-time optimizer is off, so nothing in the
  template is evaluated outside the budget below;
- **unsafe attributes raise** (instead of rendering as an empty Undefined);
- a **step budget**: every loop iteration, call, filter, attribute lookup and intercepted operator counts,
  and so does every item of a new list or dict measured, and every 32 items a list ``+`` copies (a loop
  growing a list one item at a time is quadratic work; a 3,500-message conversation collected that way
  stays far below the budget), so a runaway loop stops with an error instead of hanging a worker; a
  wall-clock limit backs it up;
- **size limits**, checked *before* the work where one operation can multiply sizes (``*``, ``%``,
  ``~``, ``replace``, ``join``, ``indent``, ``center``, format widths and repeated format fields,
  ``lipsum``, ...) and on every value built: strings and containers (their printed size: nested items,
  integer digits and dict views included) stay under ``max_value_chars``, all strings built by one render
  under ``max_built_chars``, the output under ``max_output_chars``, and so does the text collected by a
  ``{% set %}`` block, macro, ``caller()`` or ``{% filter %}`` block (``environment.concat``); integers
  stay under ``MAX_INT_BITS``.

Every failure, including Python's own limits on what it can compile (deep nesting), is a ``TemplateError``
that names the template and says what was refused. ``tests/test_sandbox_limits.py`` holds one test per class
of attack.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import string
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.filters
import jinja2.nodes
import jinja2.utils
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import TemplateError

GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
#: internal filters the checked tree calls (names no template can write: filter names are identifiers
#: and the static check refuses names starting with "__" only for variables, so these start with "~")
_LOOP_WRAPPER = "~loop"
_CONCAT = "~concat"
#: integers a template computes stay below this many bits (about 3,000 decimal digits)
MAX_INT_BITS = 10_000
#: ``strftime_now(format)``: longer formats are refused (``%c`` alone writes about 24 characters)
MAX_STRFTIME_FORMAT = 256
#: ``tojson(indent=...)`` above this is refused (the output grows with indent x depth x items)
MAX_JSON_INDENT = 64


@dataclass(frozen=True)
class Limits:
    """What one render may consume. Defaults are far above what real chat templates need."""

    max_steps: int = 5_000_000
    max_output_chars: int = 16_000_000
    max_value_chars: int = 4_000_000
    max_built_chars: int = 128_000_000
    max_seconds: float = 30.0


class BudgetExceeded(Exception):
    """Raised inside a render when a limit is hit (turned into a TemplateError by ``render``)."""


@dataclass
class _State:
    limits: Limits
    deadline: float
    steps: int = 0
    length: int = 0  # characters yielded so far (for {% generation %} spans)
    built: int = 0  # characters of strings built by operators, calls and filters
    spans: list[tuple[int, int]] = field(default_factory=list)
    #: id -> (container, printed size) of containers already measured (kept alive so ids stay unique;
    #: lists and dicts cannot change in the immutable sandbox)
    weights: dict[int, tuple[Any, int]] = field(default_factory=dict)
    #: the same for the last lists / tuples built by ``+`` (their size is known without measuring them); a
    #: few only, so that a list grown one item at a time does not keep every intermediate list alive
    recent: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def tick(self, n: int = 1) -> None:
        before = self.steps
        self.steps += n
        if self.steps > self.limits.max_steps:
            raise BudgetExceeded(f"it ran more than {self.limits.max_steps:,} steps (a runaway loop, or a very "
                                 "long conversation: raise Limits.max_steps)")
        # the clock is read once every 1,024 steps (n may jump over a multiple of 1,024)
        if before >> 10 != self.steps >> 10 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"it ran longer than {self.limits.max_seconds:g} s")


_STATE: ContextVar[_State | None] = ContextVar("templates_hub_jinja_state", default=None)


def _tick(n: int = 1) -> None:
    state = _STATE.get()
    if state is not None:
        state.tick(n)


def _limits() -> Limits:
    state = _STATE.get()
    return state.limits if state is not None else Limits()


# -- sizes ----------------------------------------------------------------------------------------------------

#: ``d.keys()`` / ``d.values()`` / ``d.items()`` print every item like the dict itself
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS = (list, tuple, dict, set, frozenset, jinja2.utils.Namespace, *_DICT_VIEWS)


def _children(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        return (x for pair in value.items() for x in pair)
    if isinstance(value, jinja2.utils.Namespace):
        return _children(object.__getattribute__(value, "_Namespace__attrs"))
    return value


def weight(value: Any, cap: int) -> int:
    """The printed size of ``value``: string lengths, integer digits and one per container item, nested items included.

    Measuring stops as soon as the total passes ``cap`` (so a huge value is cheap to refuse), and the
    size of every list or dict measured is remembered for the rest of the render: templates look at
    ``messages`` often, and lists and dicts cannot change in the immutable sandbox.
    """
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int):
        return _digits(value)
    if not isinstance(value, _CONTAINERS):
        return 0
    state = _STATE.get()
    if state is not None:
        known = state.recent.get(id(value))
        if known is not None:
            return known[1]
    return _measure(value, cap, state.weights if state is not None else None)


def _digits(value: int) -> int:
    """About the decimal digits of ``value`` less one (a list of big integers prints long)."""
    return value.bit_length() * 3 // 10


def _measure(value: Any, cap: int, memo: dict[int, tuple[Any, int]] | None) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 0
    mutable = isinstance(value, jinja2.utils.Namespace)  # namespaces change with {% set ns.x = ... %}
    if memo is not None and not mutable:
        known = memo.get(id(value))
        if known is not None:
            return known[1]
    children = list(_children(value))
    # one step an item: a loop that grows a list or dict by one item at a time (quadratic work) ends on the
    # step budget instead of the clock
    _tick(len(children))
    total = len(children)
    for child in children:
        if total > cap:
            return total  # a partial count: not remembered
        if isinstance(child, (str, bytes)):
            total += len(child)
        elif isinstance(child, int):
            total += _digits(child)
        elif isinstance(child, _CONTAINERS):
            total += _measure(child, cap - total, memo)
    if memo is not None and not mutable and total <= cap:
        memo[id(value)] = (value, total)  # the value is kept alive so that its id is not reused
    return total


#: items a list / tuple concatenation copies per step. Copying an item is far cheaper than a template step,
#: but not free: a list grown one item at a time in a loop (``{% set ns.l = ns.l + [m] %}``) copies n²/2
#: items, so it is charged about n²/64 steps: 3,500 messages cost ~200,000 steps, a runaway loop still stops
#: on the step budget (at ~18,000 items with the default limits) instead of the clock.
_COPIES_PER_STEP = 32
#: how many results of ``+`` on lists / tuples are remembered with their size (``_State.recent``)
_RECENT = 64


def _concat_sequences(state: _State, left: list[Any] | tuple[Any, ...], right: list[Any] | tuple[Any, ...]) -> Any:
    """``left + right`` for two lists or two tuples, sized without measuring the result item by item.

    The printed size of a concatenation is the sum of its operands' (``weight`` counts one per item plus
    the items' own sizes), and an operand built by an earlier ``+`` or seen before is already measured, so
    the loop that grows a list is charged for the copy (``_COPIES_PER_STEP``), not for re-measuring the
    whole list at every iteration.
    """
    state.tick()
    cap = state.limits.max_value_chars
    size = weight(left, cap) + weight(right, cap)
    if size > cap:
        raise BudgetExceeded(f"the '+' operator would build a value of more than {cap:,} characters / items")
    result = left + right
    state.tick(len(result) // _COPIES_PER_STEP)
    state.recent[id(result)] = (result, size)
    if len(state.recent) > _RECENT:
        del state.recent[next(iter(state.recent))]  # the oldest: dicts keep insertion order
    return result


def _check_size(value: Any, what: str, *, cap: int | None = None, charge: bool = True) -> Any:
    """Refuse ``value`` when it is bigger than ``cap`` (default: ``max_value_chars``); count the strings built."""
    state = _STATE.get()
    limits = state.limits if state is not None else Limits()
    limit = limits.max_value_chars if cap is None else cap
    if weight(value, limit) > limit:
        raise BudgetExceeded(f"{what} built a value of more than {limit:,} characters / items")
    if charge and state is not None and isinstance(value, (str, bytes)):
        state.built += len(value)
        if state.built > limits.max_built_chars:
            raise BudgetExceeded(f"it built more than {limits.max_built_chars:,} characters of strings")
    return value


def _expect(size: int, what: str) -> None:
    """Refuse an operation whose result would have ``size`` characters, before it runs."""
    limit = _limits().max_value_chars
    if size > limit:
        raise BudgetExceeded(f"{what} would build a value of {size:,} characters (at most {limit:,})")


def _check_ints(values: Iterable[Any], what: str) -> None:
    limit = _limits().max_value_chars
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
            raise SecurityError(f"{what}: the argument {value:,} is too large (at most {limit:,})")


def _number(digits: str) -> int:
    """A width or precision written in a format (absurdly long ones are just huge, not an int() error)."""
    return int(digits) if len(digits) < 18 else 10**18


_PRINTF = re.compile(r"%(?:\(([^)]*)\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(fmt: Any, operands: Any, what: str) -> None:
    """``fmt % operands``: refuse huge field widths / precisions, and results that would be too big.

    The result is at most the format text, plus every width and precision, plus the operands (positional
    operands are used once; a ``%(name)s`` field prints its value each time it appears, so it is counted
    each time: ``'%(a)s' * 1000 % {'a': text}`` is refused before it is built).
    """
    if not isinstance(fmt, (str, bytes)):
        return
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    cap = _limits().max_output_chars
    total = len(text)
    positional = True
    star = False
    fields = _PRINTF.findall(text)
    _tick(len(fields))  # one step a field: formatting is work in proportion to them
    limit = _limits().max_value_chars
    for key, width, precision in fields:
        if total > limit:
            raise BudgetExceeded(f"{what} would build a value of more than {limit:,} characters")
        for number in (width, precision):
            if number == "*":
                star = True
            elif number:
                _check_ints([_number(number)], what)
                total += _number(number)
        if key:
            positional = False
            # an unknown key (or one with nested parentheses, which the pattern cuts short) counts the whole mapping
            value = operands.get(key, operands) if isinstance(operands, dict) else operands
            total += weight(value, cap)
    stars = operands if isinstance(operands, (tuple, list)) else [operands]
    if star:
        _check_ints(stars, what)
        total += sum(abs(x) for x in stars if isinstance(x, int))
    if positional:
        total += weight(operands, cap)
    _expect(total, what)


def _format_argument(field: str, args: tuple[Any, ...], kwargs: Any, auto: int) -> tuple[Any, int]:
    """The argument a ``str.format`` field refers to (None when there is none) and the next automatic index."""
    first = field.split(".", 1)[0].split("[", 1)[0]
    if not first:
        return (args[auto] if auto < len(args) else None), auto + 1
    if first.isdigit():
        index = int(first) if len(first) < 10 else len(args)
        return (args[index] if index < len(args) else None), auto
    if isinstance(kwargs, dict):
        return kwargs.get(first), auto
    return kwargs, auto  # format_map with a mapping that is not a dict: count all of it


def _check_format_string(fmt: str, args: tuple[Any, ...], kwargs: Any, what: str) -> None:
    """``fmt.format(...)``: refuse nested replacement fields, huge widths and results that would be too big.

    Every field counts its width / precision and the printed size of its argument, so ``'{0}' * 1000``
    formatting a long text is refused before it is built. Specs and argument sizes are looked up once each
    (a format string may hold a million fields).
    """
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error, reported as a template failure
    _tick(len(parsed))  # one step a field: formatting is work in proportion to them
    cap = _limits().max_output_chars
    limit = _limits().max_value_chars
    widths: dict[str, int] = {}
    sizes: dict[str, int] = {}  # field name -> printed size of its argument
    positional = [weight(arg, cap) for arg in args]
    total = 0
    auto = 0
    for literal, reference, spec, _ in parsed:
        if total > limit:
            raise BudgetExceeded(f"{what} would build a value of more than {limit:,} characters")
        total += len(literal)
        if reference is None:
            continue
        if spec:
            if spec not in widths:
                if "{" in spec:
                    raise SecurityError(f"{what}: nested replacement fields in format specs are not supported")
                numbers = [_number(n) for n in re.findall(r"\d+", spec)]
                _check_ints(numbers, what)
                widths[spec] = sum(numbers)
            total += widths[spec]
        if not reference:  # {} takes the next positional argument
            if auto >= len(positional):
                return  # str.format raises IndexError, reported as a template failure
            total += positional[auto]
            auto += 1
            continue
        if reference not in sizes:
            sizes[reference] = weight(_format_argument(reference, args, kwargs, auto)[0], cap)
        total += sizes[reference]
    _expect(total, what)


def _materialize(iterable: Any, what: str) -> list[Any]:
    items = []
    limit = _limits().max_value_chars
    for item in iterable:
        _tick()
        items.append(item)
        if len(items) > limit:
            raise BudgetExceeded(f"{what} read more than {limit:,} items")
    return items


def _expect_join(separator: Any, items: list[Any], what: str) -> None:
    cap = _limits().max_output_chars
    total = max(len(items) - 1, 0) * len(separator)
    for item in items:
        total += weight(item, cap)
        _expect(total, what)


def _expect_replace(text: Any, old: Any, new: Any, count: Any, what: str) -> None:
    if not isinstance(text, (str, bytes)) or not isinstance(old, type(text)) or not isinstance(new, type(text)):
        return
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _expect(len(text) + hits * len(new), what)


# -- filters and callables --------------------------------------------------------------------------------------

#: filters whose integer arguments are sizes (widths, lengths, counts)
_SIZE_ARGUMENT_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice", "filesizeformat"})


def _filter_precheck(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    what = f"the {name!r} filter"
    if name in _SIZE_ARGUMENT_FILTERS:
        _check_ints((*args, *kwargs.values()), what)
    if name == "replace" and len(args) >= 2:
        _expect_replace(str(value), str(args[0]), str(args[1]), args[2] if len(args) > 2 else kwargs.get("count"),
                        what)
    elif name == "format":
        _check_printf(value, args or kwargs, what)
    elif name in ("list", "sort") and isinstance(value, str):
        _expect(2 * len(value), what)  # one string object per character (about 50 bytes each for non-Latin text)
    elif name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _expect(len(value) + (value.count("\n") + 1) * size, what)
    elif name == "wordwrap" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 79)
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n"
        lines = len(value) // max(width, 1) + value.count("\n") + 1 if isinstance(width, int) else len(value)
        _expect(len(value) + lines * len(str(wrap)), what)


def _guard_filter(name: str, func: Any) -> Any:
    """``func`` with the budget: one step, size checks before, the result measured after."""
    offset = 1 if jinja2.utils._PassArg.from_obj(func) is not None else 0

    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context / pass_environment / pass_eval_context)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        cap = _limits().max_output_chars
        for value in (*args[offset:], *kwargs.values()):
            _check_size(value, f"a value given to the {name!r} filter", cap=cap, charge=False)
        if len(args) > offset:
            _filter_precheck(name, args[offset], args[offset + 1:], kwargs)
        return _check_size(func(*args, **kwargs), f"the {name!r} filter")

    return guarded


@jinja2.pass_environment
def _join(environment: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    """Jinja's ``join`` (no autoescape), with the result size known before it is built."""
    if attribute is not None:
        value = map(jinja2.filters.make_attrgetter(environment, attribute), value)
    items = _materialize(value, "the 'join' filter")
    separator = str(d)
    _expect_join(separator, items, "the 'join' filter")
    return separator.join(map(str, items))


@jinja2.pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Jinja's ``sum``; sequences are concatenated in linear time with their size checked."""
    if attribute is not None:
        iterable = map(jinja2.filters.make_attrgetter(environment, attribute), iterable)
    items = _materialize(iterable, "the 'sum' filter")
    if not isinstance(start, (list, tuple)) and not any(isinstance(x, (list, tuple)) for x in items):
        return sum(items, start)
    cap = _limits().max_value_chars
    measured = iterable if isinstance(iterable, (list, tuple)) else items  # a list was measured as an argument
    _expect(weight(start, cap) + weight(measured, cap), "the 'sum' filter")
    out = list(start)
    for item in items:
        out += item
    return type(start)(out) if isinstance(start, tuple) else out


def _method_precheck(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Checks for str / bytes methods that can multiply sizes; returns the (possibly materialized) args."""
    # the sandbox hands out str.format / format_map wrapped (functools.update_wrapper sets __wrapped__)
    if obj is str.maketrans or obj is bytes.maketrans:  # a static method: no string to find below
        raise SecurityError(f"{'str' if obj is str.maketrans else 'bytes'}.maketrans() is not available in templates")
    owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
    if not isinstance(owner, (str, bytes)):
        return args
    name = getattr(obj, "__name__", "")
    what = f"{type(owner).__name__}.{name}()"
    if name == "translate":
        raise SecurityError(f"{what} is not available in templates")
    _check_ints((*args, *kwargs.values()), what)
    if name == "join" and args:
        items = _materialize(args[0], what)
        _expect_join(owner, items, what)
        return (items, *args[1:])
    if name == "replace" and len(args) >= 2:
        _expect_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count"), what)
    elif name == "format" and isinstance(owner, str):
        _check_format_string(owner, args, kwargs, what)
    elif name == "format_map" and isinstance(owner, str):
        _check_format_string(owner, (), args[0] if args else {}, what)
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _expect(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * max(size, 0), what)
    return args


def _check_lipsum(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``lipsum(n, html, min, max)`` writes n paragraphs of up to ``max`` words in a Python loop that counts no
    steps, so its size (about 8 characters a word) is checked first."""
    try:
        bound = inspect.signature(jinja2.utils.generate_lorem_ipsum).bind(*args, **kwargs)
    except TypeError:
        return  # lipsum() raises the same error, reported as a template failure
    bound.apply_defaults()
    paragraphs, words = bound.arguments["n"], bound.arguments["max"]
    if isinstance(paragraphs, int) and isinstance(words, int):
        _expect(max(paragraphs, 0) * max(words, 0) * 8, "lipsum()")


def _block_concat(parts: Iterable[str]) -> str:
    """``environment.concat``: joins the output of ``{% set %}...{% endset %}`` blocks, macros, ``caller()`` and
    ``{% filter %}`` blocks, which collect text outside the output limit; the size is checked first."""
    parts = parts if isinstance(parts, list) else list(parts)
    cap = _limits().max_output_chars  # a block is template output, so it may be as long as the output
    size = sum(map(len, parts))
    if size > cap:
        raise BudgetExceeded(f"a {{% set %}} block, macro or {{% filter %}} block would write {size:,} characters "
                             f"(at most {cap:,})")
    return _check_size("".join(parts), "a block of template output", cap=cap)


def _concat(*parts: Any) -> str:
    """The ``~`` operator: every part printed, with the total size known before it is built."""
    cap = _limits().max_output_chars
    total = 0
    for part in parts:
        total += weight(part, cap)
        _expect(total, "the '~' operator")
    return _check_size("".join(map(str, parts)), "the '~' operator")


def _finalize(value: Any) -> Any:
    """Applied to every ``{{ ... }}`` before it is printed: refuses containers whose text would be huge."""
    if isinstance(value, _CONTAINERS):
        _check_size(value, "an expression printed by the template", cap=_limits().max_output_chars, charge=False)
    return value


class GenerationExtension(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: records the character span of what it renders."""

    tags = {"generation"}

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_record", []), [], [], body).set_lineno(lineno)

    def _record(self, caller: Any) -> str:
        text = caller()
        state = _STATE.get()
        if state is not None:
            state.spans.append((state.length, state.length + len(text)))
        return text


class TemplateNamespace(jinja2.utils.Namespace):
    """``namespace()`` that refuses underscore attributes and oversized values."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # same signature trick as jinja2's Namespace
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name, value in attrs.items():
            TemplateNamespace._check(name, value)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        TemplateNamespace._check(name, value)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name: Any, value: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise SecurityError(f"namespace attribute {name!r} starts with an underscore")
        _check_size(value, f"namespace attribute {name!r}", charge=False)


class _TemplateDict:
    """``dict(...)`` for templates: builds dicts, exposes nothing else."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _strftime_now(fmt: str) -> str:
    if len(fmt) > MAX_STRFTIME_FORMAT:
        raise SecurityError(f"strftime_now(): a format of {len(fmt):,} characters is too long "
                            f"(at most {MAX_STRFTIME_FORMAT})")
    return datetime.now().strftime(fmt)


def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
           sort_keys: bool = False) -> str:
    """transformers' ``tojson``: ``json.dumps`` without HTML escaping, non-ASCII kept."""
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise SecurityError(f"tojson(indent={indent}) is too large (at most {MAX_JSON_INDENT})")
    # a string indent is written once per nesting level on every line, a separator between every item
    if isinstance(indent, str) and len(indent) > MAX_JSON_INDENT:
        raise SecurityError(f"tojson(): an indent string of {len(indent):,} characters is too long "
                            f"(at most {MAX_JSON_INDENT})")
    if isinstance(separators, (tuple, list)) and any(isinstance(x, str) and len(x) > MAX_JSON_INDENT
                                                     for x in separators):
        raise SecurityError(f"tojson(): separators longer than {MAX_JSON_INDENT} characters are not supported")
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _budgeted_range(*args: int) -> Iterator[int]:
    rng = range(*args)
    if len(rng) > 100_000:
        raise SecurityError(f"range of {len(rng):,} items is too big (at most 100,000)")
    for value in rng:
        _tick()
        yield value


def _budgeted_loop(iterable: Any) -> Iterable[Any]:
    """Wraps the iterable of every ``{% for %}``: one step per iteration."""
    if isinstance(iterable, jinja2.Undefined):
        return iterable
    _tick()

    def gen() -> Iterator[Any]:
        for item in iterable:
            _tick()
            yield item

    # keep len() working for loop.length on sized iterables
    if hasattr(iterable, "__len__") and not isinstance(iterable, Iterator):
        return _SizedLoop(iterable, gen)
    return gen()


class _SizedLoop:
    def __init__(self, iterable: Any, gen: Any):
        self._len = len(iterable)
        self._gen = gen

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return self._gen()


def _check_int_result(value: Any, operator: str) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"the {operator!r} operator built an integer of more than {MAX_INT_BITS:,} bits")


class HardenedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox described in the module docstring."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def __init__(self) -> None:
        super().__init__(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[GenerationExtension, jinja2.ext.loopcontrols],
            autoescape=False,
            optimized=False,  # the optimizer would run filters on constants at compile time, outside the budget
            finalize=_finalize,
        )
        self.concat = _block_concat  # type: ignore[assignment]  # the compiled code reads environment.concat
        self.filters["tojson"] = tojson
        self.filters["join"] = _join
        self.filters["sum"] = _sum
        self.filters = {name: _guard_filter(name, func) for name, func in self.filters.items()}
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.globals["dict"] = _TemplateDict()
        self.globals["namespace"] = TemplateNamespace
        self.globals["range"] = _budgeted_range
        # used by the rewritten tree (check_source); filters are called directly, without environment.call
        self.filters[_LOOP_WRAPPER] = _budgeted_loop
        self.filters[_CONCAT] = _concat

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        cap = _limits().max_output_chars
        for value in (*args, *kwargs.values()):
            _check_size(value, "a call argument", cap=cap, charge=False)
        if __obj is __self.globals.get("lipsum"):
            _check_ints((*args, *kwargs.values()), "lipsum()")
            _check_lipsum(args, kwargs)
        args = _method_precheck(__obj, args, kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a call")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        state = _STATE.get()
        if operator == "+" and type(left) is str and type(right) is str and state is not None:
            # the operation chat templates do most ('<|im_start|>' + role + ...): the same checks, inlined
            state.tick()
            size = len(left) + len(right)
            if size > state.limits.max_value_chars:
                raise BudgetExceeded(f"the '+' operator would build a value of {size:,} characters "
                                     f"(at most {state.limits.max_value_chars:,})")
            state.built += size
            if state.built > state.limits.max_built_chars:
                raise BudgetExceeded(f"it built more than {state.limits.max_built_chars:,} characters of strings")
            return left + right
        if operator == "+" and state is not None and type(left) is type(right) and type(left) in (list, tuple):
            return _concat_sequences(state, left, right)
        _tick()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 1000:
                raise SecurityError("exponent too large")
            if ints and right > 0 and left.bit_length() * right > MAX_INT_BITS:
                raise SecurityError("power too large")
        elif operator == "*":
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"product too large (more than {MAX_INT_BITS:,} bits)")
            count = right if isinstance(right, int) else left if isinstance(left, int) else None
            seq = left if isinstance(right, int) else right
            if count is not None and isinstance(seq, (str, bytes, list, tuple)):
                size = weight(seq, _limits().max_value_chars) * max(count, 0)
                if size > _limits().max_value_chars:
                    raise SecurityError("repetition builds a value that is too large")
        elif operator == "%":
            _check_printf(left, right, "the '%' operator")
            _check_size(right, "the '%' operator", cap=_limits().max_output_chars, charge=False)
        result = super().call_binop(context, operator, left, right)
        _check_int_result(result, operator)
        return _check_size(result, f"the {operator!r} operator")


_FORBIDDEN_STATEMENTS = (jinja2.nodes.Include, jinja2.nodes.Import, jinja2.nodes.FromImport, jinja2.nodes.Extends)


def check_source(env: HardenedEnvironment, source: str, name: str) -> jinja2.nodes.Template:
    """Parse ``source`` and refuse what no chat template needs (before anything runs)."""
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}: Jinja syntax error at line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise TemplateError(f"template {name!r}: expressions are nested too deeply") from None
    try:
        _check_tree(ast, name)
    except RecursionError:  # a long chain such as 1 + 1 + ... parses in a loop but nests in the tree
        raise TemplateError(f"template {name!r}: expressions are nested too deeply") from None
    return ast


def _check_tree(ast: jinja2.nodes.Template, name: str) -> None:
    """The static refusals of ``check_source``, then the rewrites the budget needs (in place)."""
    nodes = [ast, *ast.find_all(jinja2.nodes.Node)]
    for node in nodes:
        if not isinstance(node, (jinja2.nodes.Getattr, jinja2.nodes.Getitem, jinja2.nodes.Name,
                                 *_FORBIDDEN_STATEMENTS)):
            continue
        if isinstance(node, _FORBIDDEN_STATEMENTS):
            keyword = type(node).__name__.lower().replace("fromimport", "from ... import")
            raise TemplateError(f"template {name!r} line {node.lineno}: {{% {keyword} %}} is not allowed "
                                "(a chat template is one self-contained file)")
        if isinstance(node, jinja2.nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateError(f"template {name!r} line {node.lineno}: access to attribute {node.attr!r} is not "
                                "allowed (attributes starting with '_' reach Python internals)")
        if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const) \
                and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            raise TemplateError(f"template {name!r} line {node.lineno}: access to item {node.arg.value!r} is not "
                                "allowed (names starting with '_' reach Python internals)")
        if isinstance(node, jinja2.nodes.Name) and node.name.startswith("__"):
            raise TemplateError(f"template {name!r} line {node.lineno}: the name {node.name!r} is not allowed")
    # `a ~ b` becomes _concat(a, b), which knows the size of the result before building it. One pass, children
    # before parents (reversed pre-order), so a Concat's own operands are rewritten before it is replaced.
    for parent in reversed(nodes):
        for field_name, value in parent.iter_fields():
            if isinstance(value, jinja2.nodes.Concat):
                setattr(parent, field_name, _concat_filter(value))
            elif isinstance(value, list):
                value[:] = [_concat_filter(x) if isinstance(x, jinja2.nodes.Concat) else x for x in value]
    for loop in nodes:
        if isinstance(loop, jinja2.nodes.For):
            loop.iter = jinja2.nodes.Filter(loop.iter, _LOOP_WRAPPER, [], [], None, None, lineno=loop.lineno)


def _concat_filter(concat: jinja2.nodes.Concat) -> jinja2.nodes.Filter:
    first, *rest = concat.nodes
    return jinja2.nodes.Filter(first, _CONCAT, rest, [], None, None, lineno=concat.lineno)


def compile_template(source: str, name: str) -> tuple[HardenedEnvironment, jinja2.Template]:
    """A checked, compiled template in a fresh hardened environment."""
    env = HardenedEnvironment()
    ast = check_source(env, source, name)
    try:
        code = env.compile(ast, name=name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}: Jinja syntax error at line {exc.lineno}: {exc.message}") from None
    except (RecursionError, MemoryError, SyntaxError):
        # Python's own compiler limits (too many nested parentheses / blocks) on the generated code
        raise TemplateError(f"template {name!r}: expressions or blocks are nested too deeply") from None
    template = env.template_class.from_code(env, code, env.make_globals(None), None)
    return env, template


def render(template: jinja2.Template, name: str, variables: dict[str, Any],
           limits: Limits = Limits()) -> tuple[str, list[tuple[int, int]]]:
    """Render with the budget; return the text and the ``{% generation %}`` spans (character offsets)."""
    state = _State(limits, time.monotonic() + limits.max_seconds)
    token = _STATE.set(state)
    chunks: list[str] = []
    try:
        for chunk in template.generate(**variables):
            chunks.append(chunk)
            state.length += len(chunk)
            if state.length > limits.max_output_chars:
                raise BudgetExceeded(f"its output exceeded {limits.max_output_chars:,} characters")
    except BudgetExceeded as exc:
        raise TemplateError(f"template {name!r} was stopped: {exc}") from None
    except SecurityError as exc:
        raise TemplateError(f"template {name!r} tried something unsafe and was stopped: {exc}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {name!r}: {exc.message}") from None
    except jinja2.TemplateError as exc:  # raise_exception(...) and other template-raised errors
        raise TemplateError(f"template {name!r} refused the conversation: {exc.message or exc}") from None
    except RecursionError:
        raise TemplateError(f"template {name!r} was stopped: recursion too deep") from None
    except MemoryError:
        raise TemplateError(f"template {name!r} was stopped: it ran out of memory") from None
    except Exception as exc:  # TypeError, ValueError, KeyError, AssertionError (truncate), ...: never a traceback
        raise TemplateError(f"template {name!r} failed: {type(exc).__name__}: {exc}") from None
    finally:
        _STATE.reset(token)
    return "".join(chunks), state.spans
