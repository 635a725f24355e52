"""``templates-hub new-plugin NAME``: write a ready-to-install plugin package that passes its own tests.

The package is what ``plugins/templates-hub-example-templates`` shows, cut to one working component
per requested kind:

- ``template``: a slot template declared in YAML (package data) - ChatML-style, edit the slots;
- ``filter``: a ``Filter`` subclass with one parameter (drops answers shorter than ``min_chars``);
- ``format``: a ``FormatAdapter`` for ``{"prompt": ..., "response": ...}`` records, with a writer;
- ``preprocessor``: a ``SupervisedPreprocessor`` subclass that drops rows longer than ``cutoff_len``
  instead of truncating them.

Every package gets a ``pyproject.toml`` with the ``templates_hub`` entry point, a README and a test
file that loads the plugin through its entry point and runs the conformance kit
(``templates_hub.testing``) on each component, so ``pip install -e DIR && pytest DIR`` passes out of
the box and keeps passing only while the components conform.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from .errors import UsageError

KINDS: tuple[str, ...] = ("template", "filter", "format", "preprocessor")
#: registry kind (``templates-hub list KIND``) of each scaffold kind
REGISTRY_OF = {"template": "templates", "filter": "filters", "format": "formats", "preprocessor": "preprocessors"}
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    """The names derived from ``NAME``: distribution, import package, entry point / component name."""

    name: str  # component and entry-point name: "acme_chat"
    distribution: str  # "templates-hub-acme-chat"
    package: str  # "templates_hub_acme_chat"
    title: str  # "AcmeChat" (class name prefix)

    @classmethod
    def from_name(cls, raw: str) -> PluginNames:
        text = raw.strip().lower()
        for prefix in ("templates-hub-", "templates_hub_"):
            if text.startswith(prefix):
                text = text[len(prefix):]
        if not _NAME.match(text):
            raise UsageError(
                f"plugin name {raw!r}: use lowercase letters, digits, '-' and '_', starting with a letter "
                "(e.g. acme-chat)"
            )
        name = text.replace("-", "_")
        title = "".join(part.capitalize() for part in name.split("_"))
        return cls(name, f"templates-hub-{name.replace('_', '-')}", f"templates_hub_{name}", title)


@dataclass
class ScaffoldResult:
    """Where the package was written and its files (relative to ``path``)."""

    path: Path
    names: PluginNames
    kinds: tuple[str, ...]
    files: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------------
# file templates (string.Template: $name placeholders, so Jinja / YAML braces need no escaping)

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "templates-hub plugin: $summary."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["templates-hub>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# templates-hub finds the plugin through this entry point (group `templates_hub`)
[project.entry-points.templates_hub]
$name = "$package"

[tool.setuptools.packages.find]
where = ["src"]

# template files are package data: they must ship inside the wheel
[tool.setuptools.package-data]
$package = ["templates/*.yaml", "templates/*.jinja"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 110
''')

INIT_HEAD = Template('''\
"""templates-hub plugin `$name`.

$summary_capital.

templates-hub loads this module through the `templates_hub` entry point in pyproject.toml and calls
the hooks below; each hook receives a `register` callback and calls it once per component.
Check it with `templates-hub plugins --check --plugin $name` and `pytest`.
"""

from __future__ import annotations

from importlib import resources

from templates_hub import hookimpl

__version__ = "0.1.0"
''')

HOOK_TEMPLATES = Template('''

@hookimpl
def register_templates(register):
    """The slot template declared in templates/$name.yaml (its `name:` key names it)."""
    register(resources.files(__name__).joinpath("templates", "$name.yaml"))
''')

HOOK_FILTERS = Template('''

@hookimpl
def register_filters(register):
    """Filters are registered as classes: their fields are the recipe parameters."""
    from .filters import ${title}Filter

    register(${title}Filter)
''')

HOOK_FORMATS = Template('''

@hookimpl
def register_formats(register):
    from .formats import ${title}Format

    register(${title}Format)
''')

HOOK_PREPROCESSORS = Template('''

@hookimpl
def register_preprocessors(register):
    """A preprocessor class is its own factory: Cls(template=, tokenizer=, config=, accounting=)."""
    from .preprocessors import ${title}Preprocessor

    register(${title}Preprocessor)
''')

TEMPLATE_YAML = Template('''\
# The `$name` chat template: a slot template (LLaMA-Factory's register_template, as data).
# `{{content}}` is replaced by the message; {token: "<x>"} is one special token; {special: bos_token}
# is the tokenizer's bos (skipped when it has none). Compare with a built-in:
#   templates-hub template show chatml
# Check what it renders:
#   templates-hub render data.jsonl --template $name --tokenizer tiny --ids
name: $name
description: "$name chat format (ChatML-style; edit templates/$name.yaml)"
system: "<|im_start|>system\\n{{content}}<|im_end|>\\n"
user: "<|im_start|>user\\n{{content}}<|im_end|>\\n<|im_start|>assistant\\n"
# the answer is trained, including the token that ends it
assistant: ["{{content}}", {token: "<|im_end|>"}, "\\n"]
observation: "<|im_start|>tool\\n{{content}}<|im_end|>\\n<|im_start|>assistant\\n"
default_system: "You are a helpful assistant."
# the end-of-turn token becomes the tokenizer's eos, so generation stops after each answer
stop_words: ["<|im_end|>"]
replace_eos: true
''')

FILTERS_PY = Template('''\
"""The `$name` filter: drop rows whose last answer is shorter than `min_chars` characters."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from templates_hub.filters.base import CONVERSATION_KINDS, Filter


