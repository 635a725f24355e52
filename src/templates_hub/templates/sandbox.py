"""A hardened Jinja environment for chat templates, which are untrusted code from files and the Hub.

It renders like transformers' ``apply_chat_template`` (``ImmutableSandboxedEnvironment`` with
``trim_blocks`` / ``lstrip_blocks``, the ``loopcontrols`` extension, a ``{% generation %}`` tag and the
globals ``raise_exception``, ``strftime_now``, ``dict``, ``namespace`` and the ``tojson`` filter with
transformers' semantics) and adds what a batch tool rendering millions of rows needs:

- a **static check** before anything runs: attribute or item access to names starting with ``_`` and
  names starting with ``__`` are rejected, so ``{{ ''.__class__.__mro__ }}`` never executes;
- **unsafe attributes raise** (instead of rendering as an empty Undefined);
- a **step budget**: every loop iteration, call, attribute lookup and intercepted operator counts, so a
  runaway loop stops with an error instead of hanging a worker; a wall-clock limit backs it up;
- **size limits** on the output and on strings / lists built by ``*``, ``+``, ``**`` and namespaces.

Every failure is a ``TemplateError`` that names the template and says what was refused.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import TemplateError

GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
_LOOP_WRAPPER = "__templates_hub_loop__"


@dataclass(frozen=True)
class Limits:
    """What one render may consume. Defaults are far above what real chat templates need."""

    max_steps: int = 5_000_000
    max_output_chars: int = 16_000_000
    max_value_chars: int = 4_000_000
    max_seconds: float = 30.0


class BudgetExceeded(Exception):
    """Raised inside a render when a limit is hit (turned into a TemplateError by ``render``)."""


@dataclass
class _State:
    limits: Limits
    deadline: float
    steps: int = 0
    length: int = 0  # characters yielded so far (for {% generation %} spans)
    spans: list[tuple[int, int]] = field(default_factory=list)

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.limits.max_steps:
            raise BudgetExceeded(f"it ran more than {self.limits.max_steps:,} steps (a runaway loop?)")
        if self.steps & 1023 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"it ran longer than {self.limits.max_seconds:g} s")


_STATE: ContextVar[_State | None] = ContextVar("templates_hub_jinja_state", default=None)


def _tick(n: int = 1) -> None:
    state = _STATE.get()
    if state is not None:
        state.tick(n)


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, dict)):
        return len(value)
    return 0


def _check_size(value: Any, what: str) -> Any:
    state = _STATE.get()
    limit = state.limits.max_value_chars if state is not None else Limits.max_value_chars
    if _size(value) > limit:
        raise BudgetExceeded(f"{what} built a value of more than {limit:,} items")
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
        _check_size(value, f"namespace attribute {name!r}")


class _TemplateDict:
    """``dict(...)`` for templates: builds dicts, exposes nothing else."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
           sort_keys: bool = False) -> str:
    """transformers' ``tojson``: ``json.dumps`` without HTML escaping, non-ASCII kept."""
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


class HardenedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox described in the module docstring."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def __init__(self) -> None:
        super().__init__(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[GenerationExtension, jinja2.ext.loopcontrols],
            autoescape=False,
        )
        self.filters["tojson"] = tojson
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.globals["dict"] = _TemplateDict()
        self.globals["namespace"] = TemplateNamespace
        self.globals["range"] = _budgeted_range
        self.globals[_LOOP_WRAPPER] = _budgeted_loop

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
        for value in (*args, *kwargs.values()):
            _check_size(value, "a call argument")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 1000:
                raise SecurityError("exponent too large")
            if isinstance(left, (int, float)) and abs(left) > 10**9 and isinstance(right, (int, float)) and right > 30:
                raise SecurityError("power too large")
        if operator == "*":
            count = right if isinstance(right, int) else left if isinstance(left, int) else None
            seq = left if _size(left) else right
            if count is not None and _size(seq) * max(count, 0) > (_STATE.get() or _State(Limits(), 0)).limits.max_value_chars:
                raise SecurityError("repetition builds a value that is too large")
        result = super().call_binop(context, operator, left, right)
        return _check_size(result, f"the {operator!r} operator")


def check_source(env: HardenedEnvironment, source: str, name: str) -> jinja2.nodes.Template:
    """Parse ``source`` and refuse what no chat template needs (before anything runs)."""
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}: Jinja syntax error at line {exc.lineno}: {exc.message}") from None
    for node in ast.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem, jinja2.nodes.Name)):
        if isinstance(node, jinja2.nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateError(f"template {name!r} line {node.lineno}: access to attribute {node.attr!r} is not "
                                "allowed (attributes starting with '_' reach Python internals)")
        if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const) \
                and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            raise TemplateError(f"template {name!r} line {node.lineno}: access to item {node.arg.value!r} is not "
                                "allowed (names starting with '_' reach Python internals)")
        if isinstance(node, jinja2.nodes.Name) and node.name.startswith("__"):
            raise TemplateError(f"template {name!r} line {node.lineno}: the name {node.name!r} is not allowed")
    for loop in ast.find_all(jinja2.nodes.For):
        loop.iter = jinja2.nodes.Call(jinja2.nodes.Name(_LOOP_WRAPPER, "load"), [loop.iter], [], None, None,
                                      lineno=loop.lineno)
    return ast


def compile_template(source: str, name: str) -> tuple[HardenedEnvironment, jinja2.Template]:
    """A checked, compiled template in a fresh hardened environment."""
    env = HardenedEnvironment()
    ast = check_source(env, source, name)
    try:
        code = env.compile(ast, name=name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}: Jinja syntax error at line {exc.lineno}: {exc.message}") from None
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
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError) as exc:
        raise TemplateError(f"template {name!r} failed: {type(exc).__name__}: {exc}") from None
    finally:
        _STATE.reset(token)
    return "".join(chunks), state.spans
