"""The models generated from the spec, plain option values, the converter, live messages.

Below the converter sit what it reads off a type (``shapes``), its error reports
(``response_errors``), its deferred fields (``deferred``) and its hand-tuned code for the hot
classes (``fast_paths``); above it, the strict reading of options (``validation``).

The models are built first and cannot import what is built on them, so the two services they
offer that need it are installed when the package is imported: the converter's ``unstructure``
and ``dumps`` for ``to_dict()`` / ``to_json()``, and ``options_from_dict`` for a config object
given as a dict. Importing any module of the package (``gladia_async._schema.models`` included)
runs this first, so a model is never used without them.
"""

from . import converter as converter
from . import validation as validation