class ${title}Filter(Filter):
    """Drop rows whose last assistant answer is shorter than min_chars characters."""

    name: ClassVar[str] = "$name"
    kinds: ClassVar[frozenset[str]] = CONVERSATION_KINDS  # sft, preference and kto rows

    min_chars: int = Field(default=2, ge=1, description="Shortest answer kept, in characters.")

    def check(self, row: dict[str, Any]) -> str | None:
        """None keeps the row; a string drops it and is written to the rejects file as the reason."""
        answer = row.get("chosen") or (row.get("messages") or [{}])[-1]
        text = (answer.get("content") or "").strip()
        if answer.get("tool_calls"):
            return None  # a tool call is a complete answer even without text
        if len(text) < self.min_chars:
            return f"answer has {len(text)} characters, fewer than min_chars={self.min_chars}"
        return None
''')

FORMATS_PY = Template('''\
"""The `$name` format: records `{"prompt": ..., "response": ...}` as one-turn conversations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from templates_hub.formats import Converted, Detection, FormatAdapter, RowProblem
from templates_hub.formats.base import message, need_str


class ${title}Format(FormatAdapter):
    """Prompt/response records as one-turn conversations (column names are options)."""

    name = "$name"
    description = "prompt/response records -> one-turn conversations"
    kinds = ("sft",)
    writable = True
    defaults: dict[str, Any] = {"prompt": "prompt", "response": "response"}

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        keys = cls.defaults
        hits = sum(1 for rec in sample if isinstance(rec.get(keys["prompt"]), str)
                   and isinstance(rec.get(keys["response"]), str))
        if not sample or not hits:
            return None
        return Detection(0.9 * hits / len(sample), "sft", {}, "prompt/response columns")

    def convert(self, record: Mapping[str, Any]) -> Converted:
        o = self.options
        prompt = need_str(record.get(o["prompt"]), o["prompt"]) or ""
        response = need_str(record.get(o["response"]), o["response"]) or ""
        # origin maps canonical paths back to the record's columns, so errors point at the user's file
        origin = {"messages[0].content": o["prompt"], "messages[1].content": o["response"]}
        messages = [message("user", prompt), message("assistant", response)]
        return Converted({"messages": messages, "tools": None}, origin)

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The inverse of convert; rows the layout cannot hold raise RowProblem instead of losing data."""
        messages = list(row.get("messages") or [])
        if row.get("tools") or [m.get("role") for m in messages] != ["user", "assistant"]:
            raise RowProblem("messages", "$name holds one user prompt and one answer, without tools",
                             "unrepresentable")
        if any(m.get("tool_calls") or m.get("reasoning") is not None or m.get("train") is not None
               for m in messages):
            raise RowProblem("messages", "$name cannot hold tool calls, reasoning or train flags",
                             "unrepresentable")
        o = self.options
        return {o["prompt"]: messages[0]["content"], o["response"]: messages[1]["content"]}
''')

PREPROCESSORS_PY = Template('''\
"""The `$name` preprocessor: supervised rows, but a row longer than cutoff_len is dropped (with its
reason in the rejects) instead of truncated, so no answer is ever trained half-way."""

from __future__ import annotations

from typing import Any, ClassVar

from templates_hub.preprocess.supervised import SupervisedPreprocessor

UNLIMITED = 1 << 30
Row = tuple[list[int], list[int], int, "str | None"]


