"""pytest plugin (``pytest11`` entry point) exposing the conformance kit's fixtures to plugin test suites.

Kept import-light: pytest loads it in every session of an environment where templates-hub is installed.
"""
