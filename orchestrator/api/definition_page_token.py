"""Opaque ListWorkflowDefinitions page tokens: the name of the last definition returned.

Format: urlsafe base64 of "after:workflowDefinitions/{id}". A token is accepted only when
it is exactly that: at most MAX_DEFINITION_PAGE_TOKEN_LENGTH characters, valid base64,
the prefix, and a well-formed definition name.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final, NoReturn

from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.names import DEFINITION_NAME_PATTERN

MAX_DEFINITION_PAGE_TOKEN_LENGTH: Final = 128
_PREFIX: Final = "after:"
_NAME: Final = DEFINITION_NAME_PATTERN


def encode_definition_token(name: str) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{name}".encode()).decode()


def decode_definition_token(token: str) -> str:
    """The definition name the page starts after; "" for the first page."""
    if not token:
        return ""
    if len(token) > MAX_DEFINITION_PAGE_TOKEN_LENGTH:
        _fail(f"at most {MAX_DEFINITION_PAGE_TOKEN_LENGTH} characters")
    try:
        text = base64.b64decode(token, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        _fail("not a token this API issued")
    name = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not _NAME.fullmatch(name):
        _fail("not a token this API issued")
    return name


def _fail(description: str) -> NoReturn:
    raise InvalidArgument(
        f"page_token is not valid: {description}",
        violations=[FieldViolation("page_token", description)],
    )