class ${title}Preprocessor(SupervisedPreprocessor):
    """SFT rows; rows that do not fit cutoff_len are dropped instead of truncated."""

    name: ClassVar[str] = "$name"
    description: ClassVar[str] = "SFT rows; rows longer than cutoff_len are dropped instead of truncated"

    def check(self) -> None:
        super().check()
        self.limit = self.config.cutoff_len
        self.cutoff_len = UNLIMITED  # encode whole rows; encode_rows decides what does not fit

    def encode_rows(self, batch: dict[str, list[Any]]) -> list[Row]:
        """(input_ids, labels, trained tokens, drop reason) per row, as SupervisedPreprocessor returns."""
        out = []
        for ids, labels, trained, reason in super().encode_rows(batch):
            if reason is None and len(ids) > self.limit:
                reason = f"{len(ids)} tokens do not fit cutoff_len={self.limit} (dropped, not truncated)"
            out.append((ids, labels, trained, reason))
        return out
''')

TEST_HEAD = Template('''\
"""Tests of the `$name` plugin: loaded through its entry point, checked with the conformance kit.

`templates_hub_plugin` and `templates_hub_tokenizer_dir` are fixtures of templates-hub's pytest plugin
(installed with templates-hub). Run: pip install -e . && pytest
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("$package")

from click.testing import CliRunner  # noqa: E402
from templates_hub.cli import main  # noqa: E402
from templates_hub.testing import check_plugin  # noqa: E402


@pytest.fixture
def plugin(templates_hub_plugin):
    """Load this plugin for one test (templates-hub's tests never load entry points implicitly)."""
    return templates_hub_plugin("$name")


def test_every_component_conforms(plugin):
    reports = check_plugin(plugin)
    failures = [line for report in reports for line in report.messages()]
    assert not failures, "\\n".join(failures)
    kinds = {report.kind for report in reports}
    assert kinds >= $kinds, kinds


def test_listed_with_the_plugin_name(plugin):
    for kind in $registries:
        result = CliRunner().invoke(main, ["list", kind, "--json"])
        assert result.exit_code == 0, result.output
        rows = {row["name"]: row for row in json.loads(result.stdout)}
        assert rows["$name"]["plugin"] == "$name"
''')

TEST_TEMPLATE = Template('''

def test_template(plugin, tmp_path, templates_hub_tokenizer_dir):
    from templates_hub.testing import check_template

    check_template("$name").raise_for_failures()
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                             {"role": "assistant", "content": "Hello!"}]}) + "\\n")
    result = CliRunner().invoke(main, ["render", str(data), "--template", "$name",
                                       "--tokenizer", str(templates_hub_tokenizer_dir), "--json"])
    assert result.exit_code == 0, result.output
    sample = json.loads(result.stdout.strip().splitlines()[-1])["samples"][0]
    trained = "".join(piece["text"] for piece in sample["pieces"] if piece["trainable"])
    assert trained.startswith("Hello!")
''')

TEST_FILTER = Template('''

