"""Maximum lengths of the names, ids and texts a request carries, checked before anything
else looks at them, so no lookup, error message or stored event ever holds an unbounded one.

The limits of the run input (size, depth), the filter, page tokens, labels and request_id
live with the code that checks them; the README's "API conventions" lists them all.
"""

from __future__ import annotations

from typing import Final

from orchestrator.errors import FieldViolation, InvalidArgument

#: Run ids, definition ids and step ids: at most 63 characters (AIP-122).
MAX_ID_LENGTH: Final = 63
#: A CancelWorkflowRun reason, recorded in the run's error.
MAX_CANCEL_REASON_LENGTH: Final = 512


def check_length(value: str, field: str, max_length: int) -> None:
    """InvalidArgument on `field` when `value` is longer than `max_length` characters."""
    if len(value) > max_length:
        raise InvalidArgument(
            f"{field} is too long: at most {max_length} characters, got {len(value)}",
            violations=[
                FieldViolation(field, f"at most {max_length} characters, got {len(value)}")
            ],
        )


def check_resource_name(value: str, field: str, prefix: str) -> str:
    """`value` when it is "{prefix}{id}" or a bare id of at most MAX_ID_LENGTH characters."""
    if not value:
        raise InvalidArgument(
            f"{field} is required", violations=[FieldViolation(field, "required")]
        )
    length = len(value.removeprefix(prefix))
    if length > MAX_ID_LENGTH:
        raise InvalidArgument(
            f"{field} is too long: its id has at most {MAX_ID_LENGTH} characters, got {length}",
            violations=[FieldViolation(field, f"the id has at most {MAX_ID_LENGTH} characters")],
        )
    if "/" in value and not value.startswith(prefix):
        raise InvalidArgument(
            f"{field} must look like {prefix}{{id}}",
            violations=[FieldViolation(field, f"must be {prefix}{{id}} or a bare id")],
        )
    return value
