"""Does a generated text validate against the JSON schema it was asked to follow?"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable


def check_output(text: str, schema: dict[str, Any]) -> bool | None:
    """Validate generated text against a schema.

    Args:
        text: the model's output (leading/trailing whitespace is ignored).
        schema: the JSON schema it was asked to follow.

    Returns:
        True when the text parses as JSON and validates; False when it does not parse or does not
        validate; None when the schema itself cannot be used for validation (invalid schema,
        unresolvable `$ref`): then the output is not counted either way.
    """
    try:
        instance = json.loads(text)
    except json.JSONDecodeError:
        return False
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = cls(schema, format_checker=None)
        return next(iter(validator.iter_errors(instance)), None) is None
    except (SchemaError, Unresolvable, RecursionError, ValueError, TypeError, re.error):
        # The schema cannot be used (bad schema, unresolvable $ref, bad regex): not the output's
        # fault, so it is not counted.
        return None