def _chat(answer):
    messages = [{"role": "user", "content": "Say something."}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def test_filter(plugin):
    from templates_hub.testing import check_filter

    report = check_filter("$name", params={"min_chars": 3},
                          keep=[_chat("Hello there.")], drop=[_chat("Hi")])
    report.raise_for_failures()
''')

TEST_FORMAT = Template('''

def test_format(plugin):
    from templates_hub.testing import check_format

    samples = [{"prompt": "What is 2 + 2?", "response": "4."},
               {"prompt": "Name a colour.", "response": "Blue."}]
    check_format("$name", samples=samples).raise_for_failures()
''')

TEST_PREPROCESSOR = Template('''

def test_preprocessor(plugin):
    from templates_hub.testing import check_preprocessor

    check_preprocessor("$name", template="chatml").raise_for_failures()
''')

README = Template('''\
# $distribution

A templates-hub plugin: $summary.

| component | registered as | file |
|---|---|---|
$table

## Install and check

```bash
pip install -e .              # registers the `templates_hub` entry point
templates-hub plugins         # lists `$name` with what it registered
templates-hub plugins --check --plugin $name   # the conformance kit, on every component
pytest                        # the same checks, plus your own tests
```

## Use

$usage

## Develop

Edit the files above; `pytest` loads the plugin through its entry point (fixture `templates_hub_plugin`)
and runs `templates_hub.testing.check_plugin`, which renders the built-in conversation battery,
tokenizes it with a small offline tokenizer and checks what training relies on (prefix stability,
trained answers and end-of-turn tokens, picklability, batch contracts, cutoff_len, ...). Every failure
names the component, the check and the case.
''')

_USAGE = {
    "template": "- template: `templates-hub render data.jsonl --template $name --tokenizer DIR`, or `template: $name` "
                "in a recipe",
    "filter": "- filter: in a recipe, `filters: [{name: $name, min_chars: 3}]`",
    "format": "- format: `templates-hub validate data.jsonl --format $name`, or `data: {format: $name}` in a recipe",
    "preprocessor": "- preprocessor: in a recipe, `preprocess: {preprocessor: $name, cutoff_len: 2048}`",
}
_FILES = {"template": "src/$package/templates/$name.yaml", "filter": "src/$package/filters.py",
          "format": "src/$package/formats.py", "preprocessor": "src/$package/preprocessors.py"}
_SUMMARY = {"template": "a chat template", "filter": "a filter", "format": "a format adapter",
            "preprocessor": "a preprocessor"}


def _check_free(names: PluginNames, kinds: tuple[str, ...]) -> None:
    """Refuse names already taken: the plugin would conflict with a built-in or an installed plugin."""
    from .plugins import get_registry, plugin_names

    if names.name in plugin_names(include_defaults=True):
        raise UsageError(f"a plugin named {names.name!r} is already installed; pick another NAME")
    for kind in kinds:
        registry = get_registry(REGISTRY_OF[kind])
        if names.name in registry.entries:
            owner = registry.entries[names.name].plugin
            raise UsageError(f"{kind} {names.name!r} is already registered by plugin {owner!r}; pick another NAME "
                             "(replacing it would need override=True)")


def create_plugin(name: str, *, kinds: tuple[str, ...] | list[str] = ("template",),
                  out_dir: str | os.PathLike[str] = ".") -> ScaffoldResult:
    """Write the plugin package ``templates-hub-NAME`` into ``out_dir`` and return what was written.

    ``kinds``: any of ``template``, ``filter``, ``format``, ``preprocessor`` (one component each, all
    named NAME). Raises ``UsageError`` for a bad or taken name, an unknown kind, or an existing,
    non-empty target directory.
    """
    chosen = tuple(dict.fromkeys(kinds)) or ("template",)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise UsageError(f"unknown plugin component kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    names = PluginNames.from_name(name)
    _check_free(names, chosen)
    root = Path(out_dir) / names.distribution
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} already exists and is not empty; choose another --out or NAME")
    parts = [_SUMMARY[k] for k in chosen]
    summary = (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + f" named `{names.name}`"
    values = {"summary_capital": summary[:1].upper() + summary[1:], "name": names.name, "distribution": names.distribution, "package": names.package,
              "title": names.title, "summary": summary,
              "kinds": "{" + ", ".join(repr(k) for k in sorted({"plugin", *chosen})) + "}", "registries": repr([REGISTRY_OF[k] for k in chosen])}
    files: dict[str, str] = {
        "pyproject.toml": PYPROJECT.substitute(values),
        f"src/{names.package}/__init__.py": INIT_HEAD.substitute(values) + "".join(
            {"template": HOOK_TEMPLATES, "filter": HOOK_FILTERS, "format": HOOK_FORMATS,
             "preprocessor": HOOK_PREPROCESSORS}[k].substitute(values) for k in chosen),
    }
    sources = {"template": TEMPLATE_YAML, "filter": FILTERS_PY, "format": FORMATS_PY, "preprocessor": PREPROCESSORS_PY}
    for kind in chosen:
        files[Template(_FILES[kind]).substitute(values)] = sources[kind].substitute(values)
    tests = {"template": TEST_TEMPLATE, "filter": TEST_FILTER, "format": TEST_FORMAT, "preprocessor": TEST_PREPROCESSOR}
    files[f"tests/test_{names.package}.py"] = TEST_HEAD.substitute(values) + "".join(
        tests[k].substitute(values) for k in chosen)
    table = "\n".join(f"| {k} | `{names.name}` (`templates-hub list {REGISTRY_OF[k]}`) | "
                      f"`{Template(_FILES[k]).substitute(values)}` |" for k in chosen)
    usage = "\n".join(Template(_USAGE[k]).substitute(values) for k in chosen)
    files["README.md"] = README.substitute(values, table=table, usage=usage)
    if "template" not in chosen:  # no package data: keep the pyproject honest
        files["pyproject.toml"] = files["pyproject.toml"].replace(
            '\n# template files are package data: they must ship inside the wheel\n[tool.setuptools.package-data]\n'
            f'{names.package} = ["templates/*.yaml", "templates/*.jinja"]\n', "")
        files[f"src/{names.package}/__init__.py"] = files[f"src/{names.package}/__init__.py"].replace(
            "from importlib import resources\n\n", "")
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return ScaffoldResult(root, names, chosen, sorted(files))
