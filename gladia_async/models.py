"""Every model of Gladia's API spec: attrs classes and open string enums.

Generated from the OpenAPI spec by ``tools/generate_models.py``; ``SPEC_SCHEMAS`` maps each spec
schema name to its class.
"""

from ._schema.models import *  # noqa: F403
from ._schema.models import SPEC_SCHEMAS as SPEC_SCHEMAS
