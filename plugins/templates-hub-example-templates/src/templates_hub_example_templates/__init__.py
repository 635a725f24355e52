"""templates-hub plugin: two chat templates and a preprocessor, as a complete example to copy.

- ``acme``: a slot template declared in ``templates/acme.yaml`` (package data, no Python);
- ``acme_jinja``: a Hugging Face chat template file, ``templates/acme_jinja.jinja`` (package data);
- ``final_turn``: a preprocessor that trains only the final assistant answer of each conversation and
  writes per-token loss weights (``final_turn.py``).

Installed, the package is found through its ``templates_hub`` entry point (``pyproject.toml``) and its
components are used by name like built-ins::

    templates-hub list templates                 # acme, acme_jinja (plugin: example_templates)
    templates-hub render data.json --template acme --tokenizer tiny
    # recipe: template: acme / preprocess: {preprocessor: final_turn, params: {history_weight: 0.2}}
"""

from __future__ import annotations

from importlib import resources

from templates_hub import hookimpl

from .final_turn import FinalTurnParams, FinalTurnPreprocessor

__version__ = "0.1.0"
__all__ = ["FinalTurnParams", "FinalTurnPreprocessor", "template_file"]


def template_file(name: str):
    """The path of a template file shipped in this package (``importlib.resources``, so it also works
    from a wheel or a zip)."""
    return resources.files(__name__).joinpath("templates", name)


@hookimpl
def register_templates(register):
    """A YAML slot template (named by its ``name:`` key) and a Jinja file (named here)."""
    register(template_file("acme.yaml"))
    register(template_file("acme_jinja.jinja"), name="acme_jinja")


@hookimpl
def register_preprocessors(register):
    """The preprocessor class is its own factory: ``FinalTurnPreprocessor(template=, tokenizer=, config=)``."""
    register(FinalTurnPreprocessor)
