"""Built-in exporters, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_exporters(register):
    """Register the LLaMA-Factory, TRL and axolotl exporters."""
    from .axolotl import AxolotlExporter
    from .llamafactory import LlamaFactoryExporter
    from .trl import TRLExporter

    for exporter in (LlamaFactoryExporter, TRLExporter, AxolotlExporter):
        register(exporter())
