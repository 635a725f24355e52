"""Built-in preprocessors, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_preprocessors(register):
    """Register the built-in preprocessors (each a ``Preprocessor`` subclass: the class is the factory)."""
    from .feedback import KTOPreprocessor
    from .pairwise import PairwisePreprocessor
    from .pretrain import PretrainPreprocessor
    from .supervised import SupervisedPreprocessor
    from .unsupervised import UnsupervisedPreprocessor

    for cls in (SupervisedPreprocessor, PairwisePreprocessor, KTOPreprocessor, PretrainPreprocessor,
                UnsupervisedPreprocessor):
        register(cls, name=cls.name)
