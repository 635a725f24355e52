"""Conformance kit for plugin authors (templates, filters, preprocessors)."""
