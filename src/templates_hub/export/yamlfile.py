"""Training-config YAML: commented sections, readable multi-line strings, a loader check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks (``|``) and never sorts keys."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value and not any(c in value for c in "\r\t") and not value.endswith((" ", "\n\n")) \
            and not any(line != line.rstrip(" ") for line in value.split("\n")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_sections(sections: Mapping[str, Mapping[str, Any]], header: str = "") -> str:
    """YAML text of ``{section title: {key: value}}``, each section under a ``### title`` comment.

    Empty sections are left out. The result parses back (``yaml.safe_load``) to the flat union of the
    sections, which is what LLaMA-Factory, TRL and axolotl read.
    """
    parts: list[str] = []
    if header:
        parts.append("".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()))
    for title, values in sections.items():
        if not values:
            continue
        body = yaml.dump(dict(values), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                         width=120)
        parts.append(f"### {title}\n{body}")
    return "\n".join(parts)


def flatten(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The flat ``{key: value}`` the sections parse to (later sections win on a repeated key)."""
    flat: dict[str, Any] = {}
    for values in sections.values():
        flat.update(values)
    return flat
